//! `gather` and `try_gather`: run many futures concurrently, collect every output in input order.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use super::set::FutureSet;

/// Runs every future concurrently and collects their outputs in input order (asyncio's
/// `gather(*aws)`).
///
/// The futures are polled inside the task that awaits the returned [`Gather`], each under a
/// waker of its own, so a wake-up polls only the future that asked for it. They interleave but
/// do not run in parallel; to spread work over the runtime's workers, gather [`Task`] handles
/// instead: `gather(jobs.map(spawn))`.
///
/// An empty input gives an empty `Vec` at once. There is no failure short-cut: gathering futures
/// that return `Result` collects every `Ok` and `Err` (asyncio's `return_exceptions=True`); to
/// stop at the first error instead, use [`try_gather`].
///
/// # Cancel safety
///
/// Dropping the `Gather` drops (cancels) every future still running, in input order; outputs
/// already produced are dropped with it. Awaiting it in a `select`-style race is therefore not
/// cancel-safe unless losing those outputs is acceptable.
///
/// [`Task`]: crate::Task
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use tulip_executor::gather;
///
/// let out = tulip_reactor::block_on(gather((1..=3u64).map(|n| async move {
///     // The longest sleep comes first, yet outputs keep input order.
///     tulip_reactor::sleep(Duration::from_millis(6 - 2 * n)).await;
///     n * 10
/// })));
/// assert_eq!(out, [10, 20, 30]);
/// ```
pub fn gather<I>(futs: I) -> Gather<I::Item>
where
    I: IntoIterator,
    I::Item: Future,
{
    let set = FutureSet::new(futs.into_iter().map(Box::pin));
    let outputs = std::iter::repeat_with(|| None)
        .take(set.capacity())
        .collect();
    Gather { set, outputs }
}

/// The future returned by [`gather`].
#[must_use = "futures do nothing unless awaited"]
pub struct Gather<F: Future> {
    set: FutureSet<Pin<Box<F>>>,
    outputs: Vec<Option<F::Output>>,
}

// The outputs are moved out, never pinned, and the futures are boxed: nothing is structurally
// pinned, so the combinator may move freely.
impl<F: Future> Unpin for Gather<F> {}

impl<F: Future> Future for Gather<F> {
    type Output = Vec<F::Output>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        loop {
            match this.set.poll_next(cx) {
                Poll::Ready(Some((index, out))) => this.outputs[index] = Some(out),
                Poll::Ready(None) => {
                    let outputs = std::mem::take(&mut this.outputs);
                    return Poll::Ready(outputs.into_iter().flatten().collect());
                }
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}

impl<F: Future> fmt::Debug for Gather<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Gather")
            .field("len", &self.set.capacity())
            .field("remaining", &self.set.remaining())
            .finish()
    }
}

/// Runs every future concurrently; collects the `Ok` values in input order, or stops at the
/// first `Err` (asyncio's `gather` without `return_exceptions`, which raises the first error).
///
/// On the first error every future still running is dropped at once, which cancels it, and
/// that error is returned; errors that other futures might have produced later are never seen.
/// Like [`gather`], the futures are polled inside the awaiting task.
///
/// # Cancel safety
///
/// Dropping the `TryGather` drops (cancels) every future still running and the values already
/// collected.
///
/// # Examples
///
/// ```
/// use tulip_executor::try_gather;
///
/// let ok = tulip_reactor::block_on(try_gather(["1", "2"].map(|s| async move { s.parse::<u8>() })));
/// assert_eq!(ok, Ok(vec![1, 2]));
///
/// let err = tulip_reactor::block_on(try_gather(["1", "x"].map(|s| async move { s.parse::<u8>() })));
/// assert!(err.is_err());
/// ```
pub fn try_gather<I, T, E>(futs: I) -> TryGather<I::Item, T>
where
    I: IntoIterator,
    I::Item: Future<Output = Result<T, E>>,
{
    let set = FutureSet::new(futs.into_iter().map(Box::pin));
    let outputs = std::iter::repeat_with(|| None)
        .take(set.capacity())
        .collect();
    TryGather { set, outputs }
}

/// The future returned by [`try_gather`].
#[must_use = "futures do nothing unless awaited"]
pub struct TryGather<F, T> {
    set: FutureSet<Pin<Box<F>>>,
    outputs: Vec<Option<T>>,
}

// As for `Gather`: nothing is structurally pinned.
impl<F, T> Unpin for TryGather<F, T> {}

impl<F, T, E> Future for TryGather<F, T>
where
    F: Future<Output = Result<T, E>>,
{
    type Output = Result<Vec<T>, E>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        loop {
            match this.set.poll_next(cx) {
                Poll::Ready(Some((index, Ok(value)))) => this.outputs[index] = Some(value),
                Poll::Ready(Some((_, Err(e)))) => {
                    // Cancel the rest now rather than whenever the caller drops us.
                    this.set.clear();
                    this.outputs.clear();
                    return Poll::Ready(Err(e));
                }
                Poll::Ready(None) => {
                    let outputs = std::mem::take(&mut this.outputs);
                    return Poll::Ready(Ok(outputs.into_iter().flatten().collect()));
                }
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}

impl<F, T> fmt::Debug for TryGather<F, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TryGather")
            .field("len", &self.set.capacity())
            .field("remaining", &self.set.remaining())
            .finish()
    }
}

/// Runs two futures of different types concurrently and returns both outputs.
///
/// # Cancel safety
///
/// Dropping the future drops both inputs (and an output already produced).
///
/// # Examples
///
/// ```
/// let (a, b) = tulip_reactor::block_on(tulip_executor::gather2(async { 1 }, async { "two" }));
/// assert_eq!((a, b), (1, "two"));
/// ```
pub async fn gather2<A: Future, B: Future>(a: A, b: B) -> (A::Output, B::Output) {
    futures_lite::future::zip(a, b).await
}

