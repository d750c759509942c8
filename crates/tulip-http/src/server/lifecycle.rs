//! Lifecycle hooks in aiohttp's order: `on_startup`, `on_shutdown`, `on_cleanup` and
//! `cleanup_ctx` setup/teardown pairs, on the root app and on every sub-app.
//!
//! As in aiohttp, an app's own hooks run in registration order, and a sub-app's hooks run
//! where it was mounted ([`App::subapp`](crate::App::subapp) registers them as one of the
//! parent's hooks). An app's `cleanup_ctx` setups run before its `on_startup` hooks, and their
//! teardowns (in reverse order) before its `on_cleanup` hooks. A failing startup hook stops the
//! start: the contexts already set up are torn down and `Server::run` returns the error.

use std::error::Error as StdError;
use std::fmt;
use std::future::Future;
use std::sync::{Arc, Mutex};

use super::app::{App, BoxFuture, StateMap};
use crate::error::{Error, Kind, Phase};

/// The boxed error a hook may fail with.
pub type HookError = Box<dyn StdError + Send + Sync>;

/// What a hook's future may return: `()` or `Result<(), E>` for any error type `E`.
pub trait HookResult: Send + 'static {
    #[doc(hidden)]
    fn into_hook_result(self) -> Result<(), HookError>;
}

impl HookResult for () {
    fn into_hook_result(self) -> Result<(), HookError> {
        Ok(())
    }
}

impl<E: Into<HookError> + Send + 'static> HookResult for Result<(), E> {
    fn into_hook_result(self) -> Result<(), HookError> {
        self.map_err(Into::into)
    }
}

/// The app a hook belongs to (aiohttp passes `app`): its state, and its parents' (as
/// [`Request::state`](crate::Request::state) sees it), and URL building. Cheap to clone.
///
/// State is fixed before hooks run; a value a hook creates (a connection pool) goes into a
/// state slot made for it, e.g. a `std::sync::OnceLock<Pool>`.
#[derive(Clone)]
pub struct AppState {
    pub(crate) map: Arc<StateMap>,
}

impl fmt::Debug for AppState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AppState").finish_non_exhaustive()
    }
}

impl AppState {
    /// State stored with [`App::state`](crate::App::state) on this app or a parent.
    pub fn get<T: Send + Sync + 'static>(&self) -> Option<&T> {
        self.map.get::<T>()
    }

    /// The path of a named route; see [`Request::url_for`](crate::Request::url_for).
    pub fn url_for(&self, name: &str, params: &[(&str, &str)]) -> Result<String, Error> {
        self.map.url_for(name, params)
    }
}

pub(crate) type Hook = Box<dyn FnOnce(AppState) -> BoxFuture<Result<(), HookError>> + Send>;
type Teardown = Box<dyn FnOnce() -> BoxFuture<Result<(), HookError>> + Send>;
type Setup = Box<dyn FnOnce(AppState) -> BoxFuture<Result<Teardown, HookError>> + Send>;
/// Where a context's teardown waits once its setup succeeded.
type Slot = Arc<Mutex<Option<Teardown>>>;

/// One entry of an app's hook list: its own hook, or the sub-app mounted at that point.
pub(crate) enum Entry {
    Own(Hook),
    Sub(usize),
}

/// An app's hooks before freezing.
#[derive(Default)]
pub(crate) struct Hooks {
    pub(crate) startup: Vec<Entry>,
    pub(crate) shutdown: Vec<Entry>,
    pub(crate) cleanup: Vec<Entry>,
    ctx: Vec<Setup>,
    /// Filled while the startup list is built, read when the cleanup list is.
    slots: Vec<Slot>,
    /// The app's frozen state, set by `App::freeze`.
    pub(crate) state: Option<Arc<StateMap>>,
}

pub(crate) fn boxed_hook<F, Fut, R>(f: F) -> Hook
where
    F: FnOnce(AppState) -> Fut + Send + 'static,
    Fut: Future<Output = R> + Send + 'static,
    R: HookResult,
{
    Box::new(move |app| {
        let fut = f(app);
        Box::pin(async move { fut.await.into_hook_result() })
    })
}

