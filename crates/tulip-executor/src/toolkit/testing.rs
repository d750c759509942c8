//! Futures with scripted behaviour for the toolkit's unit tests.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};

/// Returns `Pending` (waking itself) `n` times, then its value.
#[derive(Debug)]
pub(crate) struct YieldN<T> {
    left: u32,
    value: Option<T>,
}

impl<T> YieldN<T> {
    pub(crate) fn new(left: u32, value: T) -> Self {
        YieldN {
            left,
            value: Some(value),
        }
    }

    pub(crate) fn left(&self) -> u32 {
        self.left
    }
}

impl<T: Unpin> Future for YieldN<T> {
    type Output = T;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        if self.left == 0 {
            return Poll::Ready(self.value.take().expect("YieldN polled after completion"));
        }
        self.left -= 1;
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

/// Never completes and never wakes; counts its polls and its drop.
#[derive(Debug, Default)]
pub(crate) struct Never {
    polls: Option<Arc<AtomicUsize>>,
    drops: Option<Arc<AtomicUsize>>,
}

impl Never {
    pub(crate) fn counting(polls: Arc<AtomicUsize>) -> Self {
        Never {
            polls: Some(polls),
            drops: None,
        }
    }

    pub(crate) fn dropping(drops: Arc<AtomicUsize>) -> Self {
        Never {
            polls: None,
            drops: Some(drops),
        }
    }
}

impl Future for Never {
    type Output = u32;

    fn poll(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<u32> {
        if let Some(polls) = &self.polls {
            polls.fetch_add(1, Ordering::Relaxed);
        }
        Poll::Pending
    }
}

impl Drop for Never {
    fn drop(&mut self) {
        if let Some(drops) = &self.drops {
            drops.fetch_add(1, Ordering::Relaxed);
        }
    }
}
