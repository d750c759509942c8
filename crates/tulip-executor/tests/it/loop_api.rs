use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use tulip_executor::runtime;

#[test]
fn call_later_and_call_at_run_in_deadline_order() {
    let rt = runtime::Builder::new().worker_threads(1).build().unwrap();
    let h = rt.handle();
    let log = Arc::new(Mutex::new(Vec::new()));
    let now = h.time();
    let mut handles = Vec::new();
    for (i, ms) in [(0, 30u64), (1, 10), (2, 20), (3, 0)] {
        let l = log.clone();
        handles.push(h.call_at(now + Duration::from_millis(ms), move || {
            l.lock().unwrap().push(i)
        }));
    }
    let l = log.clone();
    let (ran, last_ran) = mpsc::channel();
    let later = h.call_later(Duration::from_millis(40), move || {
        l.lock().unwrap().push(4);
        ran.send(()).unwrap();
    });
    assert_eq!(
        later.when().map(|w| w >= now + Duration::from_millis(40)),
        Some(true)
    );
    last_ran
        .recv_timeout(Duration::from_secs(5))
        .expect("the 40 ms callback runs within 5 s");
    // The callback's task ends just after the callback returns, on the worker: the send
    // above can be seen before that.
    tulip_test_support::wait::until(Duration::from_secs(5), "the timer handle finishing", || {
        Ok::<_, String>(later.is_finished().then_some(()))
    });
    assert_eq!(*log.lock().unwrap(), vec![3, 1, 2, 0, 4]);
}

#[test]
fn cancelled_callbacks_never_run() {
    let rt = runtime::Builder::new().worker_threads(1).build().unwrap();
    let h = rt.handle();
    let log = Arc::new(Mutex::new(Vec::new()));
    let (l1, l2) = (log.clone(), log.clone());
    let (ran, b_ran) = mpsc::channel();
    let a = h.call_later(Duration::from_millis(20), move || {
        l1.lock().unwrap().push("a")
    });
    let b = h.call_later(Duration::from_millis(30), move || {
        l2.lock().unwrap().push("b");
        ran.send(()).unwrap();
    });
    a.cancel();
    a.cancel();
    assert!(a.cancelled() && !b.cancelled());
    b_ran
        .recv_timeout(Duration::from_secs(5))
        .expect("the 30 ms callback runs within 5 s");
    // Callbacks run in deadline order, so `a` (due 10 ms before `b`) would have run by now.
    assert_eq!(*log.lock().unwrap(), vec!["b"]);
}

#[test]
fn call_soon_and_dropped_handles_still_run() {
    let rt = runtime::Builder::new().worker_threads(2).build().unwrap();
    let h = rt.handle().clone();
    let (tx, rx) = std::sync::mpsc::channel();
    let tx2 = tx.clone();
    drop(h.call_soon(move || tx.send(1).unwrap()));
    std::thread::spawn(move || drop(h.call_soon_threadsafe(move || tx2.send(2).unwrap())));
    let mut got = vec![
        rx.recv_timeout(Duration::from_secs(5)).unwrap(),
        rx.recv_timeout(Duration::from_secs(5)).unwrap(),
    ];
    got.sort();
    assert_eq!(got, vec![1, 2]);
}

#[test]
fn run_forever_until_stop() {
    let rt = runtime::Builder::new().worker_threads(1).build().unwrap();
    let h = rt.handle().clone();
    let h2 = h.clone();
    let ran = Arc::new(Mutex::new(false));
    let r = ran.clone();
    h.call_later(Duration::from_millis(20), move || {
        *r.lock().unwrap() = true;
        h2.stop();
    })
    .cancelled();
    let t = Instant::now();
    rt.run_forever();
    assert!(*ran.lock().unwrap());
    assert!(t.elapsed() >= Duration::from_millis(15));
    // A stop requested beforehand makes the next run_forever return at once.
    h.stop();
    rt.run_forever();
}
