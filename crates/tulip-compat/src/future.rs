//! The two adapters: [`Compat`] enters the shared runtime around each poll, [`CompatWith`] a
//! runtime of the caller's and reports [`RuntimeGone`] once that runtime has shut down.
//!
//! Both keep the wrapped value in an `Option` so that their destructor can drop it inside the
//! tokio context too: some tokio-bound types spawn a task when dropped (a pooled database
//! connection going back to its pool), which panics outside a runtime.

use std::fmt;
use std::future::Future;
use std::panic::{self, AssertUnwindSafe};
use std::pin::Pin;
use std::task::{Context, Poll};

use pin_project_lite::pin_project;

use crate::context::{self, RuntimeGone, TokioContext};

/// Wraps futures and I/O objects in [`Compat`] or [`CompatWith`]; implemented for every type.
pub trait CompatExt: Sized {
    /// Runs `self` inside the shared tokio runtime's context (see [`Compat`]).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use tulip_compat::CompatExt;
    ///
    /// tulip_executor::run(async {
    ///     // Without `.compat()` this panics: "there is no reactor running". Wrap the block
    ///     // that *creates* tokio objects: `tokio::time::sleep(..)` itself needs the context.
    ///     async { tokio::time::sleep(Duration::from_millis(1)).await }.compat().await;
    /// });
    /// ```
    fn compat(self) -> Compat<Self> {
        Compat::new(self)
    }

    /// Runs `self` inside the context of the runtime `ctx` names (see [`CompatWith`]).
    fn compat_with(self, ctx: &TokioContext) -> CompatWith<Self> {
        CompatWith::new(self, ctx.clone())
    }
}

impl<T> CompatExt for T {}

pin_project! {
    /// A future or I/O object polled inside the shared tokio runtime's context, so that tokio-bound
    /// code (tokio's sockets and timers, `tokio::spawn`, and every crate built on them) works
    /// under any executor.
    ///
    /// - As a future, it has the wrapped future's output. The shared runtime is started on the
    ///   first poll ([`TokioContext::shared`]) and never shuts down.
    /// - Around an I/O object it implements the other family's traits: tokio's `AsyncRead`,
    ///   `AsyncWrite` and `AsyncBufRead` for a futures-io object (tulip's TCP, Unix and TLS
    ///   streams), and futures-io's for a tokio one (see the crate docs).
    ///
    /// The wrapped value is also dropped inside the context.
    ///
    /// # Panics
    ///
    /// Polling the future panics if the shared runtime cannot be started (the process is out
    /// of file descriptors or threads); call [`TokioContext::shared`] beforehand to handle
    /// that as an error. The I/O traits return it as an error instead.
    pub struct Compat<T> {
        #[pin]
        inner: Option<T>,
    }

    impl<T> PinnedDrop for Compat<T> {
        fn drop(this: Pin<&mut Self>) {
            let mut inner = this.project().inner;
            if inner.is_some() {
                // Only a runtime that was started can have made tokio objects inside `inner`.
                let _enter = context::started_handle().map(|h| h.enter());
                inner.set(None);
            }
        }
    }
}

impl<T> Compat<T> {
    /// Wraps `inner`; the same as `inner.compat()`.
    pub fn new(inner: T) -> Compat<T> {
        Compat { inner: Some(inner) }
    }

    /// The wrapped value.
    pub fn get_ref(&self) -> &T {
        self.inner.as_ref().expect(PRESENT)
    }

    /// The wrapped value, mutably.
    pub fn get_mut(&mut self) -> &mut T {
        self.inner.as_mut().expect(PRESENT)
    }

    /// Unwraps the value (dropped later outside any tokio context).
    pub fn into_inner(mut self) -> T {
        self.inner.take().expect(PRESENT)
    }

    pub(crate) fn inner_pin(self: Pin<&mut Self>) -> Pin<&mut T> {
        self.project().inner.as_pin_mut().expect(PRESENT)
    }
}

