//! `App`: routes, middleware, state, sub-apps and lifecycle hooks (aiohttp's
//! `web.Application`), and the type-erased handler machinery behind it.

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};

use http::Method;

use super::lifecycle::{Entry, Hooks};
use super::request::Request;
use super::response::{IntoResponse, Response};
use super::router::{Pattern, Router};
use crate::error::{Error, Kind};

pub(crate) type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

/// A request handler: any `Fn(Request) -> impl Future<Output = impl IntoResponse>`, usually an
/// `async fn(Request) -> impl IntoResponse`. Implemented for all such functions and closures.
pub trait Handler: Send + Sync + 'static {
    #[doc(hidden)]
    fn erase(self) -> Arc<dyn ErasedHandler>;
}

impl<F, Fut, R> Handler for F
where
    F: Fn(Request) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = R> + Send + 'static,
    R: IntoResponse + 'static,
{
    fn erase(self) -> Arc<dyn ErasedHandler> {
        Arc::new(FnHandler(self))
    }
}

/// The object-safe face of a handler.
#[doc(hidden)]
pub trait ErasedHandler: Send + Sync {
    /// Calls the handler, boxing its future (used behind middleware).
    fn call_boxed(&self, req: Request) -> BoxFuture<Response>;
    /// A reusable place to run this handler's futures in, one per connection: calling the
    /// same route again on a keep-alive connection then allocates nothing.
    fn new_slot(&self) -> Box<dyn HandlerSlot>;
}

/// A per-connection, reusable home for one handler's future.
#[doc(hidden)]
pub trait HandlerSlot: Send {
    /// Starts the handler on `req`, replacing a finished future in place.
    fn start(&mut self, req: Request);
    /// Polls the running handler.
    fn poll(&mut self, cx: &mut Context<'_>) -> Poll<Response>;
}

struct FnHandler<F>(F);

impl<F, Fut, R> ErasedHandler for FnHandler<F>
where
    F: Fn(Request) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = R> + Send + 'static,
    R: IntoResponse + 'static,
{
    fn call_boxed(&self, req: Request) -> BoxFuture<Response> {
        Box::pin(Respond { fut: (self.0)(req) })
    }

    fn new_slot(&self) -> Box<dyn HandlerSlot> {
        Box::new(FnSlot {
            f: self.0.clone(),
            fut: Box::pin(None),
        })
    }
}

struct FnSlot<F, Fut> {
    f: F,
    /// `Pin<Box<Option<_>>>` so a new future can be written over the old one in place
    /// (`Pin::set`), keeping the allocation.
    fut: Pin<Box<Option<Fut>>>,
}

impl<F, Fut, R> HandlerSlot for FnSlot<F, Fut>
where
    F: Fn(Request) -> Fut + Send + 'static,
    Fut: Future<Output = R> + Send + 'static,
    R: IntoResponse,
{
    fn start(&mut self, req: Request) {
        let fut = (self.f)(req);
        self.fut.set(Some(fut));
    }

    fn poll(&mut self, cx: &mut Context<'_>) -> Poll<Response> {
        let Some(fut) = self.fut.as_mut().as_pin_mut() else {
            return Poll::Ready(Response::new(http::StatusCode::INTERNAL_SERVER_ERROR));
        };
        let out = futures_lite::ready!(fut.poll(cx));
        self.fut.set(None);
        Poll::Ready(out.into_response())
    }
}

/// Middleware: `Fn(Request, Next) -> impl Future<Output = impl IntoResponse>`. It may answer
/// by itself (short-circuit) or call [`Next::run`] and inspect or change the response.
pub trait Middleware: Send + Sync + 'static {
    #[doc(hidden)]
    fn call(&self, req: Request, next: Next) -> BoxFuture<Response>;
}

impl<F, Fut, R> Middleware for F
where
    F: Fn(Request, Next) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = R> + Send + 'static,
    R: IntoResponse,
{
    fn call(&self, req: Request, next: Next) -> BoxFuture<Response> {
        Box::pin(Respond {
            fut: self(req, next),
        })
    }
}

pin_project_lite::pin_project! {
    /// A handler's or a middleware's future whose output becomes a [`Response`]. A struct
    /// rather than `async move { fut.await.into_response() }`, which would hold `fut` twice
    /// (captured and awaited) and so box twice its size for every request.
    struct Respond<Fut> {
        #[pin]
        fut: Fut,
    }
}

impl<Fut, R> Future for Respond<Fut>
where
    Fut: Future<Output = R>,
    R: IntoResponse,
{
    type Output = Response;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Response> {
        self.project().fut.poll(cx).map(IntoResponse::into_response)
    }
}

