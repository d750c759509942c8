//! HTTP proxies (aiohttp's `proxy=`, `proxy_auth=` and `trust_env=True`): which proxy a URL
//! goes through, and the `CONNECT` tunnel.
//!
//! A plain `http://` request goes to the proxy as it is, with the absolute URL as its target
//! (RFC 9112 §3.2.2) and `Proxy-Authorization` beside it. An `https://` request, and every
//! WebSocket (`ws://` and `wss://`, through [`Connector`](super::Connector)), asks the proxy
//! for a tunnel with `CONNECT host:port` first and then speaks to the server through it, TLS
//! included, so the proxy sees only the host and port.
//!
//! Only `http://` proxies are supported: TLS to the proxy itself (an `https://` proxy) would
//! put TLS inside TLS, which the client's stream type does not do.

use std::fmt;
use std::hash::{Hash, Hasher};
use std::net::IpAddr;
use std::sync::Arc;

use base64::Engine as _;
use futures_lite::io::{AsyncReadExt, AsyncWriteExt};
use http::StatusCode;
use http::header::{self, HeaderValue};

use super::connector::Route;
use super::url::Target;
use super::{Client, ClientBuilder, RequestBuilder};
use crate::error::{Error, Kind, Phase};
use crate::proto::client::parse_response;

/// One HTTP proxy: its address and, optionally, the credentials it asks for.
///
/// # Examples
///
/// ```
/// use tulip_http::Proxy;
///
/// // Credentials in the URL become `Proxy-Authorization: Basic ...` (percent-decoded first).
/// let p = Proxy::new("http://alice:s%3Dcret@proxy.internal:3128")?;
/// assert_eq!(p.to_string(), "proxy.internal:3128");
/// // As in environment variables, the scheme may be left out; the port defaults to 80.
/// let p = Proxy::new("proxy.internal")?.basic_auth("bob", "pw");
/// assert_eq!(p.to_string(), "proxy.internal:80");
/// assert!(Proxy::new("https://proxy.internal").is_err());
/// # Ok::<_, tulip_http::Error>(())
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct Proxy {
    /// The host without IPv6 brackets.
    host: String,
    port: u16,
    /// The whole `Proxy-Authorization` value.
    auth: Option<HeaderValue>,
}

impl Proxy {
    /// A proxy from its URL, `http://[user:password@]host[:port][/]` (the scheme may be left
    /// out, as environment variables often do; the port defaults to 80).
    ///
    /// # Errors
    ///
    /// [`Error::is_user`] for another scheme (`https://` and `socks5://` proxies are not
    /// supported), a missing host, a bad port, a path, or credentials that do not decode.
    pub fn new(url: &str) -> Result<Proxy, Error> {
        let bad = |what: &'static str| Error::new(Kind::User, what).at(redact(url));
        let rest = match url.split_once("://") {
            None => url,
            Some((scheme, rest)) if scheme.eq_ignore_ascii_case("http") => rest,
            Some(_) => {
                return Err(bad(
                    "only http:// proxies are supported (not https://, socks5://, ...)",
                ));
            }
        };
        let authority = rest.strip_suffix('/').unwrap_or(rest);
        if authority.contains(['/', '?', '#']) {
            return Err(bad("a proxy URL has no path"));
        }
        let (userinfo, hostport) = match authority.rsplit_once('@') {
            Some((u, h)) => (Some(u), h),
            None => (None, authority),
        };
        let (host, port) =
            split_host_port(hostport, 80).ok_or_else(|| bad("bad proxy host or port"))?;
        let mut proxy = Proxy {
            host: host.to_owned(),
            port,
            auth: None,
        };
        if let Some(userinfo) = userinfo {
            let (user, password) = userinfo.split_once(':').unwrap_or((userinfo, ""));
            let decode = |s: &str| {
                percent_encoding::percent_decode_str(s)
                    .decode_utf8()
                    .map(|s| s.into_owned())
                    .map_err(|_| bad("proxy credentials are not valid percent-encoded UTF-8"))
            };
            proxy = proxy.basic_auth(&decode(user)?, &decode(password)?);
        }
        Ok(proxy)
    }

    /// Sends these credentials to the proxy (`Proxy-Authorization: Basic`, aiohttp's
    /// `proxy_auth=BasicAuth(user, password)`), replacing any from the URL.
    pub fn basic_auth(mut self, user: &str, password: &str) -> Proxy {
        self.auth = Some(basic(user, password));
        self
    }

