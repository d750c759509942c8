//! [`RequestBuilder`]: headers, query, body and per-request timeouts.

use std::io;
use std::time::Duration;

use bytes::Bytes;
use futures_lite::Stream;
use http::Method;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};

use super::body::ReqBody;
use super::url::Target;
use super::{BasicAuth, Client, ClientResponse, ClientTimeout, FormData};
use crate::error::Error;

/// A request being built; [`RequestBuilder::send`] sends it.
#[derive(Debug)]
#[must_use = "a request does nothing until sent"]
pub struct RequestBuilder {
    pub(crate) client: Client,
    pub(crate) method: Method,
    pub(crate) target: Result<Target, Error>,
    pub(crate) headers: HeaderMap,
    pub(crate) query: Vec<(String, String)>,
    pub(crate) body: ReqBody,
    pub(crate) timeouts: ClientTimeout,
    pub(crate) max_redirects: usize,
    /// This request's own proxy and proxy credentials (`proxy.rs`).
    pub(crate) proxy: super::proxy::RequestProxy,
    /// This request's own credentials (over the URL's and the client's).
    pub(crate) auth: Option<BasicAuth>,
    /// Cookies sent with this request besides the jar's (aiohttp's `cookies=`).
    pub(crate) cookies: Vec<(String, String)>,
    pub(crate) raise_for_status: bool,
}

impl RequestBuilder {
    pub(crate) fn new(client: Client, method: Method, url: &str) -> RequestBuilder {
        let cfg = &client.inner.config;
        let target = if url.starts_with("http://") || url.starts_with("https://") {
            Target::parse(url)
        } else {
            match &cfg.base_url {
                Some(base) => base.join(url),
                None => Target::parse(url),
            }
        };
        let (timeouts, max_redirects, raise_for_status) =
            (cfg.timeouts, cfg.max_redirects, cfg.raise_for_status);
        RequestBuilder {
            client,
            method,
            target,
            headers: HeaderMap::new(),
            query: Vec::new(),
            body: ReqBody::Empty,
            timeouts,
            max_redirects,
            proxy: Default::default(),
            auth: None,
            cookies: Vec::new(),
            raise_for_status,
        }
    }

    /// Records the builder's first error; `send` returns it.
    fn fail_with(mut self, e: Error) -> RequestBuilder {
        if self.target.is_ok() {
            self.target = Err(e);
        }
        self
    }

    /// Adds a header (repeated names are all sent): typed ([`header::ACCEPT`](crate::header::ACCEPT),
    /// a [`HeaderValue`](crate::HeaderValue)) or strings.
    ///
    /// An invalid name or value is not dropped: [`send`](RequestBuilder::send) fails with
    /// [`Error::is_user`] (the builder's errors all surface there, as in reqwest and
    /// `http::request::Builder`).
    pub fn header<K, V>(mut self, name: K, value: V) -> RequestBuilder
    where
        HeaderName: TryFrom<K>,
        <HeaderName as TryFrom<K>>::Error: Into<http::Error>,
        HeaderValue: TryFrom<V>,
        <HeaderValue as TryFrom<V>>::Error: Into<http::Error>,
    {
        match crate::error::header_pair(name, value) {
            Ok((n, v)) => {
                self.headers.append(n, v);
                self
            }
            Err(e) => self.fail_with(e),
        }
    }

    /// Adds every header of `map`.
    pub fn headers(mut self, map: HeaderMap) -> RequestBuilder {
        for (name, value) in map.iter() {
            self.headers.append(name.clone(), value.clone());
        }
        self
    }

    /// Appends query parameters, URL-encoded.
    pub fn query<K: AsRef<str>, V: AsRef<str>>(mut self, pairs: &[(K, V)]) -> RequestBuilder {
        self.query.extend(
            pairs
                .iter()
                .map(|(k, v)| (k.as_ref().to_string(), v.as_ref().to_string())),
        );
        self
    }

    /// A body of bytes, sent with `Content-Length`.
    pub fn body(mut self, body: impl Into<Bytes>) -> RequestBuilder {
        self.body = ReqBody::Bytes(body.into());
        self
    }

    /// A text body (`text/plain; charset=utf-8` unless a Content-Type was set).
    pub fn text(self, text: impl Into<String>) -> RequestBuilder {
        self.body(Bytes::from(text.into()))
            .default_type("text/plain; charset=utf-8")
    }

    /// A URL-encoded form body (`application/x-www-form-urlencoded`).
    pub fn form<K: AsRef<str>, V: AsRef<str>>(self, pairs: &[(K, V)]) -> RequestBuilder {
        let encoded = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(pairs.iter().map(|(k, v)| (k.as_ref(), v.as_ref())))
            .finish();
        self.body(Bytes::from(encoded))
            .default_type("application/x-www-form-urlencoded")
    }

    /// A JSON body (`application/json`).
    #[cfg(feature = "json")]
    pub fn json<T: serde::Serialize + ?Sized>(self, value: &T) -> RequestBuilder {
        match serde_json::to_vec(value) {
            Ok(v) => self.body(v).default_type("application/json"),
            Err(e) => self.fail_with(
                Error::new(crate::error::Kind::User, "value does not serialize to JSON")
                    .with_cause(e),
            ),
        }
    }

    /// A streamed body, sent with `Transfer-Encoding: chunked` as the chunks arrive. A streamed
    /// request is never retried, and 307/308 redirects are returned instead of followed.
    pub fn body_stream(
        mut self,
        stream: impl Stream<Item = io::Result<Bytes>> + Send + 'static,
    ) -> RequestBuilder {
        self.body = ReqBody::Stream(Box::pin(stream));
        self
    }

