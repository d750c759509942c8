use super::*;
use futures_lite::future::{block_on, poll_once};

#[test]
fn errors_hand_the_value_back() {
    let (tx, mut rx) = bounded::<String>(1);
    tx.try_send("a".into()).unwrap();
    match tx.try_send("b".into()) {
        Err(TrySendError::Full(v)) => assert_eq!(v, "b"),
        other => panic!("expected Full, got {other:?}"),
    }
    assert_eq!(rx.try_recv().as_deref(), Ok("a"));
    assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
    drop(rx);
    assert!(tx.is_closed());
    match block_on(tx.send("c".into())) {
        Err(SendError(v)) => assert_eq!(v, "c"),
        Ok(()) => panic!("send to a closed channel succeeded"),
    }
    assert!(matches!(
        tx.try_send("d".into()),
        Err(TrySendError::Closed(_))
    ));
}

#[test]
fn buffered_values_outlive_the_senders() {
    let (tx, mut rx) = unbounded();
    let tx2 = tx.clone();
    tx.try_send(1).unwrap();
    tx2.try_send(2).unwrap();
    drop(tx);
    drop(tx2);
    assert_eq!(block_on(rx.recv()), Some(1));
    assert_eq!(block_on(rx.recv()), Some(2));
    assert_eq!(block_on(rx.recv()), None);
    assert_eq!(rx.try_recv(), Err(TryRecvError::Closed));
}

#[test]
fn last_sender_drop_wakes_the_receiver() {
    let (tx, mut rx) = unbounded::<u8>();
    let mut recv = Box::pin(rx.recv());
    assert!(block_on(poll_once(&mut recv)).is_none());
    drop(tx);
    assert_eq!(block_on(poll_once(&mut recv)), Some(None));
}

#[test]
fn dropped_notified_sender_passes_the_slot_on() {
    let (tx, mut rx) = bounded(1);
    tx.try_send(0).unwrap();
    let mut a = Box::pin(tx.send(1));
    let mut b = Box::pin(tx.send(2));
    assert!(block_on(poll_once(&mut a)).is_none());
    let (r, b_wakes) = crate::test_waker::poll_counted(&mut b);
    assert!(r.is_pending());
    assert_eq!(rx.try_recv(), Ok(0)); // notifies `a`
    assert_eq!(b_wakes.get(), 0);
    drop(a);
    assert_eq!(b_wakes.get(), 1, "the free slot must be offered to `b`");
    assert_eq!(block_on(poll_once(&mut b)).map(|r| r.is_ok()), Some(true));
    assert_eq!(rx.try_recv(), Ok(2));
    assert_eq!(tx.chan.send_waiting.load(Ordering::SeqCst), 0);
    assert!(lock(&tx.chan.send_waiters).is_empty());
}

#[test]
fn receiver_close_fails_blocked_senders() {
    let (tx, mut rx) = bounded(1);
    tx.try_send(1).unwrap();
    let mut blocked = Box::pin(tx.send(2));
    assert!(block_on(poll_once(&mut blocked)).is_none());
    rx.close();
    assert!(matches!(block_on(blocked), Err(SendError(2))));
    assert_eq!(rx.try_recv(), Ok(1));
    assert_eq!(rx.try_recv(), Err(TryRecvError::Closed));
}