    /// Whether credentials will be sent.
    pub fn has_auth(&self) -> bool {
        self.auth.is_some()
    }

    pub(crate) fn host(&self) -> &str {
        &self.host
    }

    pub(crate) fn port(&self) -> u16 {
        self.port
    }

    pub(crate) fn auth(&self) -> Option<&HeaderValue> {
        self.auth.as_ref()
    }

    /// What a pool key needs: the address and a digest of the credentials (connections
    /// tunnelled with other credentials are other connections), never the credentials.
    pub(crate) fn key(&self) -> Arc<str> {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        self.auth.hash(&mut h);
        format!("{self}#{:x}", h.finish()).into()
    }
}

impl fmt::Display for Proxy {
    /// `host:port` (IPv6 literals in brackets), never the credentials.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

impl fmt::Debug for Proxy {
    // The credentials stay out of debug output: logs must never carry them.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Proxy")
            .field("address", &self.to_string())
            .field("auth", &self.auth.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

/// `Basic base64(user:password)` as a sensitive header value.
fn basic(user: &str, password: &str) -> HeaderValue {
    let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    let mut v = HeaderValue::try_from(format!("Basic {token}"))
        .expect("base64 text is a valid header value");
    v.set_sensitive(true);
    v
}

/// A URL for messages, with any credentials cut out.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => format!("{}***{}", &url[..s + 3], &url[at..]),
        (None, Some(at)) => format!("***{}", &url[at..]),
        _ => url.to_owned(),
    }
}

/// Splits `host[:port]` or `[v6][:port]`; `None` for an empty host or a bad port.
fn split_host_port(s: &str, default_port: u16) -> Option<(&str, u16)> {
    let (host, port) = if let Some(v6) = s.strip_prefix('[') {
        let (host, after) = v6.split_once(']')?;
        match after {
            "" => (host, None),
            p => (host, Some(p.strip_prefix(':')?)),
        }
    } else {
        match s.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (s, None),
        }
    };
    let port = match port {
        None => default_port,
        Some(p) if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) => p.parse().ok()?,
        Some(_) => return None,
    };
    (!host.is_empty()).then_some((host, port))
}

/// Which proxy each URL goes through: one for plain URLs (`http://`, `ws://`), one for secure
/// ones (`https://`, `wss://`), and the hosts that bypass both (`NO_PROXY`).
///
/// # Examples
///
/// ```
/// use tulip_http::{Proxies, Proxy};
///
/// let proxies = Proxies::all(Proxy::new("http://127.0.0.1:3128")?)
///     .no_proxy("localhost, .internal.example, 10.0.0.0/8");
/// assert!(proxies.for_url(true, "example.com", 443).is_some());
/// assert!(proxies.for_url(false, "db.internal.example", 80).is_none());
/// assert!(proxies.for_url(false, "10.1.2.3", 80).is_none());
/// # Ok::<_, tulip_http::Error>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Proxies {
    plain: Option<Proxy>,
    secure: Option<Proxy>,
    no_proxy: NoProxy,
}

impl Proxies {
    /// No proxy at all (the default).
    pub fn none() -> Proxies {
        Proxies::default()
    }

    /// The same proxy for every URL.
    pub fn all(proxy: Proxy) -> Proxies {
        Proxies {
            plain: Some(proxy.clone()),
            secure: Some(proxy),
            no_proxy: NoProxy::default(),
        }
    }

    /// The proxy for `http://` and `ws://` URLs (`HTTP_PROXY`).
    pub fn http(mut self, proxy: Option<Proxy>) -> Proxies {
        self.plain = proxy;
        self
    }

    /// The proxy for `https://` and `wss://` URLs (`HTTPS_PROXY`).
    pub fn https(mut self, proxy: Option<Proxy>) -> Proxies {
        self.secure = proxy;
        self
    }

    /// The hosts that bypass the proxies, in `NO_PROXY`'s syntax: a comma-separated list of
    /// host names (`example.com` also matches its subdomains; a leading `.` or `*.` is
    /// allowed), IP addresses, CIDR blocks (`10.0.0.0/8`, `fd00::/8`), any of them with
    /// `:port` to match one port only, or `*` for every host. Replaces an earlier list.
    pub fn no_proxy(mut self, list: &str) -> Proxies {
        self.no_proxy = NoProxy::parse(list);
        self
    }

