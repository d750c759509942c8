//! Context variables: asyncio's `contextvars`, task-local state that follows the task.
//!
//! Every task runs in its own [`Context`]: a snapshot of the spawner's variables taken at
//! spawn time (asyncio's `create_task` copies the current context the same way). Setting a
//! [`ContextVar`] inside a task changes that task's context only: its parent, its siblings
//! and the tasks it already spawned do not see it, the tasks it spawns afterwards do. The
//! future given to `run` or `block_on` runs in a copy of the calling thread's context, as
//! `asyncio.run` does; other code outside any task uses the thread's own context.
//!
//! The representation makes the common case free: an empty context is `None`, a non-empty
//! one an `Arc` of a small sorted vector that a spawn shares (one reference count) and a
//! `set` copies on write. A task swaps its context into a thread-local slot around each
//! poll, so a variable read is a thread-local access and a short search.
//!
//! # Examples
//!
//! ```
//! use tulip_executor::context::ContextVar;
//!
//! static REQUEST_ID: ContextVar<u64> = ContextVar::new("request_id");
//!
//! tulip_executor::run(async {
//!     let _token = REQUEST_ID.set(7);
//!     let child = tulip_executor::spawn(async {
//!         // Inherited at spawn; the child's own change stays in the child.
//!         assert_eq!(REQUEST_ID.get(), Some(7));
//!         let _ = REQUEST_ID.set(8);
//!     });
//!     child.await.unwrap();
//!     assert_eq!(REQUEST_ID.get(), Some(7));
//! });
//! ```

use std::any::Any;
use std::cell::Cell;
use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::Poll;

type Value = Arc<dyn Any + Send + Sync>;

/// The variables of one context, sorted by variable id.
pub(crate) type Map = Arc<Vec<(u64, Value)>>;

thread_local! {
    /// The context of whatever runs on this thread now: the polled task's, or the thread's own.
    static CURRENT: Cell<Option<Map>> = const { Cell::new(None) };
}

/// Runs `f` with the thread's current context borrowed.
fn with_current<R>(f: impl FnOnce(&Option<Map>) -> R) -> R {
    CURRENT.with(|c| {
        let map = c.take();
        let r = f(&map);
        c.set(map);
        r
    })
}

/// Swaps `ctx` in as the thread's context for the duration of `f`, then stores what `f` left
/// there back into `ctx` (the changes made by `f` belong to that context). Restores the
/// previous context also when `f` unwinds.
///
/// Always inlined: it wraps every task poll, and as a call of its own (which the inliner
/// chose once the task wrapper grew) it cost each poll a frame and a copy of the output.
#[inline(always)]
pub(crate) fn enter<R>(ctx: &mut Option<Map>, f: impl FnOnce() -> R) -> R {
    struct Restore<'a> {
        ctx: &'a mut Option<Map>,
        prev: Option<Map>,
    }
    impl Drop for Restore<'_> {
        fn drop(&mut self) {
            *self.ctx = CURRENT.with(|c| c.replace(self.prev.take()));
        }
    }
    let prev = CURRENT.with(|c| c.replace(ctx.take()));
    let _restore = Restore { ctx, prev };
    f()
}

/// A snapshot of the current context, for a task about to be spawned.
pub(crate) fn capture() -> Option<Map> {
    with_current(Clone::clone)
}

static NEXT_VAR: AtomicU64 = AtomicU64::new(1);

/// A context variable (asyncio's `contextvars.ContextVar`): a value per [`Context`], read and
/// set by the code running in it.
///
/// Declare it as a `static`; its value lives in the contexts, not in the variable. Values
/// are cloned out by [`ContextVar::get`], so keep them cheap to clone (wrap large ones in an
/// `Arc`).
pub struct ContextVar<T> {
    name: &'static str,
    /// Assigned on first use (0 = not yet), so that `new` can be `const`.
    id: AtomicU64,
    default: Option<T>,
}

