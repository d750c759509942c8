//! `Fallible`: the root future of a `spawn_fallible` task, which records an `Err` output so
//! that one nobody retrieves is reported (asyncio's "Task exception was never retrieved").

use std::fmt::Display;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use crate::runtime::worker::CURRENT_TASK;

pin_project_lite::pin_project! {
    /// Wraps a task's future; built only by the `spawn_fallible` methods, so it is always the
    /// root future of its task, and the task being run when it completes is its own.
    pub(crate) struct Fallible<F> {
        #[pin]
        fut: F,
    }
}

impl<F> Fallible<F> {
    pub(crate) fn new(fut: F) -> Fallible<F> {
        Fallible { fut }
    }
}

impl<F, T, E> Future for Fallible<F>
where
    F: Future<Output = Result<T, E>>,
    E: Display,
{
    type Output = Result<T, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let out = std::task::ready!(self.project().fut.poll(cx));
        if let Err(e) = &out {
            let meta = CURRENT_TASK.with(std::cell::Cell::get);
            if !meta.is_null() {
                // SAFETY: invariant 4 of `task`: the pointer is published only while its
                // task's runnable runs, and this future is that task's root (see above).
                unsafe { &*meta }.errored(e.to_string());
            }
        }
        Poll::Ready(out)
    }
}
