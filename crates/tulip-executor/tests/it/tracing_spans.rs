//! Feature `tracing`: a span per task with its id, name and spawn site; reports as events.

use std::panic::Location;

use tulip_executor::task::Builder;
use tulip_test_support::spans;

#[test]
fn every_task_runs_in_a_span_with_id_name_and_spawn_site() {
    spans::install();
    let rt = tulip_executor::runtime::Builder::new()
        .worker_threads(1)
        .build()
        .unwrap();
    let (id, here) = rt.block_on(async {
        let named = Builder::new().name("traced-task");
        let (t, here) = (named.spawn(async { 1 }), Location::caller());
        let id = t.id();
        assert_eq!(t.await.unwrap(), 1);
        (id, here)
    });
    drop(rt);
    let found = spans::spans_where("task", "task.id", &id.as_u64().to_string());
    assert_eq!(found.len(), 1, "{found:?}");
    let span = &found[0];
    assert_eq!(span.target, tulip_executor::TASK_TARGET);
    assert_eq!(span.field("task.name"), Some("traced-task"));
    let site = span.field("spawn.location").unwrap();
    assert!(
        site.starts_with(&format!("{}:{}:", here.file(), here.line())),
        "{site} vs {here}"
    );
    assert!(span.closed, "the span closes when the task is freed");
}

#[test]
fn a_report_is_also_a_tracing_event() {
    spans::install();
    let rt = tulip_executor::runtime::Builder::new()
        .worker_threads(1)
        .build()
        .unwrap();
    rt.handle()
        .call_exception_handler(tulip_executor::debug::ExceptionContext::new(
            tulip_executor::debug::ReportKind::Unclosed,
            "unclosed traced-resource",
        ));
    let ev = spans::events_containing("unclosed traced-resource");
    assert_eq!(ev.len(), 1, "{ev:?}");
    assert_eq!(ev[0].target, "tulip_executor::debug");
    assert_eq!(ev[0].field("kind"), Some("Unclosed"));
}
