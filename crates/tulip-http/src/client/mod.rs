//! The HTTP client (HTTP/1.1, and HTTP/2 by ALPN or prior knowledge), in the spirit of
//! aiohttp's `ClientSession`.
//!
//! [`Client`] is cheap to clone and shares one connection pool. Requests are built with
//! [`Client::get`] and friends, sent with [`RequestBuilder::send`], and answered with a
//! [`ClientResponse`] whose body streams from the socket (`chunk`, `read`, `bytes_stream`) or is
//! collected (`bytes`, `text`, `json`).
//!
//! Connections go straight to the server or through an HTTP proxy ([`Proxy`], [`Proxies`],
//! `trust_env`), and TLS trusts the bundled roots, the system store, a private CA, or (loudly
//! named, for test servers) nothing at all; [`Connector`] lends that connection path to
//! other protocols (tulip-ws's `ws_connect`).
//!
//! Beyond aiohttp: an idle keep-alive connection is checked before reuse, and an idempotent
//! request that fails on a reused connection before any response byte arrives is retried once
//! on a fresh one, so a server closing idle connections never surfaces as an error.

mod auth;
pub(crate) mod body;
mod connector;
mod cookies;
pub(crate) mod exchange;
mod form;
pub(crate) mod pool;
mod proxy;
mod request;
mod response;
pub(crate) mod timeout;
mod url;

use std::sync::Arc;
use std::time::Duration;

use http::Method;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};

pub use auth::BasicAuth;
pub use connector::Connector;
pub use cookies::{CookieJar, StoredCookie};
pub use form::FormData;
pub use pool::PoolStats;
pub(crate) use proxy::ProxyRefused;
pub use proxy::{Proxies, Proxy};
pub use request::RequestBuilder;
pub use response::ClientResponse;
pub use timeout::ClientTimeout;

use crate::error::Error;
use pool::{Pool, PoolConfig};

#[derive(Debug)]
pub(crate) struct Config {
    pub(crate) base_url: Option<url::Target>,
    pub(crate) default_headers: HeaderMap,
    pub(crate) timeouts: ClientTimeout,
    pub(crate) max_redirects: usize,
    pub(crate) max_head: usize,
    pub(crate) max_body: u64,
    pub(crate) decompress: bool,
    /// Offer HTTP/2 by ALPN on `https://` (and use it when the server picks it).
    pub(crate) http2: bool,
    /// Speak HTTP/2 from the first byte on `http://` (prior knowledge).
    pub(crate) http2_prior_knowledge: bool,
    /// The connector for `https://`, created with webpki roots on first use unless given.
    #[cfg(feature = "tls")]
    pub(crate) tls: std::sync::OnceLock<tulip_tls::TlsConnector>,
    // --- The connection path (proxies, TLS trust): `connector.rs`, `proxy.rs`. ---
    /// Which proxy each URL goes through.
    pub(crate) proxies: Arc<Proxies>,
    // Request-level behaviour: cookies, auth, status errors.
    pub(crate) cookie_jar: CookieJar,
    pub(crate) auth: Option<BasicAuth>,
    pub(crate) raise_for_status: bool,
}

#[derive(Debug)]
pub(crate) struct ClientShared {
    pub(crate) config: Config,
    pub(crate) pool: Pool,
}

/// An HTTP client with a connection pool (aiohttp's `ClientSession`).
///
/// # Examples
///
/// ```
/// use tulip_http::{App, Client, Server};
///
/// tulip_executor::run(async {
///     let server = Server::bind("127.0.0.1:0", App::new().get("/{name}", |req: tulip_http::Request| async move {
///         format!("Hello, {}", req.match_info("name").unwrap_or(""))
///     }))
///     .unwrap();
///     let base = format!("http://{}", server.local_addr());
///     let stop = server.shutdown_handle();
///     let running = tulip_executor::spawn(server.run());
///
///     let client = Client::new();
///     let resp = client.get(format!("{base}/tulip")).send().await.unwrap();
///     assert_eq!(resp.status(), 200);
///     assert_eq!(resp.text().await.unwrap(), "Hello, tulip");
///
///     stop.shutdown();
///     running.await.unwrap();
/// });
/// ```
#[derive(Debug, Clone)]
pub struct Client {
    pub(crate) inner: Arc<ClientShared>,
}

impl Default for Client {
    fn default() -> Client {
        Client::new()
    }
}

