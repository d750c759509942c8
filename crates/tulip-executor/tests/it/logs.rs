//! A logger that keeps every record, so tests can assert on the runtime's reports.

use std::sync::{Mutex, Once};
use std::time::Duration;

static RECORDS: Mutex<Vec<(log::Level, String)>> = Mutex::new(Vec::new());

struct Capture;

impl log::Log for Capture {
    fn enabled(&self, _: &log::Metadata<'_>) -> bool {
        true
    }

    fn log(&self, record: &log::Record<'_>) {
        let line = record.args().to_string();
        RECORDS.lock().unwrap().push((record.level(), line));
    }

    fn flush(&self) {}
}

/// Installs the capturing logger (once per test binary).
pub(crate) fn install() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        log::set_logger(&Capture).expect("no other logger in this test binary");
        log::set_max_level(log::LevelFilter::Trace);
    });
}

/// Every record so far whose text contains `needle`.
pub(crate) fn records_containing(needle: &str) -> Vec<(log::Level, String)> {
    let records = RECORDS.lock().unwrap();
    records
        .iter()
        .filter(|(_, l)| l.contains(needle))
        .cloned()
        .collect()
}

/// Waits (up to 10 s) for a record containing `needle` and returns its level and text.
pub(crate) fn wait_for_record(needle: &str) -> (log::Level, String) {
    tulip_test_support::wait::until(
        Duration::from_secs(10),
        &format!("a log record containing {needle:?}"),
        || {
            let records = RECORDS.lock().unwrap();
            Ok::<_, String>(records.iter().find(|(_, l)| l.contains(needle)).cloned())
        },
    )
}

#[test]
fn a_slow_poll_is_a_warning_that_names_the_task_and_the_cure() {
    install();
    let rt = tulip_executor::runtime::Builder::new()
        .worker_threads(1)
        .debug(true)
        .slow_poll_threshold(Duration::from_millis(1))
        .build()
        .unwrap();
    rt.block_on(async {
        tulip_executor::task::Builder::new()
            .name("slow-poller")
            .spawn(async {
                // The slow poll IS the thing under test: a task that blocks its worker.
                std::thread::sleep(Duration::from_millis(20));
            })
            .await
            .unwrap();
    });
    let (level, line) = wait_for_record("slow-poller");
    assert_eq!(level, log::Level::Warn);
    assert!(
        line.contains("took") && line.contains("spawn_blocking"),
        "{line}"
    );
}
