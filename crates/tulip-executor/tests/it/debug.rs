//! Debug mode and the exception handler: every report, its message and its creation site.

use std::panic::Location;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tulip_executor::debug::{ExceptionContext, ReportKind, ResourceTracker};
use tulip_executor::task::Builder;
use tulip_executor::{LocalExecutor, runtime};

use crate::logs::{install, records_containing, wait_for_record};

/// "file:line:" of a site.
fn file_line(site: &Location<'_>) -> String {
    format!("{}:{}:", site.file(), site.line())
}

/// Whether `text` names a site in this file at most three lines above `here` (a `Location`
/// taken right after the creating call, which rustfmt may spread over lines).
fn names_site_near(text: &str, here: &Location<'_>) -> bool {
    (here.line().saturating_sub(3)..=here.line())
        .any(|l| text.contains(&format!("{}:{l}:", here.file())))
}

/// A handler that keeps every context it receives.
fn collector() -> (
    Arc<Mutex<Vec<ExceptionContext>>>,
    impl Fn(&ExceptionContext) + Send + Sync + 'static,
) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s = seen.clone();
    (seen, move |ctx: &ExceptionContext| {
        s.lock().unwrap().push(ctx.clone())
    })
}

fn debug_runtime() -> tulip_executor::Runtime {
    runtime::Builder::new()
        .worker_threads(1)
        .debug(true)
        .slow_poll_threshold(Duration::from_millis(1))
        .build()
        .unwrap()
}

#[test]
fn a_slow_poll_on_a_local_executor_is_reported_with_its_spawn_site() {
    install();
    let ex = LocalExecutor::new();
    ex.set_debug(true);
    ex.set_slow_poll_threshold(Duration::from_millis(1));
    let here = ex.block_on(async {
        // The slow poll IS the thing under test: a task that blocks its thread.
        let slow = async { std::thread::sleep(Duration::from_millis(15)) };
        let named = Builder::new().name("local-slow");
        let (t, here) = (named.spawn_local(slow), Location::caller());
        t.await.unwrap();
        here
    });
    let (level, line) = wait_for_record("\"local-slow\"");
    assert_eq!(level, log::Level::Warn);
    assert!(
        line.contains("took") && line.contains("spawn_blocking"),
        "{line}"
    );
    assert!(names_site_near(&line, here), "{line} should name {here}");
}

#[test]
fn a_slow_poll_of_the_main_future_is_reported_on_a_runtime_and_a_local_executor() {
    install();
    let (seen, handler) = collector();
    let rt = debug_runtime();
    rt.handle().set_exception_handler(handler);
    rt.block_on(async {
        std::thread::sleep(Duration::from_millis(15));
    });
    drop(rt);
    let seen = seen.lock().unwrap();
    let slow: Vec<_> = seen
        .iter()
        .filter(|c| c.kind == ReportKind::SlowPoll)
        .collect();
    assert_eq!(slow.len(), 1, "{seen:?}");
    assert_eq!(slow[0].task.as_ref().unwrap().name.as_deref(), Some("main"));
    assert!(slow[0].message.contains("took"), "{:?}", slow[0]);

    let ex = LocalExecutor::new();
    ex.set_debug(true);
    ex.set_slow_poll_threshold(Duration::from_millis(1));
    let (seen, handler) = collector();
    ex.set_exception_handler(handler);
    ex.block_on(async { std::thread::sleep(Duration::from_millis(15)) });
    assert!(
        seen.lock()
            .unwrap()
            .iter()
            .any(|c| c.kind == ReportKind::SlowPoll),
        "{seen:?}"
    );
}

#[test]
fn an_error_nobody_retrieved_is_reported_with_task_error_and_spawn_site() {
    install();
    let (seen, handler) = collector();
    let rt = debug_runtime();
    rt.handle().set_exception_handler(handler);
    let here = rt.block_on(async {
        let (t, here) = (
            Builder::new()
                .name("lost-error")
                .spawn_fallible(async { Err::<(), _>("disk full") }),
            Location::caller(),
        );
        let id = t.id();
        drop(t);
        while tulip_executor::all_tasks().iter().any(|t| t.id == id) {
            tulip_executor::yield_now().await;
        }
        here
    });
    drop(rt);
    let seen = seen.lock().unwrap();
    let ctx = seen
        .iter()
        .find(|c| c.kind == ReportKind::TaskErrorNotRetrieved)
        .unwrap_or_else(|| panic!("no report in {seen:?}"));
    assert_eq!(ctx.error.as_deref(), Some("disk full"));
    assert_eq!(
        ctx.task.as_ref().unwrap().name.as_deref(),
        Some("lost-error")
    );
    assert!(ctx.message.contains("never retrieved"), "{ctx:?}");
    let site = ctx.site.expect("debug mode records the spawn site");
    assert!(names_site_near(&file_line(site), here), "{site} vs {here}");
}