impl Client {
    /// A client with default settings (see [`ClientBuilder`]).
    pub fn new() -> Client {
        ClientBuilder::new().build()
    }

    /// Starts configuring a client.
    pub fn builder() -> ClientBuilder {
        ClientBuilder::new()
    }

    /// A request with any method. `url` is absolute, or relative to the base URL.
    pub fn request(&self, method: Method, url: impl AsRef<str>) -> RequestBuilder {
        RequestBuilder::new(self.clone(), method, url.as_ref())
    }

    /// A `GET` request; send it with [`RequestBuilder::send`].
    ///
    /// # Examples
    ///
    /// ```
    /// use tulip_http::{App, Client, Request, Server, StatusCode};
    ///
    /// tulip_executor::run(async {
    ///     let app = App::new().get("/hello/{name}", |req: Request| async move {
    ///         format!("Hello, {}!", req.match_info("name").unwrap_or("you"))
    ///     });
    ///     let server = Server::bind("127.0.0.1:0", app)?;
    ///     let base = format!("http://{}", server.local_addr());
    ///     let stop = server.shutdown_handle();
    ///     let running = tulip_executor::spawn(server.run());
    ///
    ///     let client = Client::new();
    ///     let resp = client
    ///         .get(format!("{base}/hello/tulip"))
    ///         .header("accept", "text/plain")
    ///         .send()
    ///         .await?;
    ///     assert_eq!(resp.status(), StatusCode::OK);
    ///     assert_eq!(resp.text().await?, "Hello, tulip!");
    ///
    ///     stop.shutdown();
    ///     running.await.expect("the server task")?;
    ///     Ok::<_, tulip_http::Error>(())
    /// })?;
    /// # Ok::<_, tulip_http::Error>(())
    /// ```
    pub fn get(&self, url: impl AsRef<str>) -> RequestBuilder {
        self.request(Method::GET, url)
    }

    /// A `POST` request.
    pub fn post(&self, url: impl AsRef<str>) -> RequestBuilder {
        self.request(Method::POST, url)
    }

    /// A `PUT` request.
    pub fn put(&self, url: impl AsRef<str>) -> RequestBuilder {
        self.request(Method::PUT, url)
    }

    /// A `PATCH` request.
    pub fn patch(&self, url: impl AsRef<str>) -> RequestBuilder {
        self.request(Method::PATCH, url)
    }

    /// A `DELETE` request.
    pub fn delete(&self, url: impl AsRef<str>) -> RequestBuilder {
        self.request(Method::DELETE, url)
    }

    /// A `HEAD` request.
    pub fn head(&self, url: impl AsRef<str>) -> RequestBuilder {
        self.request(Method::HEAD, url)
    }

    /// Pool counters: connections opened and reused, stale ones dropped, retries.
    pub fn pool_stats(&self) -> PoolStats {
        *self
            .inner
            .pool
            .stats
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }

    /// Idle keep-alive connections currently pooled.
    pub fn idle_connections(&self) -> usize {
        self.inner.pool.idle_count()
    }

    /// The client's cookie jar (aiohttp's `session.cookie_jar`): read it, add to it, clear it.
    pub fn cookie_jar(&self) -> &CookieJar {
        &self.inner.config.cookie_jar
    }
}

/// Configures a [`Client`].
#[derive(Debug)]
pub struct ClientBuilder {
    config: Config,
    pool: PoolConfig,
    error: Option<Error>,
    // --- The connection path (proxies, TLS trust): `connector.rs`, `proxy.rs`. ---
    proxy: proxy::ProxyOptions,
    tls_trust: connector::TlsOptions,
}

impl Default for ClientBuilder {
    fn default() -> ClientBuilder {
        ClientBuilder::new()
    }
}