    /// The proxies the environment names, as curl and Python's `urllib` read them
    /// (aiohttp's `trust_env=True`): `http_proxy` for plain URLs, `https_proxy` for secure
    /// ones, `all_proxy` for both when the scheme's own is unset, and `no_proxy`; each in
    /// lowercase first, then uppercase. Uppercase `HTTP_PROXY` is ignored when
    /// `REQUEST_METHOD` is set, as in a CGI script, where a client's `Proxy:` header would
    /// arrive in it ("httpoxy"). A value that is not a usable proxy URL is skipped with a
    /// warning (through `log`).
    pub fn from_env() -> Proxies {
        Proxies::from_lookup(|name| std::env::var(name).ok())
    }

    /// [`from_env`](Proxies::from_env) over any source of variables.
    pub(crate) fn from_lookup(var: impl Fn(&str) -> Option<String>) -> Proxies {
        let get = |lower: &str, upper: &str| {
            let cgi = upper == "HTTP_PROXY" && var("REQUEST_METHOD").is_some();
            var(lower)
                .or_else(|| if cgi { None } else { var(upper) })
                .filter(|v| !v.trim().is_empty())
                .map(|v| (lower.to_owned(), v))
        };
        let proxy = |pair: Option<(String, String)>| {
            let (name, value) = pair?;
            match Proxy::new(value.trim()) {
                Ok(p) => Some(p),
                Err(e) => {
                    log::warn!("ignoring {name}: {e}");
                    None
                }
            }
        };
        let all = || get("all_proxy", "ALL_PROXY");
        Proxies {
            plain: proxy(get("http_proxy", "HTTP_PROXY").or_else(all)),
            secure: proxy(get("https_proxy", "HTTPS_PROXY").or_else(all)),
            no_proxy: NoProxy::parse(&get("no_proxy", "NO_PROXY").map(|p| p.1).unwrap_or_default()),
        }
    }

    /// Whether no URL goes through a proxy.
    pub fn is_empty(&self) -> bool {
        self.plain.is_none() && self.secure.is_none()
    }

    /// The proxy a URL goes through: `secure` for `https://` and `wss://`; `None` when the
    /// scheme has no proxy or the host bypasses it.
    pub fn for_url(&self, secure: bool, host: &str, port: u16) -> Option<&Proxy> {
        let proxy = if secure { &self.secure } else { &self.plain }.as_ref()?;
        (!self.no_proxy.matches(host, port)).then_some(proxy)
    }

    /// Sets this `Proxy-Authorization` on every proxy (aiohttp's session-wide `proxy_auth=`).
    pub(crate) fn with_auth(mut self, auth: &HeaderValue) -> Proxies {
        for p in [&mut self.plain, &mut self.secure].into_iter().flatten() {
            p.auth = Some(auth.clone());
        }
        self
    }
}

/// A parsed `NO_PROXY` list.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct NoProxy {
    everything: bool,
    rules: Vec<(Pattern, Option<u16>)>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Pattern {
    /// A lowercase domain: matches itself and its subdomains.
    Domain(String),
    /// An address and prefix length: one address is a /32 or /128.
    Net(IpAddr, u8),
}

impl NoProxy {
    fn parse(list: &str) -> NoProxy {
        let mut out = NoProxy::default();
        for entry in list
            .split([',', ' ', '\t'])
            .map(str::trim)
            .filter(|e| !e.is_empty())
        {
            if entry == "*" {
                out.everything = true;
                continue;
            }
            let (addr, prefix) = match entry.split_once('/') {
                Some((a, p)) => (a, p.parse::<u8>().ok()),
                None => (entry, None),
            };
            let bare = addr.trim_start_matches('[').trim_end_matches(']');
            if let Ok(ip) = bare.parse::<IpAddr>() {
                let max = if ip.is_ipv4() { 32 } else { 128 };
                out.rules
                    .push((Pattern::Net(ip, prefix.unwrap_or(max).min(max)), None));
                continue;
            }
            let Some((host, port)) = split_host_port(addr, 0) else {
                continue;
            };
            let port = (port != 0).then_some(port);
            if let Ok(ip) = host.parse::<IpAddr>() {
                let max = if ip.is_ipv4() { 32 } else { 128 };
                out.rules.push((Pattern::Net(ip, max), port));
                continue;
            }
            let domain = host.trim_start_matches('*').trim_start_matches('.');
            if !domain.is_empty() {
                out.rules
                    .push((Pattern::Domain(domain.to_ascii_lowercase()), port));
            }
        }
        out
    }

