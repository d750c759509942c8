//! The request a handler receives: head views without copies, `match_info`, query, body.

use std::borrow::Cow;
use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;

use http::{HeaderMap, HeaderName, HeaderValue, Method, Version};

use super::app::{Route, StateMap};
use super::body::Body;
use super::multipart::{Form, Multipart};
use super::router::Params;
use super::upgrade::{OnUpgrade, UpgradeSlot};
use crate::error::Error;
use crate::proto::role::RequestHead;

/// An incoming request (aiohttp's `web.Request`).
///
/// The head is one shared buffer; method, path, headers and route parameters are views into
/// it, so building a `Request` copies nothing.
pub struct Request {
    pub(crate) head: Box<RequestHead>,
    pub(crate) params: Params,
    pub(crate) route: Option<Arc<Route>>,
    pub(crate) state: Arc<StateMap>,
    pub(crate) peer: Option<SocketAddr>,
    pub(crate) body: Option<Body>,
    pub(crate) upgrade: Option<Arc<UpgradeSlot>>,
}

impl fmt::Debug for Request {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Request")
            .field("method", &self.head.method)
            .field("path", &self.path())
            .field("version", &self.head.version)
            .finish()
    }
}

impl Request {
    /// The method.
    pub fn method(&self) -> &Method {
        &self.head.method
    }

    /// The HTTP version (1.0, 1.1, or 2 for a request served over HTTP/2).
    pub fn version(&self) -> Version {
        self.head.version
    }

    /// The path, still percent-encoded, without the query (`/a%20b`).
    pub fn path(&self) -> &str {
        self.head.str(self.head.path)
    }

    /// The raw query string without `?`, if any.
    pub fn query_string(&self) -> Option<&str> {
        self.head.query.map(|q| self.head.str(q))
    }