impl<T: Clone + Send + Sync + 'static> ContextVar<T> {
    /// A variable without a default: [`ContextVar::get`] is `None` until it is set.
    pub const fn new(name: &'static str) -> ContextVar<T> {
        ContextVar {
            name,
            id: AtomicU64::new(0),
            default: None,
        }
    }

    /// A variable whose [`ContextVar::get`] is `default` in contexts that never set it.
    pub const fn with_default(name: &'static str, default: T) -> ContextVar<T> {
        ContextVar {
            name,
            id: AtomicU64::new(0),
            default: Some(default),
        }
    }

    /// The variable's name, for diagnostics.
    pub fn name(&self) -> &'static str {
        self.name
    }

    fn id(&self) -> u64 {
        let id = self.id.load(Ordering::Acquire);
        if id != 0 {
            return id;
        }
        let fresh = NEXT_VAR.fetch_add(1, Ordering::Relaxed);
        match self
            .id
            .compare_exchange(0, fresh, Ordering::AcqRel, Ordering::Acquire)
        {
            Ok(_) => fresh,
            Err(won) => won,
        }
    }

    /// The value in the current context, else the default, else `None` (where asyncio
    /// raises `LookupError`).
    pub fn get(&self) -> Option<T> {
        let id = self.id();
        let found = with_current(|map| {
            let map = map.as_ref()?;
            let i = map.binary_search_by_key(&id, |(k, _)| *k).ok()?;
            map[i].1.downcast_ref::<T>().cloned()
        });
        found.or_else(|| self.default.clone())
    }

    /// Sets the value in the current context. The returned [`Token`] restores the previous
    /// value with [`ContextVar::reset`].
    pub fn set(&self, value: T) -> Token<T> {
        let prev = self.replace(Some(Arc::new(value)));
        Token {
            var: self.id(),
            prev,
            _marker: PhantomData,
        }
    }

    /// Restores the value this variable had before the [`ContextVar::set`] that returned
    /// `token` (unset, if it had none).
    ///
    /// # Panics
    ///
    /// If `token` came from another variable (asyncio raises `ValueError`).
    pub fn reset(&self, token: Token<T>) {
        assert_eq!(
            token.var,
            self.id(),
            "ContextVar::reset: the token was created by a different ContextVar"
        );
        self.replace(token.prev);
    }

    /// Stores `value` (or removes the variable) in the current context, returning the old one.
    fn replace(&self, value: Option<Value>) -> Option<Value> {
        let id = self.id();
        CURRENT.with(|c| {
            let mut map = c.take();
            let old = {
                let vars = Arc::make_mut(map.get_or_insert_with(Default::default));
                match (vars.binary_search_by_key(&id, |(k, _)| *k), value) {
                    (Ok(i), Some(v)) => Some(std::mem::replace(&mut vars[i].1, v)),
                    (Ok(i), None) => Some(vars.remove(i).1),
                    (Err(i), Some(v)) => {
                        vars.insert(i, (id, v));
                        None
                    }
                    (Err(_), None) => None,
                }
            };
            if map.as_ref().is_some_and(|m| m.is_empty()) {
                map = None;
            }
            c.set(map);
            old
        })
    }
}

impl<T> fmt::Debug for ContextVar<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ContextVar")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

/// What [`ContextVar::set`] returns: the previous value, for [`ContextVar::reset`].
#[must_use = "dropping a Token keeps the new value; pass it to ContextVar::reset to undo the set"]
pub struct Token<T> {
    var: u64,
    prev: Option<Value>,
    _marker: PhantomData<fn() -> T>,
}

impl<T> fmt::Debug for Token<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Token")
            .field("had_value", &self.prev.is_some())
            .finish_non_exhaustive()
    }
}

/// A set of context variable values (asyncio's `contextvars.Context`).
///
/// [`copy_context`] snapshots the current one; [`Context::run`] and [`Context::scope`] run
/// code in it, and the changes that code makes stay in it.
#[derive(Clone, Default)]
pub struct Context {
    map: Option<Map>,
}

impl Context {
    /// An empty context: every variable unset.
    pub fn new() -> Context {
        Context::default()
    }

    /// Runs `f` in this context (asyncio's `Context.run`).
    pub fn run<R>(&mut self, f: impl FnOnce() -> R) -> R {
        enter(&mut self.map, f)
    }

    /// Wraps `fut` so that every poll of it runs in this context, as a task's future does.
    pub fn scope<F: Future>(self, fut: F) -> Scope<F> {
        Scope { ctx: self, fut }
    }

    /// Number of variables set in this context.
    pub fn len(&self) -> usize {
        self.map.as_ref().map_or(0, |m| m.len())
    }

    /// Whether no variable is set in this context.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl fmt::Debug for Context {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Context").field("len", &self.len()).finish()
    }
}

/// A snapshot of the current context (asyncio's `contextvars.copy_context`).
pub fn copy_context() -> Context {
    Context { map: capture() }
}

pin_project_lite::pin_project! {
    /// The future of [`Context::scope`].
    #[must_use = "futures do nothing unless polled"]
    pub struct Scope<F> {
        ctx: Context,
        #[pin]
        fut: F,
    }
}

impl<F> fmt::Debug for Scope<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Scope").field("ctx", &self.ctx).finish()
    }
}

impl<F: Future> Future for Scope<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> Poll<F::Output> {
        let this = self.project();
        let fut = this.fut;
        enter(&mut this.ctx.map, || fut.poll(cx))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    static A: ContextVar<u32> = ContextVar::new("a");
    static B: ContextVar<&'static str> = ContextVar::with_default("b", "default");

    #[test]
    fn set_get_reset_in_a_private_context() {
        Context::new().run(|| {
            assert_eq!(A.get(), None);
            assert_eq!(B.get(), Some("default"));
            let t1 = A.set(1);
            let t2 = A.set(2);
            let _ = B.set("x");
            assert_eq!((A.get(), B.get()), (Some(2), Some("x")));
            A.reset(t2);
            assert_eq!(A.get(), Some(1));
            A.reset(t1);
            assert_eq!(A.get(), None);
        });
    }

    #[test]
    fn run_keeps_changes_in_its_context_only() {
        let mut ctx = Context::new();
        ctx.run(|| drop(A.set(5)));
        Context::new().run(|| assert_eq!(A.get(), None));
        assert_eq!(ctx.run(|| A.get()), Some(5));
        let snapshot = ctx.run(copy_context);
        ctx.run(|| drop(A.set(6)));
        assert_eq!(snapshot.clone().run(|| A.get()), Some(5));
        assert_eq!(ctx.len(), 1);
    }

    #[test]
    fn a_panic_inside_run_restores_the_outer_context() {
        let mut outer = Context::new();
        outer.run(|| {
            let _ = A.set(1);
            let r = std::panic::catch_unwind(|| {
                Context::new().run(|| {
                    let _ = A.set(99);
                    panic!("boom");
                })
            });
            assert!(r.is_err());
            assert_eq!(A.get(), Some(1));
        });
    }
}