impl<T: fmt::Debug> fmt::Debug for Compat<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Compat").field(&self.inner).finish()
    }
}

/// Why the `expect`s above cannot fire: `inner` is `None` only inside `drop` and `into_inner`,
/// which consume the adapter.
const PRESENT: &str = "a compat adapter's value is present until it is dropped";

impl<F: Future> Future for Compat<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let _enter = context::shared_handle_or_panic().enter();
        self.inner_pin().poll(cx)
    }
}

pin_project! {
    /// A future or I/O object polled inside the context of a tokio runtime you own (see
    /// [`TokioContext::from_handle`]).
    ///
    /// As a future its output is `Result<F::Output, RuntimeGone>`: once the runtime has shut
    /// down or been dropped, the next poll returns `Err(RuntimeGone)` without polling the
    /// wrapped future (which tokio could no longer drive, and whose timers would panic). A
    /// panic raised inside the poll while the runtime was shutting down, tokio's "runtime is
    /// being shutdown", is caught and reported the same way; any other panic is passed on
    /// unchanged. The caught panic still reaches the panic hook, so its message is printed;
    /// the tests see this in about 2% of runs that drop a runtime under a poll. (With
    /// `panic = "abort"` nothing can be caught; the check before each poll still covers every
    /// runtime that had finished shutting down.)
    ///
    /// As a tokio I/O object it implements futures-io's traits, and fails with an `io::Error`
    /// whose inner error is [`RuntimeGone`] in the same situation.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use tulip_compat::{CompatExt, RuntimeGone, TokioContext};
    ///
    /// let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build()?;
    /// let ctx = TokioContext::from_handle(rt.handle().clone());
    /// tulip_executor::run(async {
    ///     let nap = async { tokio::time::sleep(Duration::from_secs(3600)).await };
    ///     let mut nap = Box::pin(nap.compat_with(&ctx));
    ///     assert!(futures_lite::future::poll_once(&mut nap).await.is_none()); // Timer armed.
    ///     tulip_executor::spawn_blocking(move || drop(rt)).await.unwrap();
    ///     assert_eq!(nap.await, Err(RuntimeGone::new()));
    /// });
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub struct CompatWith<T> {
        #[pin]
        inner: Option<T>,
        ctx: TokioContext,
    }

    impl<T> PinnedDrop for CompatWith<T> {
        fn drop(this: Pin<&mut Self>) {
            let this = this.project();
            let mut inner = this.inner;
            if inner.is_some() {
                let _enter = this.ctx.handle().enter();
                inner.set(None);
            }
        }
    }
}

impl<T> CompatWith<T> {
    /// Wraps `inner`; the same as `inner.compat_with(&ctx)`.
    pub fn new(inner: T, ctx: TokioContext) -> CompatWith<T> {
        CompatWith {
            inner: Some(inner),
            ctx,
        }
    }

    /// The runtime this adapter enters.
    pub fn context(&self) -> &TokioContext {
        &self.ctx
    }

    /// The wrapped value.
    pub fn get_ref(&self) -> &T {
        self.inner.as_ref().expect(PRESENT)
    }

    /// The wrapped value, mutably.
    pub fn get_mut(&mut self) -> &mut T {
        self.inner.as_mut().expect(PRESENT)
    }

    /// Unwraps the value (dropped later outside any tokio context).
    pub fn into_inner(mut self) -> T {
        self.inner.take().expect(PRESENT)
    }

