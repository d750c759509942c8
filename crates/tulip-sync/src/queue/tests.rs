use super::*;
use futures_lite::future::{block_on, poll_once};
use proptest::prelude::*;
use std::collections::VecDeque;

#[test]
fn nowait_errors_hand_the_item_back() {
    let q: Queue<i32> = Queue::bounded(1);
    assert_eq!(q.get_nowait(), Err(TryGetError::Empty));
    q.put_nowait(1).unwrap();
    assert!(q.is_full());
    assert!(matches!(q.put_nowait(2), Err(TryPutError::Full(2))));
    q.shutdown(false);
    assert!(matches!(q.put_nowait(3), Err(TryPutError::ShutDown(3))));
    // A graceful shutdown still lets the items out.
    assert_eq!(q.get_nowait(), Ok(1));
    assert_eq!(q.get_nowait(), Err(TryGetError::ShutDown));
    assert_eq!(block_on(q.get()), Err(QueueShutDown(())));
}

#[test]
fn shutdown_wakes_blocked_puts_and_gets() {
    let q: Queue<i32> = Queue::bounded(1);
    q.put_nowait(1).unwrap();
    let mut put = Box::pin(q.put(2));
    assert!(block_on(poll_once(&mut put)).is_none());
    let empty: Queue<i32> = Queue::unbounded();
    let mut get = Box::pin(empty.get());
    assert!(block_on(poll_once(&mut get)).is_none());
    q.shutdown(true);
    empty.shutdown(false);
    assert_eq!(block_on(put), Err(QueueShutDown(2)));
    assert_eq!(block_on(get), Err(QueueShutDown(())));
    assert!(q.is_empty());
    block_on(q.join()); // immediate shutdown counted the drained item as done
}

#[test]
fn join_waits_for_task_done() {
    let q: LifoQueue<&str> = LifoQueue::unbounded();
    block_on(q.join());
    q.put_nowait("a").unwrap();
    q.put_nowait("b").unwrap();
    let mut join = Box::pin(q.join());
    assert!(block_on(poll_once(&mut join)).is_none());
    assert_eq!(q.get_nowait(), Ok("b"));
    assert_eq!(q.get_nowait(), Ok("a"));
    q.task_done().unwrap();
    assert!(block_on(poll_once(&mut join)).is_none());
    q.task_done().unwrap();
    assert!(block_on(poll_once(&mut join)).is_some());
    assert_eq!(q.task_done(), Err(TaskDoneError));
}

#[test]
fn dropped_notified_getter_passes_the_item_on() {
    let q: Queue<i32> = Queue::unbounded();
    let mut a = Box::pin(q.get());
    let mut b = Box::pin(q.get());
    assert!(block_on(poll_once(&mut a)).is_none());
    let (r, b_wakes) = crate::test_waker::poll_counted(&mut b);
    assert!(r.is_pending());
    q.put_nowait(7).unwrap(); // announced to `a`
    assert_eq!(b_wakes.get(), 0);
    drop(a);
    assert_eq!(b_wakes.get(), 1, "the announcement must move on to `b`");
    assert_eq!(block_on(poll_once(&mut b)), Some(Ok(7)));
    assert!(lock(&q.state).getters.is_empty());
}

/// The kinds of queue under test, with a model of their order.
#[derive(Debug, Clone, Copy)]
enum Kind {
    Fifo,
    Lifo,
    Priority,
}

/// A reference model: a plain vector and the rule for which item leaves next.
struct Model {
    kind: Kind,
    items: VecDeque<u8>,
    maxsize: usize,
}

impl Model {
    fn full(&self) -> bool {
        self.maxsize > 0 && self.items.len() >= self.maxsize
    }

    fn pop(&mut self) -> Option<u8> {
        match self.kind {
            Kind::Fifo => self.items.pop_front(),
            Kind::Lifo => self.items.pop_back(),
            Kind::Priority => {
                // Smallest first; among equals, the earliest put.
                let (i, _) = self
                    .items
                    .iter()
                    .enumerate()
                    .min_by_key(|&(i, v)| (*v, i))?;
                self.items.remove(i)
            }
        }
    }
}