    /// The first query parameter named `name`, percent-decoded.
    pub fn query(&self, name: &str) -> Option<Cow<'_, str>> {
        let q = self.query_string()?;
        form_urlencoded::parse(q.as_bytes())
            .find(|(k, _)| k == name)
            .map(|(_, v)| v)
    }

    /// All query parameters, percent-decoded.
    pub fn query_pairs(&self) -> Vec<(String, String)> {
        match self.query_string() {
            Some(q) => form_urlencoded::parse(q.as_bytes()).into_owned().collect(),
            None => Vec::new(),
        }
    }

    /// A route parameter (`{name}` in the pattern) as it appears in the path.
    pub fn match_info(&self, name: &str) -> Option<&str> {
        let route = self.route.as_ref()?;
        let i = route.pattern.names.iter().position(|n| &**n == name)?;
        let (a, b) = *self.params.get(i)?;
        self.path().get(a as usize..b as usize)
    }

    /// A route parameter, percent-decoded (`None` if absent or not UTF-8 after decoding).
    pub fn match_info_decoded(&self, name: &str) -> Option<Cow<'_, str>> {
        percent_encoding::percent_decode_str(self.match_info(name)?)
            .decode_utf8()
            .ok()
    }

    /// The path of the route named `name` (see [`App::name`](crate::App::name)) with these
    /// parameter values, percent-encoded (aiohttp's `request.app.router[name].url_for(...)`).
    ///
    /// # Errors
    ///
    /// [`Error::is_user`] when no route has that name, a parameter is missing or unknown, or a
    /// value does not match its parameter's regex; the cause says which.
    pub fn url_for(&self, name: &str, params: &[(&str, &str)]) -> Result<String, Error> {
        self.state.url_for(name, params)
    }

    /// The first header named `name` (case-insensitive), if it is valid UTF-8.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.header_bytes(name)
            .and_then(|v| std::str::from_utf8(v).ok())
    }

    /// The first header named `name` (case-insensitive), as bytes.
    pub fn header_bytes(&self, name: &str) -> Option<&[u8]> {
        self.head
            .headers
            .iter()
            .find(|h| {
                self.head
                    .slice(h.name)
                    .eq_ignore_ascii_case(name.as_bytes())
            })
            .map(|h| self.head.slice(h.value))
    }

    /// Every header as `(name, value)`, in arrival order, names as sent.
    pub fn headers(&self) -> impl Iterator<Item = (&str, &[u8])> + '_ {
        self.head
            .headers
            .iter()
            .map(|h| (self.head.str(h.name), self.head.slice(h.value)))
    }

    /// The headers as an `http::HeaderMap` (built on each call; prefer [`header`](Request::header)).
    pub fn header_map(&self) -> HeaderMap {
        let mut map = HeaderMap::with_capacity(self.head.headers.len());
        for h in &self.head.headers {
            let name = HeaderName::from_bytes(self.head.slice(h.name));
            let value = HeaderValue::from_maybe_shared(
                self.head.head.slice(h.value.0 as usize..h.value.1 as usize),
            );
            if let (Ok(n), Ok(v)) = (name, value) {
                map.append(n, v);
            }
        }
        map
    }

    /// The first cookie named `name` sent by the client; see [`cookies`](Request::cookies).
    pub fn cookie(&self, name: &str) -> Option<&str> {
        self.cookie_pairs()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v)
    }

    /// Every cookie the client sent (aiohttp's `request.cookies`), in order, from every
    /// `Cookie` header, parsed as RFC 6265 describes (`a=1; b="2"`; quotes around a value are
    /// removed, a pair without `=` is skipped). Values are as sent, not percent-decoded.
    ///
    /// ```
    /// use tulip_http::Request;
    ///
    /// async fn who(req: Request) -> String {
    ///     let cookies = req.cookies();
    ///     format!("{} cookies, session {:?}", cookies.len(), req.cookie("session"))
    /// }
    /// # let _ = tulip_http::App::new().get("/", who);
    /// ```
    pub fn cookies(&self) -> Vec<(&str, &str)> {
        self.cookie_pairs().collect()
    }

    fn cookie_pairs(&self) -> impl Iterator<Item = (&str, &str)> + '_ {
        self.head
            .headers
            .iter()
            .filter(|h| self.head.slice(h.name).eq_ignore_ascii_case(b"cookie"))
            .flat_map(|h| super::cookies::parse_cookie_header(self.head.str(h.value)))
    }

    /// The peer's address, when served over a socket.
    pub fn peer_addr(&self) -> Option<SocketAddr> {
        self.peer
    }

    /// App state stored with [`App::state`](crate::App::state); sub-apps see their parents'.
    pub fn state<T: Send + Sync + 'static>(&self) -> Option<&T> {
        self.state.get::<T>()
    }

    /// Whether the client asked to keep the connection open.
    pub fn keep_alive(&self) -> bool {
        self.head.keep_alive
    }

    /// Takes the body stream (later calls get an empty body).
    pub fn take_body(&mut self) -> Body {
        self.body.take().unwrap_or_else(Body::empty)
    }

    /// Reads the whole body (bounded by the route's limit; 413 when exceeded).
    ///
    /// # Cancel safety
    ///
    /// Not cancel-safe: pieces read before cancellation are lost.
    pub async fn bytes(&mut self) -> Result<bytes::Bytes, Error> {
        match self.body.as_mut() {
            Some(b) => b.bytes().await,
            None => Ok(bytes::Bytes::new()),
        }
    }

    /// Reads the whole body as UTF-8 text.
    ///
    /// # Cancel safety
    ///
    /// Not cancel-safe, like [`bytes`](Request::bytes).
    pub async fn text(&mut self) -> Result<String, Error> {
        match self.body.as_mut() {
            Some(b) => b.text().await,
            None => Ok(String::new()),
        }
    }

    /// Reads the whole body as JSON.
    ///
    /// # Cancel safety
    ///
    /// Not cancel-safe, like [`bytes`](Request::bytes).
    #[cfg(feature = "json")]
    pub async fn json<T: serde::de::DeserializeOwned>(&mut self) -> Result<T, Error> {
        self.take_body().json().await
    }

    /// Reads the whole body as a url-encoded form.
    ///
    /// # Cancel safety
    ///
    /// Not cancel-safe, like [`bytes`](Request::bytes).
    pub async fn form(&mut self) -> Result<Vec<(String, String)>, Error> {
        self.take_body().form().await
    }

    /// Reads the body as a stream of `multipart/form-data` parts (aiohttp's
    /// `request.multipart()`); see [`Multipart`] for an example.
    ///
    /// # Errors
    ///
    /// [`Error::is_decode`] (answered 400 with the reason) when the content type is not
    /// `multipart/*` or has no boundary.
    pub fn multipart(&mut self) -> Result<Multipart, Error> {
        let ct = self.header("content-type").unwrap_or("");
        let boundary = super::multipart::boundary(ct)?;
        Ok(Multipart::new(self.take_body(), &boundary))
    }

    /// Reads a whole form (aiohttp's `request.post()`): url-encoded, or `multipart/form-data`
    /// with files read into memory under the default [`MultipartLimits`](crate::MultipartLimits)
    /// and the route's body limit. Any other content type gives an empty form.
    ///
    /// ```
    /// use tulip_http::Request;
    ///
    /// async fn login(mut req: Request) -> Result<String, tulip_http::Error> {
    ///     let form = req.post().await?;
    ///     Ok(format!("hello {}", form.get("user").unwrap_or("?")))
    /// }
    /// # let _ = tulip_http::App::new().post("/login", login);
    /// ```
    ///
    /// # Errors
    ///
    /// A malformed body (400) or a broken limit (413), each naming the reason.
    ///
    /// # Cancel safety
    ///
    /// Not cancel-safe, like [`bytes`](Request::bytes).
    pub async fn post(&mut self) -> Result<Form, Error> {
        let ct = self.header("content-type").unwrap_or("");
        let mime = ct.split(';').next().unwrap_or("").trim();
        if mime.eq_ignore_ascii_case("application/x-www-form-urlencoded") {
            return Ok(Form::from_pairs(self.form().await?));
        }
        if mime.len() >= 10 && mime[..10].eq_ignore_ascii_case("multipart/") {
            let mp = self.multipart()?;
            return Form::read_multipart(mp).await;
        }
        Ok(Form::default())
    }

    /// Asks for the connection after the response: answer with status 101 and await the
    /// returned future (in a spawned task) to get the raw transport. `None` unless the
    /// request carries `Connection: upgrade` and `Upgrade`.
    pub fn on_upgrade(&mut self) -> Option<OnUpgrade> {
        let slot = self.upgrade.as_ref()?;
        Some(OnUpgrade::new(slot.clone()))
    }
}