impl App {
    /// Runs `f` when the server starts, before it accepts (aiohttp's `on_startup`). A hook
    /// that fails stops the start: [`Server::run`](crate::Server::run) returns its error.
    ///
    /// ```
    /// use tulip_http::{App, AppState};
    ///
    /// struct Config { greeting: &'static str }
    ///
    /// let app = App::new()
    ///     .state(Config { greeting: "hi" })
    ///     .on_startup(|app: AppState| async move {
    ///         if app.get::<Config>().is_none() {
    ///             return Err("no Config in the app state");
    ///         }
    ///         Ok(())
    ///     });
    /// # let _ = app;
    /// ```
    pub fn on_startup<F, Fut, R>(mut self, f: F) -> App
    where
        F: FnOnce(AppState) -> Fut + Send + 'static,
        Fut: Future<Output = R> + Send + 'static,
        R: HookResult,
    {
        self.hooks.startup.push(Entry::Own(boxed_hook(f)));
        self
    }

    /// Runs `f` during graceful shutdown, once connections are done (aiohttp's
    /// `on_shutdown`; WebSockets were already closed with 1001 by then).
    pub fn on_shutdown<F, Fut, R>(mut self, f: F) -> App
    where
        F: FnOnce(AppState) -> Fut + Send + 'static,
        Fut: Future<Output = R> + Send + 'static,
        R: HookResult,
    {
        self.hooks.shutdown.push(Entry::Own(boxed_hook(f)));
        self
    }

    /// Runs `f` last, after every `on_shutdown` hook (aiohttp's `on_cleanup`).
    pub fn on_cleanup<F, Fut, R>(mut self, f: F) -> App
    where
        F: FnOnce(AppState) -> Fut + Send + 'static,
        Fut: Future<Output = R> + Send + 'static,
        R: HookResult,
    {
        self.hooks.cleanup.push(Entry::Own(boxed_hook(f)));
        self
    }

    /// A setup/teardown pair (aiohttp's `cleanup_ctx`): `setup` runs at startup, before this
    /// app's `on_startup` hooks, and what it returns is handed to `teardown` at cleanup, before
    /// this app's `on_cleanup` hooks. Teardowns run in reverse order, and only for setups
    /// that succeeded, also when a later startup step fails.
    ///
    /// ```
    /// use std::sync::{Arc, OnceLock};
    /// use tulip_http::{App, AppState, Request};
    ///
    /// struct Pool(Vec<String>); // stands for a database pool
    ///
    /// #[derive(Default)]
    /// struct Db(OnceLock<Arc<Pool>>);
    ///
    /// let app = App::new()
    ///     .state(Db::default())
    ///     .cleanup_ctx(
    ///         |app: AppState| async move {
    ///             let pool = Arc::new(Pool(vec!["conn".into()]));
    ///             let _ = app.get::<Db>().unwrap().0.set(pool.clone());
    ///             Ok::<_, std::io::Error>(pool)
    ///         },
    ///         |pool: Arc<Pool>| async move { drop(pool) },
    ///     )
    ///     .get("/", |req: Request| async move {
    ///         let pool = req.state::<Db>().and_then(|d| d.0.get());
    ///         format!("{} connections", pool.map_or(0, |p| p.0.len()))
    ///     });
    /// # let _ = app;
    /// ```
    pub fn cleanup_ctx<S, SFut, V, E, T, TFut, R>(mut self, setup: S, teardown: T) -> App
    where
        S: FnOnce(AppState) -> SFut + Send + 'static,
        SFut: Future<Output = Result<V, E>> + Send + 'static,
        V: Send + 'static,
        E: Into<HookError> + Send + 'static,
        T: FnOnce(V) -> TFut + Send + 'static,
        TFut: Future<Output = R> + Send + 'static,
        R: HookResult,
    {
        self.hooks.ctx.push(Box::new(move |app| {
            let fut = setup(app);
            Box::pin(async move {
                let value = fut.await.map_err(Into::into)?;
                let td: Teardown = Box::new(move || {
                    let fut = teardown(value);
                    Box::pin(async move { fut.await.into_hook_result() })
                });
                Ok(td)
            })
        }));
        self
    }
}

enum Start {
    Hook(AppState, Hook),
    Ctx(AppState, Setup, Slot),
}

enum Clean {
    Hook(AppState, Hook),
    Ctx(Slot),
}

/// Every hook of an app tree, flattened in running order.
#[derive(Default)]
pub(crate) struct Lifecycle {
    startup: Vec<Start>,
    shutdown: Vec<(AppState, Hook)>,
    cleanup: Vec<Clean>,
    /// Contexts set up so far, in order.
    started: Vec<Slot>,
}

