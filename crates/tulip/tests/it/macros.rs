//! `#[tulip::test]` on real tests: each option runs, a `Result` test's error reaches the
//! harness, and a time limit fails an overrunning test with a message naming it and the limit.
//! (`#[tulip::main]` and the compile errors are tested in tulip-macros' `tests/ui`.)

use std::panic::catch_unwind;
use std::rc::Rc;
use std::sync::{Condvar, Mutex};
use std::time::Duration;

#[tulip::test]
async fn runs_on_the_multi_thread_runtime() {
    let on_worker = tulip::spawn(async { std::thread::current().name().map(str::to_owned) });
    let name = on_worker.await.unwrap().unwrap_or_default();
    assert!(name.starts_with("tulip-worker"), "{name}");
}

#[tulip::test(workers = 3, debug = true)]
async fn workers_sets_the_worker_count() {
    assert_eq!(tulip::Handle::current().num_workers(), 3);
}

#[tulip::test(flavor = "local")]
async fn local_runs_send_less_tasks_on_this_thread() {
    assert!(tulip::Handle::try_current().is_none());
    let here = std::thread::current().id();
    let shared = Rc::new(20);
    let s = shared.clone();
    let t = tulip::spawn_local(async move {
        tulip::sleep(Duration::from_millis(1)).await;
        (*s + 22, std::thread::current().id())
    });
    assert_eq!(t.await.unwrap(), (42, here));
}

#[tulip::test(timeout = "5s")]
async fn result_tests_can_use_the_question_mark() -> Result<(), std::num::ParseIntError> {
    let n: u32 = "42".parse()?;
    tulip::sleep(Duration::from_millis(1)).await;
    assert_eq!(n, 42);
    Ok(())
}

#[tulip::test(flavor = "local", timeout = "5s")]
async fn local_with_a_time_limit() -> Result<(), Box<dyn std::error::Error>> {
    // `Box<dyn Error>` is not `Send`: the result still crosses from the test's own thread.
    let n = tulip::spawn_local(async { Rc::new(7) }).await?;
    assert_eq!(*n, 7);
    Ok(())
}

/// Opened by a checker once it has seen a fixture overrun, so the fixture's thread ends.
static GATE: (Mutex<bool>, Condvar) = (Mutex::new(false), Condvar::new());

fn wait_for_gate() {
    let mut open = GATE.0.lock().unwrap();
    while !*open {
        open = GATE.1.wait(open).unwrap();
    }
}

fn open_gate() {
    *GATE.0.lock().unwrap() = true;
    GATE.1.notify_all();
}

// The fixtures below fail on purpose; the tests after them call them and check how. They are
// `#[ignore]`d so that the harness does not also run them on their own.

#[tulip::test(timeout = "20ms")]
#[ignore = "fixture: fails by design, checked by a_body_blocked_past_its_limit_fails_naming_it"]
async fn fixture_blocks_past_its_limit() {
    // Blocked outside any `.await`: only a limit enforced from another thread catches this.
    wait_for_gate();
}

#[tulip::test(timeout = "1min")]
#[ignore = "fixture: fails by design, checked by errors_reach_the_harness_as_debug_text"]
async fn fixture_returns_an_error() -> Result<(), std::io::Error> {
    tulip::sleep(Duration::from_millis(1)).await;
    Err(std::io::Error::new(
        std::io::ErrorKind::NotFound,
        "no such thing",
    ))
}

#[tulip::test(timeout = "1min", workers = 1)]
#[ignore = "fixture: fails by design, checked by a_panic_keeps_its_payload"]
async fn fixture_panics() {
    let n = tulip::spawn(async { 41 }).await.unwrap();
    panic!("boom at {}", n + 1);
}

#[tulip::test]
#[ignore = "fixture: fails by design, checked by errors_reach_the_harness_as_debug_text"]
async fn fixture_returns_an_error_without_limit() -> Result<(), String> {
    Err("plain".into())
}

fn panic_text(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default()
}

#[test]
fn a_body_blocked_past_its_limit_fails_naming_it() {
    let payload = catch_unwind(fixture_blocks_past_its_limit).unwrap_err();
    open_gate();
    assert_eq!(
        panic_text(&*payload),
        "test `macros::fixture_blocks_past_its_limit` timed out: it ran longer than its limit \
         of 20ms (#[tulip::test(timeout = \"20ms\")]); its thread is left running"
    );
}

#[test]
fn errors_reach_the_harness_as_debug_text() {
    let err = fixture_returns_an_error().unwrap_err();
    let expected = std::io::Error::new(std::io::ErrorKind::NotFound, "no such thing");
    assert_eq!(format!("{err:?}"), format!("{expected:?}"));
    assert_eq!(
        fixture_returns_an_error_without_limit(),
        Err("plain".to_owned())
    );
}

#[test]
fn a_panic_keeps_its_payload() {
    let payload = catch_unwind(fixture_panics).unwrap_err();
    assert_eq!(panic_text(&*payload), "boom at 42");
}