    /// `Authorization: Bearer <token>`.
    pub fn bearer_auth(self, token: &str) -> RequestBuilder {
        self.header("authorization", format!("Bearer {token}"))
    }

    /// A `multipart/form-data` body (aiohttp's `data=FormData(...)`): fields and files,
    /// the files streamed from disk, with a computed `Content-Length`. Unlike other streamed
    /// bodies a form is sent again on a 307/308 redirect or a retry (its files reopened).
    pub fn multipart(mut self, form: FormData) -> RequestBuilder {
        self.headers.remove(header::CONTENT_TYPE);
        if let Ok(v) = HeaderValue::try_from(form.content_type()) {
            self.headers.insert(header::CONTENT_TYPE, v);
        }
        self.body = ReqBody::Form(form);
        self
    }

    // ---- Request-level behaviour: timeouts, auth, cookies, status errors (aiohttp's
    // `session.get(timeout=, auth=, cookies=, raise_for_status=)`). ----

    /// Every timeout of this request (aiohttp's `timeout=ClientTimeout(...)` per request).
    pub fn timeouts(mut self, t: ClientTimeout) -> RequestBuilder {
        self.timeouts = t;
        self
    }

    /// Overrides [`ClientTimeout::total`] for this request.
    pub fn timeout(mut self, total: Option<Duration>) -> RequestBuilder {
        self.timeouts.total = total;
        self
    }

    /// Overrides [`ClientTimeout::sock_read`] for this request.
    pub fn sock_read_timeout(mut self, d: Option<Duration>) -> RequestBuilder {
        self.timeouts.sock_read = d;
        self
    }

    /// The same as [`sock_read_timeout`](Self::sock_read_timeout).
    pub fn read_timeout(self, d: Option<Duration>) -> RequestBuilder {
        self.sock_read_timeout(d)
    }

    /// Overrides [`ClientTimeout::connect`] for this request.
    pub fn connect_timeout(mut self, d: Option<Duration>) -> RequestBuilder {
        self.timeouts.connect = d;
        self
    }

    /// Overrides [`ClientTimeout::sock_connect`] for this request.
    pub fn sock_connect_timeout(mut self, d: Option<Duration>) -> RequestBuilder {
        self.timeouts.sock_connect = d;
        self
    }

    /// Basic auth for this request (aiohttp's `auth=BasicAuth(...)`), over the client's.
    /// Credentials in the URL as well are an error, as in aiohttp: [`send`](Self::send)
    /// fails with [`Error::is_user`].
    pub fn auth(mut self, auth: BasicAuth) -> RequestBuilder {
        self.auth = Some(auth);
        self
    }

    /// The same as `auth(BasicAuth::new(login, password))`.
    pub fn basic_auth(
        self,
        login: impl Into<String>,
        password: impl Into<String>,
    ) -> RequestBuilder {
        self.auth(BasicAuth::new(login, password))
    }

    /// A cookie for this request only, sent beside the jar's (aiohttp's `cookies=`); like a
    /// `Cookie` header it is not sent past a redirect to another origin.
    pub fn cookie(mut self, name: impl Into<String>, value: impl Into<String>) -> RequestBuilder {
        self.cookies.push((name.into(), value.into()));
        self
    }

    /// Whether a final 4xx or 5xx response fails [`send`](Self::send) with an
    /// [`Error::is_status`] error, over the client's setting.
    pub fn raise_for_status(mut self, on: bool) -> RequestBuilder {
        self.raise_for_status = on;
        self
    }

    // ---- end of request-level behaviour ----

    /// Overrides the redirect limit (0: do not follow).
    pub fn max_redirects(mut self, n: usize) -> RequestBuilder {
        self.max_redirects = n;
        self
    }

    fn default_type(mut self, value: &'static str) -> RequestBuilder {
        if !self.headers.contains_key(header::CONTENT_TYPE) {
            self.headers
                .insert(header::CONTENT_TYPE, HeaderValue::from_static(value));
        }
        self
    }

    /// Sends the request and waits for the response head; the body streams afterwards.
    ///
    /// Redirects are followed (see [`crate::ClientBuilder::max_redirects`]): 301/302/303 switch
    /// to `GET` without a body (as browsers do), 307/308 keep method and body; `Authorization`
    /// and `Cookie` headers are dropped when the origin changes, while the cookie jar goes on
    /// storing each response's cookies and sending each hop the cookies that match it.
    ///
    /// # Errors
    ///
    /// [`Error::is_connect`] (DNS, TCP, TLS), [`Error::is_timeout`] (with
    /// [`Error::timeout_kind`] naming which), [`Error::is_parse`] (a malformed response),
    /// [`Error::is_redirect`] (too many), [`Error::is_io`] (also a form's file that cannot be
    /// read), [`Error::is_status`] (with `raise_for_status`), [`Error::is_user`] (a bad URL or
    /// header given to the builder).
    ///
    /// # Cancel safety
    ///
    /// Dropping the future abandons the request; the connection it used is closed, never
    /// returned to the pool half-used.
    // Not an `async fn`: one would hold `self` beside the future it awaits, which holds the
    // same fields again.
    pub fn send(self) -> impl std::future::Future<Output = Result<ClientResponse, Error>> + Send {
        super::exchange::send(self)
    }
}