    fn matches(&self, host: &str, port: u16) -> bool {
        if self.everything {
            return true;
        }
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let host = host.strip_suffix('.').unwrap_or(host).to_ascii_lowercase();
        let ip = host.parse::<IpAddr>().ok();
        self.rules.iter().any(|(pattern, p)| {
            p.is_none_or(|p| p == port)
                && match (pattern, ip) {
                    (Pattern::Net(net, bits), Some(ip)) => in_net(ip, *net, *bits),
                    (Pattern::Domain(d), None) => {
                        host == *d
                            || host
                                .strip_suffix(d.as_str())
                                .is_some_and(|s| s.ends_with('.'))
                    }
                    _ => false,
                }
        })
    }
}

fn in_net(ip: IpAddr, net: IpAddr, bits: u8) -> bool {
    match (ip, net) {
        (IpAddr::V4(a), IpAddr::V4(n)) => {
            let mask = u32::MAX.checked_shl(32 - u32::from(bits)).unwrap_or(0);
            u32::from(a) & mask == u32::from(n) & mask
        }
        (IpAddr::V6(a), IpAddr::V6(n)) => {
            let mask = u128::MAX.checked_shl(128 - u32::from(bits)).unwrap_or(0);
            u128::from(a) & mask == u128::from(n) & mask
        }
        _ => false,
    }
}

/// A proxy's refusal of a tunnel: the [`source`](std::error::Error::source) of the error, and
/// what [`Error::proxy_status`] reads.
#[derive(Debug)]
pub(crate) struct ProxyRefused {
    pub(crate) status: StatusCode,
    /// The proxy's `Proxy-Authenticate` challenge, when it sent one.
    challenge: Option<String>,
}

impl fmt::Display for ProxyRefused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "proxy answered {}", self.status)?;
        if let Some(c) = &self.challenge {
            write!(f, " (Proxy-Authenticate: {c})")?;
        }
        Ok(())
    }
}

impl std::error::Error for ProxyRefused {}