impl ClientBuilder {
    /// Defaults: timeouts as [`ClientTimeout::default`], 10 redirects, 100 connections in flight
    /// (aiohttp's `limit`), unlimited per host, 32 idle per host kept 90 s, 1 GiB cap on
    /// collected bodies, gzip/deflate (and brotli) decoding on, webpki roots for HTTPS, a
    /// [`CookieJar::new`] jar, no auth, no status errors.
    pub fn new() -> ClientBuilder {
        let mut default_headers = HeaderMap::new();
        default_headers.insert(
            header::USER_AGENT,
            HeaderValue::from_static(concat!("tulip-http/", env!("CARGO_PKG_VERSION"))),
        );
        ClientBuilder {
            config: Config {
                base_url: None,
                default_headers,
                timeouts: ClientTimeout::default(),
                max_redirects: 10,
                max_head: 64 * 1024,
                max_body: 1 << 30,
                decompress: true,
                http2: true,
                http2_prior_knowledge: false,
                #[cfg(feature = "tls")]
                tls: std::sync::OnceLock::new(),
                proxies: Arc::new(Proxies::none()),
                cookie_jar: CookieJar::new(),
                auth: None,
                raise_for_status: false,
            },
            pool: PoolConfig {
                max_idle_per_host: 32,
                idle_timeout: Duration::from_secs(90),
                limit: 100,
                limit_per_host: usize::MAX >> 4,
            },
            error: None,
            proxy: Default::default(),
            tls_trust: Default::default(),
        }
    }

    /// Relative request URLs are resolved against this one.
    pub fn base_url(mut self, url: &str) -> ClientBuilder {
        match url::Target::parse(url) {
            Ok(t) => self.config.base_url = Some(t),
            Err(e) => {
                self.error.get_or_insert(e);
            }
        }
        self
    }

    /// A header sent with every request (a request's own header of the same name wins):
    /// typed or strings, as [`RequestBuilder::header`].
    ///
    /// An invalid name or value makes [`try_build`](ClientBuilder::try_build) fail with
    /// [`Error::is_user`] (and [`build`](ClientBuilder::build) panic).
    pub fn default_header<K, V>(mut self, name: K, value: V) -> ClientBuilder
    where
        HeaderName: TryFrom<K>,
        <HeaderName as TryFrom<K>>::Error: Into<http::Error>,
        HeaderValue: TryFrom<V>,
        <HeaderValue as TryFrom<V>>::Error: Into<http::Error>,
    {
        match crate::error::header_pair(name, value) {
            Ok((n, v)) => {
                self.config.default_headers.insert(n, v);
            }
            Err(e) => {
                self.error.get_or_insert(e);
            }
        }
        self
    }

    /// Most redirects followed; 0 returns 3xx responses as they are.
    pub fn max_redirects(mut self, n: usize) -> ClientBuilder {
        self.config.max_redirects = n;
        self
    }

    /// Most requests in flight across all hosts (aiohttp's `limit`).
    pub fn limit(mut self, n: usize) -> ClientBuilder {
        self.pool.limit = n.max(1);
        self
    }

    /// Most requests in flight to one (scheme, host, port) (aiohttp's `limit_per_host`).
    pub fn limit_per_host(mut self, n: usize) -> ClientBuilder {
        self.pool.limit_per_host = n.max(1);
        self
    }

    /// Most idle keep-alive connections kept per host.
    pub fn max_idle_per_host(mut self, n: usize) -> ClientBuilder {
        self.pool.max_idle_per_host = n;
        self
    }

    /// How long an idle connection may wait for reuse before it is closed.
    pub fn idle_timeout(mut self, d: Duration) -> ClientBuilder {
        self.pool.idle_timeout = d;
        self
    }

    /// Largest body [`ClientResponse::bytes`], `text` and `json` collect (streaming is not
    /// limited).
    pub fn max_body_size(mut self, bytes: u64) -> ClientBuilder {
        self.config.max_body = bytes;
        self
    }

    /// Whether to ask for and undo content codings (default on): gzip and deflate with the
    /// `gzip` feature, brotli (`br`) with the `brotli` feature; `Accept-Encoding` names those
    /// built in. Without either feature the client neither asks for nor undoes any coding.
    pub fn decompress(mut self, on: bool) -> ClientBuilder {
        self.config.decompress = on;
        self
    }

    /// Whether to offer HTTP/2 by ALPN on `https://` (default on). A server that picks it gets
    /// one connection per origin, multiplexing every concurrent request; one that does not
    /// gets HTTP/1.1 as before. A connector given with [`tls`](Self::tls) that sets its own
    /// ALPN protocols is used as it is.
    pub fn http2(mut self, on: bool) -> ClientBuilder {
        self.config.http2 = on;
        self
    }

    /// Speak HTTP/2 without negotiation on `http://` URLs (prior knowledge, as
    /// `curl --http2-prior-knowledge`); only for servers known to accept it. Default off.
    pub fn http2_prior_knowledge(mut self, on: bool) -> ClientBuilder {
        self.config.http2_prior_knowledge = on;
        self
    }

