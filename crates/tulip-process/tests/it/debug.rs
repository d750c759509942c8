//! Debug mode: a child dropped while it runs, never waited for, is reported through `log`
//! with the site that spawned it.

use std::panic::Location;

use tulip_process::{Command, Stdio};

fn install() {
    tulip_test_support::logs::capture(tulip_executor::debug::LOG_TARGET);
}

fn reports_near(here: &Location<'_>) -> Vec<(log::Level, String)> {
    tulip_test_support::logs::reports_near(here, 0)
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