#[derive(Debug, Clone)]
enum Op {
    TryPut(u8),
    TryGet,
    /// Start an async put and poll it once; keep it if it is pending.
    Put(u8),
    /// Start an async get and poll it once; keep it if it is pending.
    Get,
    /// Poll every pending put, then every pending get, oldest first.
    PollAll,
    /// Drop the oldest pending get.
    DropGet,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (0u8..8).prop_map(Op::TryPut),
        Just(Op::TryGet),
        (0u8..8).prop_map(Op::Put),
        Just(Op::Get),
        Just(Op::PollAll),
        Just(Op::DropGet),
    ]
}

/// A put that is waiting, with the item it carries.
type PendingPut<'a, S> = Pin<Box<Put<'a, u8, S>>>;

fn run<S: Store<u8>>(kind: Kind, maxsize: usize, ops: &[Op]) -> Result<(), TestCaseError> {
    let q: GenericQueue<u8, S> = GenericQueue::with_store(maxsize);
    let mut m = Model {
        kind,
        items: VecDeque::new(),
        maxsize,
    };
    let mut puts: VecDeque<(u8, PendingPut<'_, S>)> = VecDeque::new();
    let mut gets: VecDeque<Pin<Box<Get<'_, u8, S>>>> = VecDeque::new();
    let mut got = Vec::new();
    let mut want = Vec::new();
    for op in ops {
        match *op {
            Op::TryPut(v) => {
                let full = m.full();
                let r = q.put_nowait(v);
                prop_assert_eq!(r.is_err(), full);
                if !full {
                    m.items.push_back(v);
                }
            }
            Op::TryGet => {
                let r = q.get_nowait().ok();
                prop_assert_eq!(r, m.pop());
            }
            Op::Put(v) => {
                let mut f = Box::pin(q.put(v));
                if block_on(poll_once(&mut f)).is_some() {
                    prop_assert!(!m.full());
                    m.items.push_back(v);
                } else {
                    prop_assert!(m.full());
                    puts.push_back((v, f));
                }
            }
            Op::Get => {
                let mut f = Box::pin(q.get());
                match block_on(poll_once(&mut f)) {
                    Some(r) => {
                        got.push(r.ok());
                        want.push(m.pop());
                    }
                    None => {
                        prop_assert!(m.items.is_empty());
                        gets.push_back(f);
                    }
                }
            }
            Op::PollAll => {
                for _ in 0..puts.len() {
                    let (v, mut f) = puts.pop_front().unwrap();
                    if block_on(poll_once(&mut f)).is_some() {
                        m.items.push_back(v);
                    } else {
                        puts.push_back((v, f));
                    }
                }
                for _ in 0..gets.len() {
                    let mut f = gets.pop_front().unwrap();
                    match block_on(poll_once(&mut f)) {
                        Some(r) => {
                            got.push(r.ok());
                            want.push(m.pop());
                        }
                        None => gets.push_back(f),
                    }
                }
            }
            Op::DropGet => {
                gets.pop_front();
            }
        }
        prop_assert_eq!(q.len(), m.items.len());
        prop_assert!(maxsize == 0 || q.len() <= maxsize);
    }
    prop_assert_eq!(got, want);
    drop(puts);
    drop(gets);
    let st = lock(&q.state);
    prop_assert!(
        st.getters.is_empty() && st.putters.is_empty(),
        "leaked waiters"
    );
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn fifo_matches_model(maxsize in 0usize..4, ops in prop::collection::vec(op(), 0..60)) {
        run::<Fifo<u8>>(Kind::Fifo, maxsize, &ops)?;
    }

    #[test]
    fn lifo_matches_model(maxsize in 0usize..4, ops in prop::collection::vec(op(), 0..60)) {
        run::<Lifo<u8>>(Kind::Lifo, maxsize, &ops)?;
    }

    #[test]
    fn priority_matches_model(maxsize in 0usize..4, ops in prop::collection::vec(op(), 0..60)) {
        run::<Priority<u8>>(Kind::Priority, maxsize, &ops)?;
    }
}