/// Asks `proxy` (already connected on `io`) for a tunnel to `host:port` and waits for its
/// `2xx`. A refusal is [`Error::is_connect`] with the status in [`Error::proxy_status`];
/// the caller puts the time limit around it.
///
/// # Cancel safety
///
/// Not cancel safe: a tunnel dropped half way leaves `io` in an unknown state; drop it.
pub(crate) async fn open_tunnel<IO>(
    io: &mut IO,
    proxy: &Proxy,
    host: &str,
    port: u16,
    max_head: usize,
) -> Result<(), Error>
where
    IO: futures_lite::io::AsyncRead + futures_lite::io::AsyncWrite + Unpin,
{
    let authority = if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    };
    let place = format!("proxy {proxy} to {authority}");
    let fail = |e: Error| e.during(Phase::ProxyTunnel).at(&place);
    let io_fail = |e: std::io::Error| fail(Error::connect(e, Phase::ProxyTunnel));
    let mut req = format!("CONNECT {authority} HTTP/1.1\r\nHost: {authority}\r\n").into_bytes();
    if let Some(auth) = proxy.auth() {
        req.extend_from_slice(b"Proxy-Authorization: ");
        req.extend_from_slice(auth.as_bytes());
        req.extend_from_slice(b"\r\n");
    }
    req.extend_from_slice(b"\r\n");
    io.write_all(&req).await.map_err(io_fail)?;
    io.flush().await.map_err(io_fail)?;
    let mut buf = Vec::with_capacity(512);
    let mut chunk = [0u8; 1024];
    let head = loop {
        if let Some(head) = parse_response(&buf, max_head).map_err(fail)? {
            break head;
        }
        let n = io.read(&mut chunk).await.map_err(io_fail)?;
        if n == 0 {
            return Err(fail(Error::incomplete(
                "the proxy closed the connection before answering the CONNECT",
            )));
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    if !head.status.is_success() {
        let challenge = head
            .headers
            .get(header::PROXY_AUTHENTICATE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        return Err(fail(
            Error::new(Kind::Connect, "the proxy refused the tunnel").with_cause(ProxyRefused {
                status: head.status,
                challenge,
            }),
        ));
    }
    if buf.len() > head.len {
        // The proxy spoke for the server before the client did: nothing a tunnel may carry.
        return Err(fail(Error::new(
            Kind::Connect,
            "the proxy sent bytes after its CONNECT answer",
        )));
    }
    Ok(())
}

/// A request's own proxy settings ([`RequestBuilder::proxy`], [`RequestBuilder::proxy_auth`]).
#[derive(Debug, Clone, Default)]
pub(crate) struct RequestProxy {
    proxy: Option<Proxy>,
    auth: Option<HeaderValue>,
}

/// The route a request to `target` takes: its own proxy, else the client's for the URL.
pub(crate) fn route_for(client: &Client, own: &RequestProxy, target: &Target) -> Route {
    let chosen = match &own.proxy {
        Some(p) => Some(p),
        None => client
            .inner
            .config
            .proxies
            .for_url(target.https, &target.host, target.port),
    };
    match (chosen, &own.auth) {
        (Some(p), Some(auth)) => {
            let mut p = p.clone();
            p.auth = Some(auth.clone());
            Route::through(Some(&p), target.https, false)
        }
        (p, _) => Route::through(p, target.https, false),
    }
}

/// What the builder collects about proxies; [`ClientBuilder::try_build`] settles it.
#[derive(Debug, Default)]
pub(crate) struct ProxyOptions {
    explicit: Option<Proxies>,
    trust_env: bool,
    /// A sensitive header value: debug output shows no credentials.
    auth: Option<HeaderValue>,
}

impl ProxyOptions {
    /// The client's proxies: its own, else the environment's when trusted, else none; with
    /// the client-wide credentials on every one.
    pub(crate) fn settle(self) -> Proxies {
        let proxies = match self.explicit {
            Some(p) => p,
            None if self.trust_env => Proxies::from_env(),
            None => Proxies::none(),
        };
        match &self.auth {
            Some(auth) => proxies.with_auth(auth),
            None => proxies,
        }
    }
}

/// Proxies (aiohttp's `proxy=`, `proxy_auth=`, `trust_env=`).
impl ClientBuilder {
    /// Sends every request through this HTTP proxy (aiohttp's session-wide `proxy=`):
    /// `http://` requests are forwarded, `https://` ones tunnelled with `CONNECT`.
    /// Credentials may be given in the URL (`http://user:password@host:port`).
    ///
    /// An invalid URL makes [`try_build`](ClientBuilder::try_build) fail with
    /// [`Error::is_user`].
    ///
    /// # Examples
    ///
    /// ```
    /// let client = tulip_http::Client::builder()
    ///     .proxy("http://127.0.0.1:3128")
    ///     .proxy_auth("user", "pass")
    ///     .build();
    /// # drop(client);
    /// ```
    pub fn proxy(mut self, url: &str) -> ClientBuilder {
        match Proxy::new(url) {
            Ok(p) => self.proxy.explicit = Some(Proxies::all(p)),
            Err(e) => {
                self.error.get_or_insert(e);
            }
        }
        self
    }

    /// Which proxy each URL goes through, with a bypass list ([`Proxies`]); replaces
    /// [`proxy`](Self::proxy) and the environment.
    pub fn proxies(mut self, proxies: Proxies) -> ClientBuilder {
        self.proxy.explicit = Some(proxies);
        self
    }

    /// Credentials for every proxy this client uses, from [`proxy`](Self::proxy) or the
    /// environment (aiohttp's `proxy_auth=BasicAuth(...)`), sent as
    /// `Proxy-Authorization: Basic`.
    pub fn proxy_auth(mut self, user: &str, password: &str) -> ClientBuilder {
        self.proxy.auth = Some(basic(user, password));
        self
    }

    /// Reads the proxies from the environment when no proxy is set explicitly (aiohttp's
    /// `trust_env=True`): `HTTP_PROXY`, `HTTPS_PROXY`, `ALL_PROXY` and `NO_PROXY`, lowercase
    /// first (see [`Proxies::from_env`]). Read once, when the client is built. Default off.
    pub fn trust_env(mut self, on: bool) -> ClientBuilder {
        self.proxy.trust_env = on;
        self
    }
}

/// A request's own proxy (aiohttp's per-request `proxy=` and `proxy_auth=`).
impl RequestBuilder {
    /// Sends this request through this HTTP proxy, whatever the client's settings and
    /// `NO_PROXY` say.
    pub fn proxy(mut self, url: &str) -> RequestBuilder {
        match Proxy::new(url) {
            Ok(p) => {
                self.proxy.proxy = Some(p);
                self
            }
            Err(e) => {
                if self.target.is_ok() {
                    self.target = Err(e);
                }
                self
            }
        }
    }

    /// Credentials for the proxy this request goes through (its own or the client's).
    pub fn proxy_auth(mut self, user: &str, password: &str) -> RequestBuilder {
        self.proxy.auth = Some(basic(user, password));
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proxy_urls() {
        let p = Proxy::new("http://u%40x:p%3A@[::1]:3128/").unwrap();
        assert_eq!((p.host(), p.port()), ("::1", 3128));
        assert_eq!(p.to_string(), "[::1]:3128");
        // base64("u@x:p:") — decoded before encoding.
        assert_eq!(p.auth().unwrap(), "Basic dUB4OnA6");
        assert!(p.auth().unwrap().is_sensitive());
        assert!(!format!("{p:?}").contains("dUB4"));
        let p = Proxy::new("HTTP://proxy").unwrap();
        assert_eq!((p.host(), p.port(), p.has_auth()), ("proxy", 80, false));
        for bad in [
            "https://p",
            "socks5://p:1080",
            "http://",
            "http://p:x",
            "http://p/path",
            "p:99999",
        ] {
            assert!(Proxy::new(bad).is_err(), "{bad}");
        }
        let e = Proxy::new("https://user:secret@p").unwrap_err();
        assert!(!e.to_string().contains("secret"), "{e}");
        assert_ne!(
            Proxy::new("p:1").unwrap().key(),
            Proxy::new("u:v@p:1").unwrap().key()
        );
        // No credentials in debug output, from the URL or from proxy_auth.
        let b = Client::builder()
            .proxy("http://u:urlsecret@h:1")
            .proxy_auth("u", "authsecret");
        let shown = format!("{b:?}");
        assert!(
            !shown.contains("secret") && !shown.contains("dTp"),
            "{shown}"
        );
    }

    #[test]
    fn no_proxy_table() {
        let np = NoProxy::parse(
            "localhost, .corp.example,*.wild.test, 10.0.0.0/8, ::1, 192.168.1.5:8080, other.test:81",
        );
        let cases = [
            ("localhost", 80, true),
            ("LOCALHOST.", 80, true),
            ("corp.example", 80, true),
            ("a.b.corp.example", 443, true),
            ("notcorp.example", 80, false),
            ("x.wild.test", 80, true),
            ("10.200.3.4", 80, true),
            ("11.0.0.1", 80, false),
            ("::1", 80, true),
            ("[::1]", 80, true),
            ("::2", 80, false),
            ("192.168.1.5", 8080, true),
            ("192.168.1.5", 80, false),
            ("other.test", 81, true),
            ("other.test", 80, false),
            ("example.com", 80, false),
        ];
        for (host, port, want) in cases {
            assert_eq!(np.matches(host, port), want, "{host}:{port}");
        }
        assert!(NoProxy::parse("a, *").matches("anything", 1));
        assert!(!NoProxy::parse("").matches("anything", 1));
    }

    #[test]
    fn environment_table() {
        let env = |vars: &'static [(&'static str, &'static str)]| {
            Proxies::from_lookup(move |name| {
                vars.iter()
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| v.to_string())
            })
        };
        let p = env(&[
            ("HTTP_PROXY", "up:1"),
            ("http_proxy", "low:2"),
            ("HTTPS_PROXY", "sec:3"),
        ]);
        assert_eq!(p.for_url(false, "h", 80).unwrap().to_string(), "low:2");
        assert_eq!(p.for_url(true, "h", 443).unwrap().to_string(), "sec:3");
        let p = env(&[("ALL_PROXY", "all:1"), ("NO_PROXY", "skip.test")]);
        assert_eq!(p.for_url(false, "h", 80).unwrap().to_string(), "all:1");
        assert_eq!(p.for_url(true, "h", 443).unwrap().to_string(), "all:1");
        assert!(p.for_url(true, "www.skip.test", 443).is_none());
        // httpoxy: under CGI, uppercase HTTP_PROXY may come from a request header.
        let p = env(&[("HTTP_PROXY", "evil:1"), ("REQUEST_METHOD", "GET")]);
        assert!(p.for_url(false, "h", 80).is_none());
        // A bad value is skipped, not fatal.
        let p = env(&[("https_proxy", "socks5://x:1"), ("http_proxy", "")]);
        assert!(p.is_empty());
        let p = env(&[("https_proxy", "http://x:1")]).with_auth(&basic("u", "p"));
        assert!(p.for_url(true, "h", 1).unwrap().has_auth());
    }
}