/// What runs after the middleware chain.
pub(crate) enum Terminal {
    Handler(Arc<dyn ErasedHandler>),
    Fixed(Response),
}

/// The rest of the middleware chain and the handler; see [`Middleware`].
pub struct Next {
    chain: Arc<[Arc<dyn Middleware>]>,
    idx: usize,
    terminal: Terminal,
}

impl fmt::Debug for Next {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Next")
            .field("remaining", &(self.chain.len() - self.idx))
            .finish()
    }
}

impl Next {
    pub(crate) fn new(chain: Arc<[Arc<dyn Middleware>]>, terminal: Terminal) -> Next {
        Next {
            chain,
            idx: 0,
            terminal,
        }
    }

    /// Runs the rest of the chain.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future cancels the rest of the chain and the handler.
    pub fn run(self, req: Request) -> impl Future<Output = Response> + Send + 'static {
        self.into_future(req)
    }

    pub(crate) fn into_future(self, req: Request) -> BoxFuture<Response> {
        if let Some(mw) = self.chain.get(self.idx).cloned() {
            let next = Next {
                chain: self.chain,
                idx: self.idx + 1,
                terminal: self.terminal,
            };
            return mw.call(req, next);
        }
        match self.terminal {
            Terminal::Handler(h) => h.call_boxed(req),
            Terminal::Fixed(r) => Box::pin(std::future::ready(r)),
        }
    }
}

/// Typed application state, looked up by type (aiohttp's `app[key]`).
#[derive(Default)]
pub(crate) struct StateMap {
    values: HashMap<TypeId, Arc<dyn Any + Send + Sync>>,
    parent: Option<Arc<StateMap>>,
    /// Named routes' full patterns, on the root app's map.
    urls: Option<Arc<HashMap<Box<str>, Pattern>>>,
}

impl fmt::Debug for StateMap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StateMap")
            .field("len", &self.values.len())
            .finish()
    }
}

impl StateMap {
    pub(crate) fn get<T: Send + Sync + 'static>(&self) -> Option<&T> {
        match self.values.get(&TypeId::of::<T>()) {
            Some(v) => v.downcast_ref(),
            None => self.parent.as_ref()?.get(),
        }
    }

    /// Builds the path of the route named `name` (see [`App::name`]).
    pub(crate) fn url_for(&self, name: &str, params: &[(&str, &str)]) -> Result<String, Error> {
        let mut map = self;
        while let Some(parent) = &map.parent {
            map = parent;
        }
        let pattern = map
            .urls
            .as_ref()
            .and_then(|u| u.get(name))
            .ok_or_else(|| url_error(name, format!("no route is named {name:?}")))?;
        pattern.build(params).map_err(|why| url_error(name, why))
    }
}

fn url_error(name: &str, why: String) -> Error {
    Error::new(Kind::User, "cannot build the URL")
        .at(format!("route {name:?}"))
        .with_cause(why)
}

/// A configuration mistake found while building the app: which route or sub-app, and why.
#[derive(Debug)]
struct ConfigError {
    what: String,
    reason: String,
    cause: Option<regex::Error>,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.reason)
    }
}

impl std::error::Error for ConfigError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.cause.as_ref().map(|e| e as _)
    }
}

/// A resolved route as the router stores it.
pub(crate) struct Route {
    /// Unique id, the key of per-connection handler slots.
    pub(crate) id: usize,
    /// `None` matches every method.
    pub(crate) method: Option<Method>,
    pub(crate) pattern: Pattern,
    pub(crate) handler: Arc<dyn ErasedHandler>,
    pub(crate) middlewares: Arc<[Arc<dyn Middleware>]>,
    pub(crate) max_body: Option<u64>,
    pub(crate) state: Arc<StateMap>,
}

impl fmt::Debug for Route {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Route")
            .field("method", &self.method)
            .field("pattern", &self.pattern.raw)
            .finish()
    }
}

static NEXT_ROUTE_ID: AtomicUsize = AtomicUsize::new(1);

struct RouteDef {
    name: Option<String>,
    method: Option<Method>,
    pattern: String,
    handler: Arc<dyn ErasedHandler>,
    max_body: Option<u64>,
}

/// A web application: routes, middleware, state, sub-apps and hooks.
///
/// # Examples
///
/// ```
/// use tulip_http::{App, Request};
///
/// async fn hello(req: Request) -> String {
///     format!("Hello, {}", req.match_info("name").unwrap_or("anonymous"))
/// }
///
/// let app = App::new().get("/", hello).get("/{name}", hello);
/// # let _ = app;
/// ```
#[derive(Default)]
pub struct App {
    routes: Vec<RouteDef>,
    middlewares: Vec<Arc<dyn Middleware>>,
    pub(crate) subapps: Vec<(String, App)>,
    state: HashMap<TypeId, Arc<dyn Any + Send + Sync>>,
    pub(crate) hooks: Hooks,
    errors: Vec<ConfigError>,
}