    /// Runs `poll` on the wrapped value inside the runtime's context, or reports that the
    /// runtime is gone (before polling, or by the panic tokio raised because it was).
    pub(crate) fn poll_inside<R>(
        self: Pin<&mut Self>,
        poll: impl FnOnce(Pin<&mut T>) -> R,
    ) -> Result<R, RuntimeGone> {
        let this = self.project();
        this.ctx.check()?;
        let _enter = this.ctx.handle().enter();
        let inner = this.inner.as_pin_mut().expect(PRESENT);
        match panic::catch_unwind(AssertUnwindSafe(|| poll(inner))) {
            Ok(out) => Ok(out),
            // The flag goes up before tokio stops its drivers: a panic with the flag down is
            // not ours to swallow.
            Err(payload) if this.ctx.is_alive() => panic::resume_unwind(payload),
            Err(_) => Err(RuntimeGone::new()),
        }
    }
}

impl<T: fmt::Debug> fmt::Debug for CompatWith<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CompatWith")
            .field("inner", &self.inner)
            .field("ctx", &self.ctx)
            .finish()
    }
}

impl<F: Future> Future for CompatWith<F> {
    type Output = Result<F::Output, RuntimeGone>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.poll_inside(|f| f.poll(cx)) {
            Ok(Poll::Ready(out)) => Poll::Ready(Ok(out)),
            Ok(Poll::Pending) => Poll::Pending,
            Err(gone) => Poll::Ready(Err(gone)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn one_worker() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap()
    }

    #[test]
    fn shared_runtime_runs_tokio_spawn_and_timers() {
        let out = tulip_executor::run(
            async {
                tokio::time::sleep(Duration::from_millis(1)).await;
                tokio::spawn(async { std::thread::current().name().map(String::from) }).await
            }
            .compat(),
        );
        // Spawned tasks run on the shared runtime's own thread.
        assert_eq!(out.unwrap().as_deref(), Some("tulip-compat-tokio"));
    }

    #[test]
    fn bound_future_fails_when_runtime_dropped_before_first_poll() {
        let rt = one_worker();
        let ctx = TokioContext::from_handle(rt.handle().clone());
        assert!(ctx.is_alive());
        drop(rt);
        assert!(!ctx.is_alive());
        let nap = async { tokio::time::sleep(Duration::from_secs(60)).await };
        let out = tulip_executor::run(nap.compat_with(&ctx));
        assert_eq!(out, Err(RuntimeGone::new()));
    }

    #[test]
    fn context_for_a_runtime_already_shut_down_is_dead_at_once() {
        let rt = one_worker();
        let handle = rt.handle().clone();
        drop(rt);
        let ctx = TokioContext::from_handle(handle);
        assert!(!ctx.is_alive());
        let out = tulip_executor::run(async { 7 }.compat_with(&ctx));
        assert_eq!(out, Err(RuntimeGone::new()));
    }

    #[test]
    fn other_panics_pass_through_unchanged() {
        let rt = one_worker();
        let ctx = TokioContext::from_handle(rt.handle().clone());
        let caught = panic::catch_unwind(AssertUnwindSafe(|| {
            tulip_executor::run(async { panic!("user bug") }.compat_with(&ctx))
        }));
        let payload = caught.expect_err("the user's panic must propagate");
        assert_eq!(payload.downcast_ref::<&str>(), Some(&"user bug"));
        assert!(ctx.is_alive());
    }

    #[test]
    fn dropping_inside_the_context_lets_destructors_spawn() {
        struct SpawnsOnDrop;
        impl Drop for SpawnsOnDrop {
            fn drop(&mut self) {
                // Panics ("must be called from the context of a Tokio 1.x runtime") without one.
                drop(tokio::spawn(async {}));
            }
        }
        let held = SpawnsOnDrop;
        let fut = async move {
            let _held = held;
            std::future::pending::<()>().await;
        }
        .compat();
        let rt = one_worker();
        let ctx = TokioContext::from_handle(rt.handle().clone());
        let held = SpawnsOnDrop;
        let bound = async move {
            let _held = held;
        }
        .compat_with(&ctx);
        // The shared runtime was started by an earlier poll in this process or is started
        // here, so the drop below has a context to enter.
        TokioContext::shared().unwrap();
        drop(fut);
        drop(bound);
    }
}
