//! Signals sent to this very process: every listener sees them, handlers run, and the
//! default behaviour returns when the last listener goes.
//!
//! Tests in this binary run in parallel and signals are process-wide, so each test owns its
//! signal: SIGUSR1 for streams, SIGWINCH and SIGURG for handlers, SIGUSR2 and SIGINT only in a re-run
//! of this binary in a child process (where dying of them is the point).

use std::os::unix::process::ExitStatusExt;
use std::sync::mpsc;
use std::time::Duration;

use futures_lite::StreamExt;
use tulip_process::signal::{
    SignalKind, add_signal_handler, ctrl_c, raise, remove_signal_handler, signal,
};

use crate::{join_all, run};

/// SIGURG (23 on Linux, 16 on macOS and the BSDs): ignored by default, so a stray one harms
/// nobody.
const SIGURG: SignalKind = SignalKind::from_raw(if cfg!(target_os = "linux") { 23 } else { 16 });

#[test]
fn every_listener_sees_every_signal() {
    let mut streams: Vec<_> = (0..3).map(|_| signal(SignalKind::USER1).unwrap()).collect();
    for round in 0..3 {
        raise(SignalKind::USER1).unwrap();
        let got = run(join_all(
            streams
                .iter_mut()
                .map(|s| {
                    Box::pin(s.next()) as std::pin::Pin<Box<dyn std::future::Future<Output = _>>>
                })
                .collect(),
        ));
        assert_eq!(got, [Some(SignalKind::USER1); 3], "round {round}");
    }
    // A listener added later sees later signals only, and dropping one does not disturb the rest.
    drop(streams.pop());
    let mut late = signal(SignalKind::USER1).unwrap();
    raise(SignalKind::USER1).unwrap();
    for s in streams.iter_mut().chain([&mut late]) {
        assert_eq!(run(s.recv()), Some(SignalKind::USER1));
    }
}

#[test]
fn handlers_run_per_delivery_and_stop_when_removed() {
    let (tx, rx) = mpsc::channel();
    let tx2 = tx.clone();
    let a = add_signal_handler(SignalKind::WINDOW_CHANGE, move |s| {
        tx.send(("a", s)).unwrap()
    })
    .unwrap();
    let b = add_signal_handler(SignalKind::WINDOW_CHANGE, move |s| {
        tx2.send(("b", s)).unwrap()
    })
    .unwrap();
    let recv = || {
        rx.recv_timeout(Duration::from_secs(10))
            .expect("handler did not run")
    };

    raise(SignalKind::WINDOW_CHANGE).unwrap();
    let mut got = [recv(), recv()];
    got.sort();
    assert_eq!(
        got,
        [
            ("a", SignalKind::WINDOW_CHANGE),
            ("b", SignalKind::WINDOW_CHANGE)
        ]
    );

    assert!(remove_signal_handler(a));
    assert!(!remove_signal_handler(a), "removing twice reports false");
    raise(SignalKind::WINDOW_CHANGE).unwrap();
    assert_eq!(recv(), ("b", SignalKind::WINDOW_CHANGE));
    assert!(
        rx.recv_timeout(Duration::from_millis(100)).is_err(),
        "removed handler ran"
    );
    assert!(remove_signal_handler(b));
}

#[test]
fn a_handler_may_remove_itself() {
    let (tx, rx) = mpsc::channel();
    let (id_tx, id_rx) = mpsc::channel();
    let id = add_signal_handler(SIGURG, move |_| {
        let id = id_rx.recv().unwrap();
        tx.send(remove_signal_handler(id)).unwrap();
    })
    .unwrap();
    id_tx.send(id).unwrap();
    raise(SIGURG).unwrap();
    assert_eq!(rx.recv_timeout(Duration::from_secs(10)), Ok(true));
}

#[test]
fn uncatchable_signals_are_refused() {
    for kind in [
        SignalKind::KILL,
        // SIGSTOP: 19 on Linux, 17 on macOS and the BSDs.
        SignalKind::from_raw(if cfg!(target_os = "linux") { 19 } else { 17 }),
        SignalKind::from_raw(11), // SIGSEGV everywhere
    ] {
        let err = signal(kind).unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput, "{kind}");
        let err = add_signal_handler(kind, |_| {}).unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput, "{kind}");
    }
}

/// Set in the re-run child: run the body of `default_returns_after_last_listener`.
const CHILD_ENV: &str = "TULIP_PROCESS_SIGNAL_CHILD";

#[test]
fn default_returns_after_the_last_listener() {
    if std::env::var_os(CHILD_ENV).is_some() {
        return child_body();
    }
    // Re-run this test alone in a child process, where dying of SIGUSR2 is allowed.
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "signals::default_returns_after_the_last_listener",
            "--nocapture",
        ])
        .env(CHILD_ENV, "1")
        .output()
        .unwrap();
    let log = String::from_utf8_lossy(&out.stdout);
    assert!(
        log.contains("listeners saw SIGINT and SIGUSR2"),
        "child output: {log}"
    );
    assert_eq!(
        out.status.signal(),
        Some(SignalKind::USER2.as_raw()),
        "the child should have died of SIGUSR2 once nobody listened; output: {log}"
    );
}

fn child_body() {
    run(async {
        // ctrl_c installs its listener on first poll, before the raise runs.
        let (got, ()) =
            futures_lite::future::zip(ctrl_c(), async { raise(SignalKind::INTERRUPT).unwrap() })
                .await;
        got.unwrap();
    });
    let mut usr2 = signal(SignalKind::USER2).unwrap();
    let (tx, rx) = mpsc::channel();
    let id = add_signal_handler(SignalKind::USER2, move |_| tx.send(()).unwrap()).unwrap();
    raise(SignalKind::USER2).unwrap();
    assert_eq!(run(usr2.recv()), Some(SignalKind::USER2));
    rx.recv_timeout(Duration::from_secs(10)).unwrap();
    println!("listeners saw SIGINT and SIGUSR2");
    drop(usr2);
    assert!(remove_signal_handler(id));
    // Nobody listens now: SIGUSR2's default action terminates this process.
    raise(SignalKind::USER2).unwrap();
    // Not synchronisation: the process must already be dead. This bounded wait is only how a
    // process that survived the signal gets to report it to the parent test.
    std::thread::sleep(Duration::from_secs(5));
    println!("still alive after SIGUSR2");
}

#[test]
fn handlers_on_a_runtime_run_as_its_tasks() {
    // SIGVTALRM: raised only while the handler is registered.
    let sig = SignalKind::from_raw(26);
    let rt = tulip_executor::Runtime::new().unwrap();
    let (tx, rx) = mpsc::channel();
    let id = tulip_process::signal::add_signal_handler_on(rt.handle(), sig, move |s| {
        tx.send((s, tulip_executor::Handle::try_current().is_some()))
            .unwrap();
    })
    .unwrap();
    for _ in 0..2 {
        raise(sig).unwrap();
        let got = rx
            .recv_timeout(Duration::from_secs(10))
            .expect("handler did not run");
        assert_eq!(got, (sig, true), "the callback ran outside the runtime");
    }
    assert!(remove_signal_handler(id));
}