#[test]
fn the_default_handler_logs_an_error_not_retrieved_at_error_level() {
    install();
    let rt = runtime::Builder::new().worker_threads(1).build().unwrap();
    rt.block_on(async {
        let t = Builder::new()
            .name("logged-error")
            .spawn_fallible(async { Err::<(), _>("quota exceeded") });
        // Let it finish first: the report then comes from the detach.
        while !t.is_finished() {
            tulip_executor::yield_now().await;
        }
        t.detach();
    });
    let (level, line) = wait_for_record("\"logged-error\"");
    assert_eq!(level, log::Level::Error);
    assert!(line.contains("never retrieved: quota exceeded"), "{line}");
    // Debug mode off: no site.
    assert!(!line.contains("created at"), "{line}");
}

#[test]
fn an_error_awaited_or_a_success_is_not_reported() {
    install();
    let (seen, handler) = collector();
    let rt = debug_runtime();
    rt.handle().set_exception_handler(handler);
    rt.block_on(async {
        let awaited = Builder::new().spawn_fallible(async { Err::<(), _>("seen") });
        assert_eq!(awaited.await.unwrap(), Err("seen"));
        let fine = Builder::new().spawn_fallible(async { Ok::<_, String>(1) });
        let id = fine.id();
        drop(fine);
        while tulip_executor::all_tasks().iter().any(|t| t.id == id) {
            tulip_executor::yield_now().await;
        }
    });
    drop(rt);
    let seen = seen.lock().unwrap();
    assert!(
        !seen
            .iter()
            .any(|c| c.kind == ReportKind::TaskErrorNotRetrieved),
        "{seen:?}"
    );
}

#[test]
fn a_panic_nobody_awaited_goes_to_the_handler() {
    install();
    let (seen, handler) = collector();
    let rt = debug_runtime();
    rt.handle().set_exception_handler(handler);
    let prev = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let (id, here) = rt.block_on(async {
        let (t, here) = (
            tulip_executor::spawn(async { panic!("kaboom") }),
            Location::caller(),
        );
        let id = t.id();
        drop(t);
        while tulip_executor::all_tasks().iter().any(|t| t.id == id) {
            tulip_executor::yield_now().await;
        }
        (id, here)
    });
    drop(rt);
    std::panic::set_hook(prev);
    let seen = seen.lock().unwrap();
    let ctx = seen
        .iter()
        .find(|c| c.kind == ReportKind::TaskPanicNotRetrieved)
        .unwrap_or_else(|| panic!("no report in {seen:?}"));
    assert_eq!(ctx.task.as_ref().unwrap().id, id);
    assert_eq!(ctx.error.as_deref(), Some("kaboom"));
    assert!(names_site_near(&file_line(ctx.site.unwrap()), here));
}

#[test]
fn a_resource_dropped_unclosed_is_reported_with_its_site_only_in_debug_mode() {
    install();
    let (seen, handler) = collector();
    let rt = debug_runtime();
    rt.handle().set_exception_handler(handler);
    let here = rt.block_on(async {
        let closed = ResourceTracker::new("Closed");
        closed.mark_closed();
        drop(closed);
        let (open, here) = (ResourceTracker::new("Widget"), Location::caller());
        assert!(open.is_open());
        drop(open);
        here
    });
    rt.handle().set_debug(false);
    rt.block_on(async {
        let off = ResourceTracker::new("Untracked");
        assert!(off.site().is_none() && !off.is_open());
    });
    drop(rt);
    let seen = seen.lock().unwrap();
    let unclosed: Vec<_> = seen
        .iter()
        .filter(|c| c.kind == ReportKind::Unclosed)
        .collect();
    assert_eq!(unclosed.len(), 1, "{seen:?}");
    assert_eq!(unclosed[0].message, "unclosed Widget");
    assert_eq!(
        unclosed[0].task.as_ref().unwrap().name.as_deref(),
        Some("main")
    );
    assert!(names_site_near(&file_line(unclosed[0].site.unwrap()), here));
    assert!(unclosed[0].to_string().contains(" (created at "));
}

#[test]
fn a_runtime_dropped_with_tasks_running_names_them_and_its_creation_site() {
    install();
    let (rt, here) = (
        runtime::Builder::new()
            .worker_threads(1)
            .debug(true)
            .build()
            .unwrap(),
        Location::caller(),
    );
    rt.block_on(async {
        Builder::new()
            .name("still-running")
            .spawn(std::future::pending::<()>())
            .detach();
    });
    drop(rt);
    let (level, line) = wait_for_record("\"still-running\"");
    assert_eq!(level, log::Level::Warn);
    assert!(
        line.contains("runtime dropped with 1 pending task(s)"),
        "{line}"
    );
    assert!(
        line.contains("(created at ") && names_site_near(&line, here),
        "{line}"
    );
}

#[test]
fn a_panicking_handler_falls_back_to_the_default() {
    install();
    let rt = runtime::Builder::new().worker_threads(1).build().unwrap();
    rt.handle().set_exception_handler(|_| panic!("handler bug"));
    let prev = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    rt.handle().call_exception_handler(ExceptionContext::new(
        ReportKind::Unclosed,
        "unclosed fallback-check",
    ));
    std::panic::set_hook(prev);
    let (level, line) = wait_for_record("fallback-check");
    assert_eq!(level, log::Level::Warn);
    assert_eq!(line, "unclosed fallback-check");
    assert!(!records_containing("the exception handler panicked").is_empty());
}