    /// The TLS settings for `https://` (default: webpki roots, the handshake timeout of
    /// tulip-tls).
    #[cfg(feature = "tls")]
    pub fn tls(mut self, connector: tulip_tls::TlsConnector) -> ClientBuilder {
        self.config.tls = std::sync::OnceLock::from(connector);
        self
    }

    // ---- Request-level behaviour: timeouts, cookies, auth, status errors (aiohttp's
    // `ClientSession(timeout=, cookie_jar=, auth=, raise_for_status=)`). ----

    /// Every timeout at once (aiohttp's `ClientSession(timeout=ClientTimeout(...))`).
    pub fn timeout(mut self, t: ClientTimeout) -> ClientBuilder {
        self.config.timeouts = t;
        self
    }

    /// [`ClientTimeout::total`]: the whole request, body included.
    pub fn total_timeout(mut self, d: Option<Duration>) -> ClientBuilder {
        self.config.timeouts.total = d;
        self
    }

    /// [`ClientTimeout::connect`]: a pool slot plus DNS, TCP connect and TLS handshake.
    pub fn connect_timeout(mut self, d: Option<Duration>) -> ClientBuilder {
        self.config.timeouts.connect = d;
        self
    }

    /// [`ClientTimeout::sock_connect`]: TCP connect plus TLS handshake of a new connection.
    pub fn sock_connect_timeout(mut self, d: Option<Duration>) -> ClientBuilder {
        self.config.timeouts.sock_connect = d;
        self
    }

    /// [`ClientTimeout::sock_read`]: the longest wait for the next bytes from the server.
    pub fn sock_read_timeout(mut self, d: Option<Duration>) -> ClientBuilder {
        self.config.timeouts.sock_read = d;
        self
    }

    /// The same as [`sock_read_timeout`](Self::sock_read_timeout).
    pub fn read_timeout(self, d: Option<Duration>) -> ClientBuilder {
        self.sock_read_timeout(d)
    }

    /// The cookie jar (aiohttp's `cookie_jar=`): [`CookieJar::new`] by default;
    /// [`CookieJar::dummy`] keeps nothing, [`CookieJar::new_unsafe`] also keeps cookies of
    /// IP-address hosts. Keep a clone to read or clear it, or share it between clients.
    pub fn cookie_jar(mut self, jar: CookieJar) -> ClientBuilder {
        self.config.cookie_jar = jar;
        self
    }

    /// Basic auth for every request (aiohttp's `ClientSession(auth=)`), unless a request
    /// brings its own credentials (its own `auth`, its URL's `user:pass@`, or an
    /// `Authorization` header). Like any `Authorization`, it is dropped when a redirect leaves
    /// the origin.
    pub fn auth(mut self, auth: BasicAuth) -> ClientBuilder {
        self.config.auth = Some(auth);
        self
    }

    /// Turn every final 4xx and 5xx response into an [`Error::is_status`] error carrying its
    /// status, reason, headers and URL (aiohttp's `raise_for_status=True`); default off. A
    /// request can override it with [`RequestBuilder::raise_for_status`].
    pub fn raise_for_status(mut self, on: bool) -> ClientBuilder {
        self.config.raise_for_status = on;
        self
    }

    // ---- end of request-level behaviour ----

    /// Builds the client.
    ///
    /// # Panics
    ///
    /// If an earlier setting was invalid (a bad base URL or header); [`ClientBuilder::try_build`]
    /// returns the error instead.
    pub fn build(self) -> Client {
        self.try_build().expect("invalid client configuration")
    }

    /// Builds the client, or returns the first invalid setting.
    ///
    /// # Errors
    ///
    /// A bad base URL or default header.
    pub fn try_build(self) -> Result<Client, Error> {
        if let Some(e) = self.error {
            return Err(e);
        }
        let mut config = self.config;
        // --- The connection path (proxies, TLS trust): `connector.rs`, `proxy.rs`. ---
        config.proxies = Arc::new(self.proxy.settle());
        self.tls_trust.settle(&mut config)?;
        // --- Request-level behaviour. ---
        if let Some(codings) = body::ACCEPT_ENCODING {
            if config.decompress && !config.default_headers.contains_key(header::ACCEPT_ENCODING) {
                config
                    .default_headers
                    .insert(header::ACCEPT_ENCODING, HeaderValue::from_static(codings));
            }
        }
        Ok(Client {
            inner: Arc::new(ClientShared {
                config,
                pool: Pool::new(self.pool),
            }),
        })
    }
}