impl fmt::Debug for App {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("App")
            .field("routes", &self.routes.len())
            .field("middlewares", &self.middlewares.len())
            .field("subapps", &self.subapps.len())
            .finish()
    }
}

impl App {
    /// An empty application.
    pub fn new() -> App {
        App::default()
    }

    /// Adds a route for `method` (or every method when `None`).
    ///
    /// `pattern` is a path with `{name}` parameters (read with
    /// [`Request::match_info`](crate::Request::match_info); one matches anything but `/`),
    /// `{name:regex}` parameters anywhere (`/v{major:\d+}/files/{path:.+}/raw`) and a greedy
    /// `{tail:.*}`, as in aiohttp. A bad pattern makes [`Server::bind`](crate::Server::bind)
    /// fail with an error naming the route and the reason. A path that matches with another
    /// method answers 405 with `Allow`.
    ///
    /// # Examples
    ///
    /// ```
    /// use tulip_http::{App, Client, Method, Request, Server, StatusCode};
    ///
    /// async fn put_item(req: Request) -> String {
    ///     format!("stored item {}", req.match_info("id").unwrap_or("?"))
    /// }
    ///
    /// tulip_executor::run(async {
    ///     let app = App::new()
    ///         .route(Some(Method::PUT), "/items/{id}", put_item)
    ///         .route(None, "/echo-method", |req: Request| async move {
    ///             req.method().to_string()
    ///         });
    ///     let server = Server::bind("127.0.0.1:0", app)?;
    ///     let base = format!("http://{}", server.local_addr());
    ///     let stop = server.shutdown_handle();
    ///     let running = tulip_executor::spawn(server.run());
    ///
    ///     let client = Client::new();
    ///     let r = client.put(format!("{base}/items/7")).send().await?;
    ///     assert_eq!(r.text().await?, "stored item 7");
    ///     let r = client.delete(format!("{base}/echo-method")).send().await?;
    ///     assert_eq!(r.text().await?, "DELETE");
    ///     // The path exists, but not for GET.
    ///     let r = client.get(format!("{base}/items/7")).send().await?;
    ///     assert_eq!(r.status(), StatusCode::METHOD_NOT_ALLOWED);
    ///     assert_eq!(r.headers()["allow"], "PUT");
    ///
    ///     stop.shutdown();
    ///     running.await.expect("the server task")?;
    ///     Ok::<_, tulip_http::Error>(())
    /// })?;
    /// # Ok::<_, tulip_http::Error>(())
    /// ```
    pub fn route(self, method: Option<Method>, pattern: &str, handler: impl Handler) -> App {
        self.route_inner(method, pattern, handler.erase(), None)
    }

    /// Adds a route with its own request-body limit (in bytes).
    pub fn route_with_limit(
        self,
        method: Method,
        pattern: &str,
        max_body: u64,
        handler: impl Handler,
    ) -> App {
        self.route_inner(Some(method), pattern, handler.erase(), Some(max_body))
    }

    pub(crate) fn route_inner(
        mut self,
        method: Option<Method>,
        pattern: &str,
        handler: Arc<dyn ErasedHandler>,
        max_body: Option<u64>,
    ) -> App {
        if let Err(e) = Pattern::parse(pattern) {
            let method = method.as_ref().map_or("*", Method::as_str);
            self.errors.push(ConfigError {
                what: format!("route {method} {pattern}"),
                reason: e.reason,
                cause: e.cause,
            });
        }
        self.routes.push(RouteDef {
            name: None,
            method,
            pattern: pattern.to_string(),
            handler,
            max_body,
        });
        self
    }

    /// `GET` route (also answers `HEAD`).
    pub fn get(self, pattern: &str, handler: impl Handler) -> App {
        self.route(Some(Method::GET), pattern, handler)
    }

    /// `POST` route.
    pub fn post(self, pattern: &str, handler: impl Handler) -> App {
        self.route(Some(Method::POST), pattern, handler)
    }

    /// `PUT` route.
    pub fn put(self, pattern: &str, handler: impl Handler) -> App {
        self.route(Some(Method::PUT), pattern, handler)
    }

    /// `DELETE` route.
    pub fn delete(self, pattern: &str, handler: impl Handler) -> App {
        self.route(Some(Method::DELETE), pattern, handler)
    }