impl fmt::Debug for Lifecycle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Lifecycle")
            .field("startup", &self.startup.len())
            .field("shutdown", &self.shutdown.len())
            .field("cleanup", &self.cleanup.len())
            .finish()
    }
}

fn state_of(app: &App) -> AppState {
    AppState {
        map: app.hooks.state.clone().unwrap_or_default(),
    }
}

fn collect_startup(app: &mut App, out: &mut Vec<Start>) {
    let st = state_of(app);
    for setup in std::mem::take(&mut app.hooks.ctx) {
        let slot = Slot::default();
        app.hooks.slots.push(slot.clone());
        out.push(Start::Ctx(st.clone(), setup, slot));
    }
    for e in std::mem::take(&mut app.hooks.startup) {
        match e {
            Entry::Own(h) => out.push(Start::Hook(st.clone(), h)),
            Entry::Sub(i) => collect_startup(&mut app.subapps[i].1, out),
        }
    }
}

fn collect_shutdown(app: &mut App, out: &mut Vec<(AppState, Hook)>) {
    let st = state_of(app);
    for e in std::mem::take(&mut app.hooks.shutdown) {
        match e {
            Entry::Own(h) => out.push((st.clone(), h)),
            Entry::Sub(i) => collect_shutdown(&mut app.subapps[i].1, out),
        }
    }
}

fn collect_cleanup(app: &mut App, out: &mut Vec<Clean>) {
    let st = state_of(app);
    for slot in std::mem::take(&mut app.hooks.slots).into_iter().rev() {
        out.push(Clean::Ctx(slot));
    }
    for e in std::mem::take(&mut app.hooks.cleanup) {
        match e {
            Entry::Own(h) => out.push(Clean::Hook(st.clone(), h)),
            Entry::Sub(i) => collect_cleanup(&mut app.subapps[i].1, out),
        }
    }
}

fn take(slot: &Slot) -> Option<Teardown> {
    slot.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .take()
}

fn hook_error(phase: Phase, e: HookError) -> Error {
    Error::new(Kind::Hook, "a hook failed")
        .during(phase)
        .with_cause(e)
}

impl Lifecycle {
    /// Takes every hook out of a frozen app tree (states set by `freeze`).
    pub(crate) fn collect(app: &mut App) -> Lifecycle {
        let mut lc = Lifecycle::default();
        collect_startup(app, &mut lc.startup);
        collect_shutdown(app, &mut lc.shutdown);
        collect_cleanup(app, &mut lc.cleanup);
        lc
    }

    /// Runs the startup steps; on a failure, tears down the contexts set up so far and
    /// returns the error.
    pub(crate) async fn startup(&mut self) -> Result<(), Error> {
        for step in std::mem::take(&mut self.startup) {
            let result = match step {
                Start::Hook(st, h) => h(st).await,
                Start::Ctx(st, setup, slot) => match setup(st).await {
                    Ok(td) => {
                        *slot
                            .lock()
                            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(td);
                        self.started.push(slot);
                        Ok(())
                    }
                    Err(e) => Err(e),
                },
            };
            if let Err(e) = result {
                let err = hook_error(Phase::Startup, e);
                log::error!("startup failed: {err}; tearing down what was set up");
                for slot in std::mem::take(&mut self.started).iter().rev() {
                    if let Some(td) = take(slot) {
                        if let Err(e) = td().await {
                            log::error!("cleanup_ctx teardown failed: {e}");
                        }
                    }
                }
                self.shutdown.clear();
                self.cleanup.clear();
                return Err(err);
            }
        }
        Ok(())
    }

    /// Runs `on_shutdown`, then the teardowns and `on_cleanup`, all of them even when some
    /// fail; returns the first failure.
    pub(crate) async fn stop(&mut self) -> Result<(), Error> {
        let mut first: Option<Error> = None;
        let mut note = |phase: Phase, r: Result<(), HookError>| {
            if let Err(e) = r {
                let err = hook_error(phase, e);
                log::error!("{err}: {}", crate::error::Chain(&err));
                first.get_or_insert(err);
            }
        };
        for (st, h) in std::mem::take(&mut self.shutdown) {
            note(Phase::Shutdown, h(st).await);
        }
        for c in std::mem::take(&mut self.cleanup) {
            match c {
                Clean::Hook(st, h) => note(Phase::Cleanup, h(st).await),
                Clean::Ctx(slot) => {
                    if let Some(td) = take(&slot) {
                        note(Phase::Cleanup, td().await);
                    }
                }
            }
        }
        first.map_or(Ok(()), Err)
    }
}