/// Runs three futures of different types concurrently and returns the three outputs.
///
/// # Cancel safety
///
/// Dropping the future drops the inputs (and outputs already produced).
///
/// # Examples
///
/// ```
/// let out = tulip_reactor::block_on(tulip_executor::gather3(async { 1 }, async { 'b' }, async { "c" }));
/// assert_eq!(out, (1, 'b', "c"));
/// ```
pub async fn gather3<A: Future, B: Future, C: Future>(
    a: A,
    b: B,
    c: C,
) -> (A::Output, B::Output, C::Output) {
    let ((a, b), c) = futures_lite::future::zip(futures_lite::future::zip(a, b), c).await;
    (a, b, c)
}

/// Runs two fallible futures concurrently; both values, or the first error (dropping the other
/// future at once).
///
/// # Cancel safety
///
/// Dropping the future drops both inputs.
///
/// # Examples
///
/// ```
/// let r = tulip_reactor::block_on(tulip_executor::try_gather2(
///     async { Ok::<_, String>(1) },
///     async { Err::<u8, _>("no".to_string()) },
/// ));
/// assert_eq!(r, Err("no".to_string()));
/// ```
pub async fn try_gather2<A, B, T, U, E>(a: A, b: B) -> Result<(T, U), E>
where
    A: Future<Output = Result<T, E>>,
    B: Future<Output = Result<U, E>>,
{
    futures_lite::future::try_zip(a, b).await
}

/// Runs three fallible futures concurrently; the three values, or the first error (dropping the
/// others at once).
///
/// # Cancel safety
///
/// Dropping the future drops the inputs.
///
/// # Examples
///
/// ```
/// let r = tulip_reactor::block_on(tulip_executor::try_gather3(
///     async { Ok::<_, ()>(1) },
///     async { Ok('b') },
///     async { Ok("c") },
/// ));
/// assert_eq!(r, Ok((1, 'b', "c")));
/// ```
pub async fn try_gather3<A, B, C, T, U, V, E>(a: A, b: B, c: C) -> Result<(T, U, V), E>
where
    A: Future<Output = Result<T, E>>,
    B: Future<Output = Result<U, E>>,
    C: Future<Output = Result<V, E>>,
{
    use futures_lite::future::try_zip;
    let ((a, b), c) = try_zip(try_zip(a, b), c).await?;
    Ok((a, b, c))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::toolkit::testing::{Never, YieldN};
    use futures_lite::future::block_on;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn gather_keeps_input_order_whatever_the_completion_order() {
        let cases: &[&[u32]] = &[&[], &[0], &[3, 0, 2, 1], &[5, 5, 5], &[0, 1, 2, 3, 4]];
        for yields in cases {
            let out = block_on(gather(yields.iter().map(|&n| YieldN::new(n, n))));
            assert_eq!(&out, yields);
        }
    }

    #[test]
    fn gather_polls_concurrently() {
        // Sequential awaiting would never finish: the first future waits for the second.
        let flag = Arc::new(AtomicUsize::new(0));
        let waiter = {
            let flag = flag.clone();
            futures_lite::future::poll_fn(move |cx| {
                if flag.load(Ordering::Acquire) == 1 {
                    Poll::Ready("waited")
                } else {
                    cx.waker().wake_by_ref();
                    Poll::Pending
                }
            })
        };
        let setter = async {
            flag.store(1, Ordering::Release);
            "set"
        };
        let out = block_on(gather2(gather([Box::pin(waiter)]), setter));
        assert_eq!(out, (vec!["waited"], "set"));
    }

    #[test]
    fn try_gather_collects_values_in_order() {
        let out = block_on(try_gather([2, 0, 1].map(|n| async move {
            YieldN::new(n, ()).await;
            Ok::<_, ()>(n)
        })));
        assert_eq!(out, Ok(vec![2, 0, 1]));
    }

    #[test]
    fn try_gather_returns_the_first_error_and_drops_the_rest() {
        let drops = Arc::new(AtomicUsize::new(0));
        type Job = Pin<Box<dyn Future<Output = Result<u32, &'static str>>>>;
        let futs: Vec<Job> = vec![
            Box::pin(async { Ok(YieldN::new(1, 1).await) }),
            Box::pin({
                let never = Never::dropping(drops.clone());
                async move { Ok(never.await) }
            }),
            Box::pin(async { Err(YieldN::new(3, "late").await) }),
            Box::pin(async { Err(YieldN::new(2, "first").await) }),
        ];
        let mut fut = try_gather(futs);
        let out = block_on(&mut fut);
        assert_eq!(out, Err("first"));
        // The never-ending member was cancelled as soon as the error arrived, before `fut` drops.
        assert_eq!(drops.load(Ordering::Relaxed), 1);
    }

    #[test]
    fn tuple_forms() {
        assert_eq!(
            block_on(gather2(YieldN::new(2, 'a'), YieldN::new(0, 1))),
            ('a', 1)
        );
        let r: Result<(u8, char, &str), u8> =
            block_on(try_gather3(async { Ok(1) }, async { Err(7) }, async {
                Ok("c")
            }));
        assert_eq!(r, Err(7));
    }

    #[test]
    fn debug_shows_progress() {
        let g = gather([YieldN::new(1, 1)]);
        assert_eq!(format!("{g:?}"), "Gather { len: 1, remaining: 1 }");
    }
}