    /// Names the route added last, for [`Request::url_for`](crate::Request::url_for) and
    /// [`App::url_for`] (aiohttp's `name=`). Names are unique across the app and its sub-apps.
    ///
    /// ```
    /// use tulip_http::{App, Request};
    ///
    /// async fn user(req: Request) -> String {
    ///     req.match_info("id").unwrap_or("?").to_string()
    /// }
    ///
    /// let api = App::new().get("/users/{id:\\d+}", user).name("user");
    /// let app = App::new().subapp("/api", api);
    /// assert_eq!(app.url_for("user", &[("id", "3")]).unwrap(), "/api/users/3");
    /// assert!(app.url_for("user", &[("id", "x")]).is_err());
    /// ```
    pub fn name(mut self, name: &str) -> App {
        match self.routes.last_mut() {
            Some(r) if r.name.is_none() => r.name = Some(name.to_string()),
            _ => self.errors.push(ConfigError {
                what: format!("name {name:?}"),
                reason: "name() must follow the route it names, once".into(),
                cause: None,
            }),
        }
        self
    }

    /// Builds the path of the route named `name` with these parameter values, before the app
    /// is served; in a handler use [`Request::url_for`](crate::Request::url_for).
    ///
    /// # Errors
    ///
    /// [`Error::is_user`] when no route has that name, a parameter is missing or unknown, or
    /// a value does not match its parameter's regex; the cause says which.
    pub fn url_for(&self, name: &str, params: &[(&str, &str)]) -> Result<String, Error> {
        let full = find_named(self, "", name)
            .ok_or_else(|| url_error(name, format!("no route is named {name:?}")))?;
        let pattern = Pattern::parse(&full)
            .map_err(|e| url_error(name, format!("{full:?}: {}", e.reason)))?;
        pattern.build(params).map_err(|why| url_error(name, why))
    }

    /// Adds middleware; the first added runs outermost.
    pub fn middleware(mut self, mw: impl Middleware) -> App {
        self.middlewares.push(Arc::new(mw));
        self
    }

    /// Stores state that handlers reach with [`Request::state`].
    pub fn state<T: Send + Sync + 'static>(mut self, value: T) -> App {
        self.state.insert(TypeId::of::<T>(), Arc::new(value));
        self
    }

    /// Mounts `sub` under `prefix` (e.g. `/admin`); its middleware runs inside ours, and its
    /// lifecycle hooks run at this point of ours (see [`App::on_startup`]).
    pub fn subapp(mut self, prefix: &str, sub: App) -> App {
        if !prefix.starts_with('/') || prefix.ends_with('/') || prefix.contains(['{', '}']) {
            self.errors.push(ConfigError {
                what: format!("sub-app {prefix}"),
                reason: "a prefix must start and not end with '/', and has no parameters".into(),
                cause: None,
            });
        }
        let i = self.subapps.len();
        self.hooks.startup.push(Entry::Sub(i));
        self.hooks.shutdown.push(Entry::Sub(i));
        self.hooks.cleanup.push(Entry::Sub(i));
        self.subapps.push((prefix.to_string(), sub));
        self
    }

    /// Freezes the app into its routing table; configuration mistakes surface here.
    pub(crate) fn freeze(&mut self) -> Result<Arc<Frozen>, Error> {
        let mut errors = Vec::new();
        collect_errors(self, &mut errors);
        let mut urls = HashMap::new();
        collect_names(self, "", &mut urls, &mut errors);
        if !errors.is_empty() {
            for e in &errors {
                log::error!("invalid app configuration: {}: {}", e.what, e.reason);
            }
            let first = errors.swap_remove(0);
            return Err(Error::new(Kind::User, "invalid app configuration")
                .at(first.what.clone())
                .with_cause(first));
        }
        let mut router = Router::default();
        let root_state = Arc::new(StateMap {
            values: std::mem::take(&mut self.state),
            parent: None,
            urls: Some(Arc::new(urls)),
        });
        let root_mw: Arc<[Arc<dyn Middleware>]> = self.middlewares.clone().into();
        self.hooks.state = Some(root_state.clone());
        flatten(self, "", &root_mw, &root_state, &mut router);
        Ok(Arc::new(Frozen {
            router,
            middlewares: root_mw,
            state: root_state,
        }))
    }
}

fn collect_errors(app: &mut App, out: &mut Vec<ConfigError>) {
    out.append(&mut app.errors);
    for (_, sub) in &mut app.subapps {
        collect_errors(sub, out);
    }
}

fn full_pattern(prefix: &str, pattern: &str) -> String {
    if pattern == "/" && !prefix.is_empty() {
        prefix.to_string()
    } else {
        format!("{prefix}{pattern}")
    }
}

