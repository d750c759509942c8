//! The orders a [`Queue`](crate::Queue) can keep its items in.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};

/// How a queue stores items and which one `get` takes next.
///
/// [`Fifo`], [`Lifo`] and [`Priority`] give `Queue`, `LifoQueue` and `PriorityQueue`;
/// implement it for another order.
pub trait Store<T>: Default {
    /// Adds an item.
    fn push(&mut self, item: T);
    /// Takes the next item, if any.
    fn pop(&mut self) -> Option<T>;
    /// Number of items held.
    fn len(&self) -> usize;
    /// Whether no item is held.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// First in, first out (`asyncio.Queue`).
#[derive(Debug)]
pub struct Fifo<T>(VecDeque<T>);

/// Last in, first out (`asyncio.LifoQueue`).
#[derive(Debug)]
pub struct Lifo<T>(Vec<T>);

/// Smallest first (`asyncio.PriorityQueue`); items that compare equal come out in the order
/// they went in, so the order is fully determined.
#[derive(Debug)]
pub struct Priority<T: Ord> {
    heap: BinaryHeap<Reverse<(T, u64)>>,
    seq: u64,
}

impl<T> Default for Fifo<T> {
    fn default() -> Self {
        Fifo(VecDeque::new())
    }
}

impl<T> Default for Lifo<T> {
    fn default() -> Self {
        Lifo(Vec::new())
    }
}

impl<T: Ord> Default for Priority<T> {
    fn default() -> Self {
        Priority {
            heap: BinaryHeap::new(),
            seq: 0,
        }
    }
}

impl<T> Store<T> for Fifo<T> {
    fn push(&mut self, item: T) {
        self.0.push_back(item);
    }

    fn pop(&mut self) -> Option<T> {
        self.0.pop_front()
    }

    fn len(&self) -> usize {
        self.0.len()
    }
}

impl<T> Store<T> for Lifo<T> {
    fn push(&mut self, item: T) {
        self.0.push(item);
    }

    fn pop(&mut self) -> Option<T> {
        self.0.pop()
    }

    fn len(&self) -> usize {
        self.0.len()
    }
}

impl<T: Ord> Store<T> for Priority<T> {
    fn push(&mut self, item: T) {
        self.heap.push(Reverse((item, self.seq)));
        self.seq += 1;
    }

    fn pop(&mut self) -> Option<T> {
        self.heap.pop().map(|Reverse((item, _))| item)
    }

    fn len(&self) -> usize {
        self.heap.len()
    }
}
