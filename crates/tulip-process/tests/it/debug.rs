//! Debug mode: a child dropped while it runs, never waited for, is reported through `log`
//! with the site that spawned it.

use std::panic::Location;
use std::sync::{Mutex, Once};

use tulip_process::{Command, Stdio};

static RECORDS: Mutex<Vec<(log::Level, String)>> = Mutex::new(Vec::new());

struct Capture;

impl log::Log for Capture {
    fn enabled(&self, m: &log::Metadata<'_>) -> bool {
        m.target() == tulip_executor::debug::LOG_TARGET
    }

    fn log(&self, r: &log::Record<'_>) {
        if self.enabled(r.metadata()) {
            RECORDS
                .lock()
                .unwrap()
                .push((r.level(), r.args().to_string()));
        }
    }

    fn flush(&self) {}
}

fn install() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        log::set_logger(&Capture).expect("no other logger in this test binary");
        log::set_max_level(log::LevelFilter::Warn);
    });
}

/// Records naming the creation site on the line of `here` (taken on the spawning line).
fn reports_near(here: &Location<'_>) -> Vec<(log::Level, String)> {
    let site = format!("(created at {}:{}:", here.file(), here.line());
    RECORDS
        .lock()
        .unwrap()
        .iter()
        .filter(|(_, line)| line.contains(&site))
        .cloned()
        .collect()
}

/// A child that runs until its stdin closes (so dropping it ends it too).
fn reader() -> Command {
    let mut c = Command::new("sh");
    c.arg("-c").arg("read x; exit 0").stdin(Stdio::piped());
    c
}

#[test]
fn a_child_dropped_running_and_unwaited_is_reported_waited_or_killed_ones_are_not() {
    install();
    let rt = tulip_executor::runtime::Builder::new()
        .worker_threads(1)
        .debug(true)
        .build()
        .unwrap();
    let (dropped, waited, killed) = rt.block_on(async {
        let (child, dropped) = (reader().spawn().unwrap(), Location::caller());
        drop(child);

        let (mut child, waited) = (reader().spawn().unwrap(), Location::caller());
        drop(child.stdin.take());
        assert!(child.wait().await.unwrap().success());
        drop(child);

        let mut cmd = reader();
        cmd.kill_on_drop(true);
        let (child, killed) = (cmd.spawn().unwrap(), Location::caller());
        drop(child);
        (dropped, waited, killed)
    });
    drop(rt);
    let reports = reports_near(dropped);
    assert_eq!(reports.len(), 1, "{reports:?}");
    assert_eq!(reports[0].0, log::Level::Warn);
    assert!(
        reports[0].1.starts_with("unclosed child process"),
        "{reports:?}"
    );
    assert!(reports_near(waited).is_empty());
    assert!(reports_near(killed).is_empty());
}