/// The full pattern of the route named `name`, searching sub-apps too.
fn find_named(app: &App, prefix: &str, name: &str) -> Option<String> {
    if let Some(def) = app.routes.iter().find(|r| r.name.as_deref() == Some(name)) {
        return Some(full_pattern(prefix, &def.pattern));
    }
    app.subapps
        .iter()
        .find_map(|(p, sub)| find_named(sub, &format!("{prefix}{p}"), name))
}

fn collect_names(
    app: &App,
    prefix: &str,
    out: &mut HashMap<Box<str>, Pattern>,
    errors: &mut Vec<ConfigError>,
) {
    for def in &app.routes {
        let Some(name) = &def.name else { continue };
        let full = full_pattern(prefix, &def.pattern);
        let Ok(pattern) = Pattern::parse(&full) else {
            continue;
        };
        if out.insert(name.as_str().into(), pattern).is_some() {
            errors.push(ConfigError {
                what: format!("name {name:?}"),
                reason: "two routes have this name".into(),
                cause: None,
            });
        }
    }
    for (p, sub) in &app.subapps {
        collect_names(sub, &format!("{prefix}{p}"), out, errors);
    }
}

fn flatten(
    app: &mut App,
    prefix: &str,
    mw: &Arc<[Arc<dyn Middleware>]>,
    state: &Arc<StateMap>,
    router: &mut Router,
) {
    for def in app.routes.drain(..) {
        let full = full_pattern(prefix, &def.pattern);
        let Ok(pattern) = Pattern::parse(&full) else {
            continue;
        };
        router.add(Arc::new(Route {
            id: NEXT_ROUTE_ID.fetch_add(1, Ordering::Relaxed),
            method: def.method,
            pattern,
            handler: def.handler,
            middlewares: mw.clone(),
            max_body: def.max_body,
            state: state.clone(),
        }));
    }
    for (sub_prefix, sub) in &mut app.subapps {
        let chain: Vec<Arc<dyn Middleware>> =
            mw.iter().chain(sub.middlewares.iter()).cloned().collect();
        let chain: Arc<[Arc<dyn Middleware>]> = chain.into();
        let sub_state = Arc::new(StateMap {
            values: std::mem::take(&mut sub.state),
            parent: Some(state.clone()),
            urls: None,
        });
        sub.hooks.state = Some(sub_state.clone());
        flatten(
            sub,
            &format!("{prefix}{sub_prefix}"),
            &chain,
            &sub_state,
            router,
        );
    }
}

/// A frozen app, shared by all connections.
pub(crate) struct Frozen {
    pub(crate) router: Router,
    /// The root app's middleware, which also wraps 404 and 405 answers.
    pub(crate) middlewares: Arc<[Arc<dyn Middleware>]>,
    pub(crate) state: Arc<StateMap>,
}

impl fmt::Debug for Frozen {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Frozen")
            .field("routes", &self.router.routes().len())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A GET / with no body, as the dispatcher would hand it to a handler.
    fn request() -> Request {
        let buf = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n";
        let limits = crate::ServerConfig::default().head_limits();
        let parsed = crate::proto::role::parse_request(buf, &limits)
            .unwrap()
            .unwrap();
        Request {
            head: parsed.into_head(bytes::Bytes::from_static(buf)).unwrap(),
            params: super::super::router::Params::new(),
            route: None,
            state: Arc::new(StateMap::default()),
            peer: None,
            body: None,
            upgrade: None,
        }
    }

    /// A handler whose future keeps 4 KiB across an await.
    async fn big(_req: Request) -> &'static str {
        let buf = [7u8; 4096];
        futures_lite::future::yield_now().await;
        if std::hint::black_box(&buf)[0] == 7 {
            "big"
        } else {
            "?"
        }
    }

    /// Behind middleware a handler's future is boxed for every request: the box holds it
    /// once, not a captured copy beside the awaited one.
    #[test]
    fn a_boxed_handler_future_holds_the_handler_once() {
        let handler = FnHandler(big);
        let boxed = handler.call_boxed(request());
        let size = std::mem::size_of_val(&*boxed);
        assert!(
            size < 4096 + 512,
            "the boxed handler future is {size} bytes"
        );
        let mw = |req: Request, _next: Next| big(req);
        let boxed = Middleware::call(
            &mw,
            request(),
            Next::new(
                Arc::from([]),
                Terminal::Fixed(Response::new(http::StatusCode::OK)),
            ),
        );
        let size = std::mem::size_of_val(&*boxed);
        assert!(
            size < 4096 + 512,
            "the boxed middleware future is {size} bytes"
        );
    }
}
