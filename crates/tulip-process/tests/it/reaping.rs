//! Waiting and reaping: many children at once, many in a row, no zombies, no lost statuses.

use std::future::Future;
use std::os::unix::process::ExitStatusExt;
use std::pin::Pin;
use std::time::Duration;

use tulip_process::signal::SignalKind;
use tulip_process::{Command, ExitStatus, Stdio};
use tulip_test_support::wait;

use crate::{join_all, run, still_our_children, wait_reaped};

#[test]
fn two_hundred_children_at_once() {
    run(async {
        let mut children: Vec<_> = (0..200)
            .map(|i| {
                let child = Command::shell(format!("sleep 0.0{}; exit {}", i % 5, i % 7))
                    .stdin(Stdio::null())
                    .spawn()
                    .unwrap();
                (i, child)
            })
            .collect();
        type Wait<'a> = Pin<Box<dyn Future<Output = (i32, std::io::Result<ExitStatus>)> + 'a>>;
        let waits: Vec<Wait<'_>> = children
            .iter_mut()
            .map(|(i, child)| {
                let i = *i;
                Box::pin(async move { (i, child.wait().await) }) as Wait<'_>
            })
            .collect();
        for (i, status) in join_all(waits).await {
            assert_eq!(status.unwrap().code(), Some(i % 7), "child {i}");
        }
    });
}

#[test]
fn a_thousand_sequential_spawns_leave_no_zombie() {
    let mut pids = Vec::new();
    run(async {
        for i in 0..1000 {
            match i % 4 {
                // Waited for.
                0 => {
                    let mut child = Command::new("true").spawn().unwrap();
                    pids.push(child.id());
                    assert!(child.wait().await.unwrap().success());
                }
                // Dropped at once, probably still running.
                1 => pids.push(Command::new("true").spawn().unwrap().id()),
                // Dropped while running, killed on drop.
                2 => {
                    let child = Command::new("sleep")
                        .arg("10")
                        .kill_on_drop(true)
                        .spawn()
                        .unwrap();
                    pids.push(child.id());
                }
                // Polled once with try_wait, then dropped.
                _ => {
                    let mut child = Command::new("true").spawn().unwrap();
                    pids.push(child.id());
                    let _ = child.try_wait().unwrap();
                }
            }
        }
    });
    let left = wait_reaped(&pids);
    assert!(left.is_empty(), "unreaped children (pid, state): {left:?}");
}

#[test]
fn an_exit_before_anyone_waits_is_not_lost() {
    let mut child = Command::shell("exit 7").spawn().unwrap();
    // Exited, not reaped: a zombie that holds the status for us.
    // The process table is the only place that state shows, so it is polled.
    let pid = child.id();
    wait::until(
        Duration::from_secs(10),
        "the child becoming a zombie",
        || Ok::<_, String>((still_our_children(&[pid]) == [(pid, 'Z')]).then_some(())),
    );
    assert_eq!(child.try_wait().unwrap().and_then(|s| s.code()), Some(7));
    let status = run(child.wait()).unwrap();
    assert_eq!(status.code(), Some(7));
    assert!(still_our_children(&[child.id()]).is_empty());
}

#[test]
fn kill_terminate_and_send_signal() {
    // (what to send, expected terminating signal)
    type Send = fn(&mut tulip_process::Child) -> std::io::Result<()>;
    let cases: [(Send, i32); 3] = [
        (|c| c.kill(), 9),
        (|c| c.terminate(), 15),
        (|c| c.send_signal(SignalKind::USER1), 10),
    ];
    run(async {
        for (send, sig) in cases {
            let mut child = Command::new("sleep").arg("10").spawn().unwrap();
            assert!(child.try_wait().unwrap().is_none());
            send(&mut child).unwrap();
            assert_eq!(child.wait().await.unwrap().signal(), Some(sig));
            // Reaped: signalling again is a no-op, never a stray kill of a recycled pid.
            child.kill().unwrap();
        }
    });
}

#[test]
fn a_cancelled_wait_loses_nothing() {
    run(async {
        let mut child = Command::new("sleep").arg("10").spawn().unwrap();
        let waited = tulip_reactor::timeout(Duration::from_millis(20), child.wait()).await;
        assert!(waited.is_err(), "sleep 10 cannot have exited");
        child.terminate().unwrap();
        assert_eq!(child.wait().await.unwrap().signal(), Some(15));
        assert_eq!(child.wait().await.unwrap().signal(), Some(15));
    });
}
