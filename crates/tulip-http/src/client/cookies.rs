//! The client's cookie jar (aiohttp's `CookieJar` and `DummyCookieJar`): RFC 6265 storage
//! and retrieval rules (§5.2 parsing, §5.3 storage, §5.4 the `Cookie` header).
//!
//! Written here rather than taken from `cookie_store`: that crate brings `url`, `idna`,
//! `publicsuffix`, `time` and serde into every HTTP user's tree for what is a few hundred
//! lines of rules. Like aiohttp's jar it has no public-suffix list; it refuses a `Domain`
//! attribute without a dot (`Domain=com`) instead, and, unless made with
//! [`CookieJar::new_unsafe`], every cookie from a host that is an IP address.

use std::fmt;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http::Uri;

/// Most cookies a jar keeps; past it the least recently created one goes.
const MAX_COOKIES: usize = 3000;
/// Largest `name=value` a jar accepts (RFC 6265 §6.1 asks for at least 4096 bytes).
const MAX_COOKIE_BYTES: usize = 4096;

/// The cookies a [`Client`](crate::Client) keeps between requests (aiohttp's `CookieJar`).
///
/// Every client has one ([`Client::cookie_jar`](crate::Client::cookie_jar)): a response's
/// `Set-Cookie` headers are stored in it, redirects included, and each request carries the
/// cookies whose domain, path, `Secure` flag and expiry match its URL, by the rules of
/// RFC 6265. Cloning a jar gives another handle to the same cookies, so one jar can serve
/// several clients.
///
/// [`CookieJar::dummy`] is aiohttp's `DummyCookieJar`, a jar that stores nothing;
/// [`CookieJar::new_unsafe`] is `CookieJar(unsafe=True)`, which also keeps cookies of hosts
/// named by IP address (test servers on `127.0.0.1`).
///
/// # Examples
///
/// ```
/// use tulip_http::CookieJar;
///
/// let jar = CookieJar::new();
/// jar.update_cookies("https://example.com/login", &["session=abc; Path=/; Secure", "theme=dark"]);
/// assert_eq!(jar.cookie_header("https://example.com/account").as_deref(), Some("session=abc; theme=dark"));
/// // Not over plain HTTP (`Secure`), and `theme` only below `/login`'s directory, `/`.
/// assert_eq!(jar.cookie_header("http://example.com/").as_deref(), Some("theme=dark"));
/// assert_eq!(jar.cookie_header("https://other.example/"), None);
/// jar.clear();
/// assert!(jar.is_empty());
/// ```
#[derive(Clone)]
pub struct CookieJar {
    inner: Arc<Inner>,
}

struct Inner {
    /// A jar that stores nothing (aiohttp's `DummyCookieJar`).
    dummy: bool,
    /// Keep cookies of hosts named by IP address (aiohttp's `unsafe=True`).
    ip_hosts: bool,
    cookies: Mutex<Store>,
}

#[derive(Default)]
struct Store {
    list: Vec<Cookie>,
    /// Creation counter: §5.4 orders cookies of equal path length by creation time.
    next_seq: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Cookie {
    name: String,
    value: String,
    /// Lower case, without a leading dot.
    domain: String,
    host_only: bool,
    path: String,
    secure: bool,
    http_only: bool,
    expires: Option<SystemTime>,
    seq: u64,
}

/// One cookie as the jar holds it, from [`CookieJar::cookies`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredCookie {
    cookie: Cookie,
}

impl StoredCookie {
    /// The cookie's name.
    pub fn name(&self) -> &str {
        &self.cookie.name
    }

    /// The cookie's value, as the server sent it.
    pub fn value(&self) -> &str {
        &self.cookie.value
    }

    /// The domain it is sent to (lower case, no leading dot).
    pub fn domain(&self) -> &str {
        &self.cookie.domain
    }

    /// Whether it goes to exactly [`domain`](Self::domain) only (the server gave no `Domain`
    /// attribute), rather than to its subdomains too.
    pub fn host_only(&self) -> bool {
        self.cookie.host_only
    }

    /// The path it is sent under.
    pub fn path(&self) -> &str {
        &self.cookie.path
    }

    /// Whether it is sent over `https://` only.
    pub fn secure(&self) -> bool {
        self.cookie.secure
    }

    /// Whether the server marked it `HttpOnly`.
    pub fn http_only(&self) -> bool {
        self.cookie.http_only
    }

    /// When it expires; `None` for a session cookie (kept as long as the jar).
    pub fn expires(&self) -> Option<SystemTime> {
        self.cookie.expires
    }
}

impl Default for CookieJar {
    fn default() -> CookieJar {
        CookieJar::new()
    }
}

impl fmt::Debug for CookieJar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CookieJar")
            .field("dummy", &self.inner.dummy)
            .field("ip_hosts", &self.inner.ip_hosts)
            .field("len", &self.len())
            .finish()
    }
}

impl CookieJar {
    fn with(dummy: bool, ip_hosts: bool) -> CookieJar {
        CookieJar {
            inner: Arc::new(Inner {
                dummy,
                ip_hosts,
                cookies: Mutex::default(),
            }),
        }
    }

    /// An empty jar that follows RFC 6265 and ignores cookies of IP-address hosts.
    pub fn new() -> CookieJar {
        CookieJar::with(false, false)
    }

    /// A jar that also keeps cookies of hosts named by IP address (aiohttp's
    /// `CookieJar(unsafe=True)`), for test servers on `127.0.0.1` and the like. A cookie
    /// set by an IP host goes back to that same address only.
    pub fn new_unsafe() -> CookieJar {
        CookieJar::with(false, true)
    }

    /// A jar that stores nothing and sends nothing (aiohttp's `DummyCookieJar`); cookies
    /// given per request still go out.
    pub fn dummy() -> CookieJar {
        CookieJar::with(true, false)
    }

    fn store(&self) -> std::sync::MutexGuard<'_, Store> {
        self.inner.cookies.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Stores `Set-Cookie` header values as if `url` had answered with them (aiohttp's
    /// `update_cookies`); values the rules refuse are skipped. An invalid `url` stores nothing.
    pub fn update_cookies(&self, url: &str, set_cookies: &[&str]) {
        let Ok(uri) = url.parse::<Uri>() else { return };
        let (Some(host), path) = (uri.host(), uri.path()) else {
            return;
        };
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let now = SystemTime::now();
        for line in set_cookies {
            self.set_cookie(host, path, line, now);
        }
    }

    /// Stores the `Set-Cookie` headers of a response from `host` for `path`.
    pub(crate) fn store_response(&self, host: &str, path: &str, headers: &http::HeaderMap) {
        if self.inner.dummy {
            return;
        }
        let mut lines = headers.get_all(http::header::SET_COOKIE).iter().peekable();
        if lines.peek().is_none() {
            return;
        }
        let now = SystemTime::now();
        for v in lines {
            // Cookie values are ASCII by RFC; a server's stray bytes are read as Latin-1
            // rather than dropping the cookie.
            let line: String = match v.to_str() {
                Ok(s) => s.to_owned(),
                Err(_) => v.as_bytes().iter().map(|&b| b as char).collect(),
            };
            self.set_cookie(host, path, &line, now);
        }
    }

    /// §5.2 and §5.3 for one `Set-Cookie` value received from `host` for `request_path`.
    fn set_cookie(&self, host: &str, request_path: &str, line: &str, now: SystemTime) -> bool {
        if self.inner.dummy {
            return false;
        }
        let host = host.to_ascii_lowercase();
        let is_ip = host.parse::<IpAddr>().is_ok();
        if is_ip && !self.inner.ip_hosts {
            return false;
        }
        let Some(parsed) = parse_set_cookie(line, now) else {
            return false;
        };
        let (domain, host_only) = match parsed.domain {
            Some(d) if d != host => {
                // No public-suffix list: a Domain without a dot (`com`, `localhost`) that is
                // not the host itself is refused, as is one the host is not inside.
                if is_ip || !d.contains('.') || !domain_match(&host, &d) {
                    return false;
                }
                (d, false)
            }
            _ => (host, true),
        };
        let path = parsed.path.unwrap_or_else(|| default_path(request_path));
        let mut store = self.store();
        let seq = store.next_seq;
        let existing = store
            .list
            .iter()
            .position(|c| c.name == parsed.name && c.domain == domain && c.path == path);
        let expired = parsed.expires.is_some_and(|t| t <= now);
        if expired {
            // An expiry in the past is how a server deletes a cookie.
            if let Some(i) = existing {
                store.list.remove(i);
            }
            return false;
        }
        let cookie = Cookie {
            name: parsed.name,
            value: parsed.value,
            domain,
            host_only,
            path,
            secure: parsed.secure,
            http_only: parsed.http_only,
            expires: parsed.expires,
            // A replaced cookie keeps its creation time (§5.3 step 11.3).
            seq: existing.map_or(seq, |i| store.list[i].seq),
        };
        match existing {
            Some(i) => store.list[i] = cookie,
            None => {
                store.next_seq += 1;
                if store.list.len() >= MAX_COOKIES {
                    store.list.retain(|c| c.expires.is_none_or(|t| t > now));
                    if store.list.len() >= MAX_COOKIES {
                        let oldest = (0..store.list.len())
                            .min_by_key(|&i| store.list[i].seq)
                            .unwrap_or(0);
                        store.list.remove(oldest);
                    }
                }
                store.list.push(cookie);
            }
        }
        true
    }

    /// The `Cookie` header value for a request to `url` (aiohttp's `filter_cookies`), or
    /// `None` when no stored cookie matches.
    pub fn cookie_header(&self, url: &str) -> Option<String> {
        let uri = url.parse::<Uri>().ok()?;
        let host = uri.host()?.trim_start_matches('[').trim_end_matches(']');
        let https = matches!(uri.scheme_str(), Some("https" | "wss"));
        self.header_for(host, uri.path(), https)
    }

    /// §5.4: the cookies for `host` and `path`, longest path first, then oldest first.
    pub(crate) fn header_for(&self, host: &str, path: &str, https: bool) -> Option<String> {
        if self.inner.dummy {
            return None;
        }
        let mut store = self.store();
        if store.list.is_empty() {
            return None;
        }
        let now = SystemTime::now();
        store.list.retain(|c| c.expires.is_none_or(|t| t > now));
        let host = host.to_ascii_lowercase();
        let path = if path.is_empty() { "/" } else { path };
        let mut hits: Vec<&Cookie> = store
            .list
            .iter()
            .filter(|c| {
                let domain_ok = if c.host_only {
                    c.domain == host
                } else {
                    domain_match(&host, &c.domain)
                };
                domain_ok && path_match(path, &c.path) && (https || !c.secure)
            })
            .collect();
        if hits.is_empty() {
            return None;
        }
        hits.sort_by(|a, b| b.path.len().cmp(&a.path.len()).then(a.seq.cmp(&b.seq)));
        let mut out = String::new();
        for c in hits {
            if !out.is_empty() {
                out.push_str("; ");
            }
            out.push_str(&c.name);
            out.push('=');
            out.push_str(&c.value);
        }
        Some(out)
    }

    /// A snapshot of every unexpired cookie, oldest first (aiohttp iterates the jar).
    pub fn cookies(&self) -> Vec<StoredCookie> {
        let now = SystemTime::now();
        let store = self.store();
        let mut all: Vec<StoredCookie> = store
            .list
            .iter()
            .filter(|c| c.expires.is_none_or(|t| t > now))
            .map(|c| StoredCookie { cookie: c.clone() })
            .collect();
        all.sort_by_key(|c| c.cookie.seq);
        all
    }

    /// How many cookies the jar holds (expired ones included until next looked at).
    pub fn len(&self) -> usize {
        self.store().list.len()
    }

    /// Whether the jar holds no cookie.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Forgets every cookie (aiohttp's `clear()`).
    pub fn clear(&self) {
        self.store().list.clear();
    }

    /// Forgets the cookies of `domain` and its subdomains (aiohttp's `clear_domain`).
    pub fn clear_domain(&self, domain: &str) {
        let d = domain.trim_start_matches('.').to_ascii_lowercase();
        self.store().list.retain(|c| !domain_match(&c.domain, &d));
    }
}

/// What §5.2 takes from one `Set-Cookie` value.
#[derive(Debug, PartialEq, Eq)]
struct Parsed {
    name: String,
    value: String,
    domain: Option<String>,
    path: Option<String>,
    secure: bool,
    http_only: bool,
    expires: Option<SystemTime>,
}

fn parse_set_cookie(line: &str, now: SystemTime) -> Option<Parsed> {
    let mut parts = line.split(';');
    let pair = parts.next()?;
    let (name, value) = pair.split_once('=')?;
    let (name, value) = (name.trim(), value.trim());
    if name.is_empty() || name.len() + value.len() > MAX_COOKIE_BYTES {
        return None;
    }
    // A name or value with control characters would corrupt the `Cookie` header.
    if name
        .bytes()
        .chain(value.bytes())
        .any(|b| b < 0x20 || b == 0x7f)
    {
        return None;
    }
    let mut p = Parsed {
        name: name.to_owned(),
        value: value.to_owned(),
        domain: None,
        path: None,
        secure: false,
        http_only: false,
        expires: None,
    };
    let mut max_age: Option<SystemTime> = None;
    for attr in parts {
        let (key, val) = match attr.split_once('=') {
            Some((k, v)) => (k.trim(), v.trim()),
            None => (attr.trim(), ""),
        };
        match key.to_ascii_lowercase().as_str() {
            "expires" => {
                if let Some(t) = parse_cookie_date(val) {
                    p.expires = Some(t);
                }
            }
            "max-age" => {
                let digits = val.strip_prefix('-').unwrap_or(val);
                if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
                    max_age = Some(match val.parse::<i64>() {
                        Ok(n) if n > 0 => now
                            .checked_add(Duration::from_secs(n as u64))
                            .unwrap_or(now + Duration::from_secs(400 * 86_400)),
                        Ok(_) => UNIX_EPOCH,
                        // More digits than an i64: positive means "far away".
                        Err(_) if !val.starts_with('-') => now + Duration::from_secs(400 * 86_400),
                        Err(_) => UNIX_EPOCH,
                    });
                }
            }
            "domain" => {
                let d = val.trim_start_matches('.').to_ascii_lowercase();
                p.domain = (!d.is_empty()).then_some(d);
            }
            "path" => {
                p.path = val.starts_with('/').then(|| val.to_owned());
            }
            "secure" => p.secure = true,
            "httponly" => p.http_only = true,
            _ => {}
        }
    }
    // Max-Age wins over Expires (§5.3 step 3).
    if max_age.is_some() {
        p.expires = max_age;
    }
    Some(p)
}

/// §5.1.1's lenient date parser: the time, day, month and year tokens in any order, among
/// any delimiters (`Wed, 21 Oct 2015 07:28:00 GMT`, `Wednesday, 21-Oct-15 07:28:00 GMT`, ...).
fn parse_cookie_date(s: &str) -> Option<SystemTime> {
    let delimiter = |c: char| {
        let b = c as u32;
        b == 0x09
            || (0x20..=0x2f).contains(&b)
            || (0x3b..=0x40).contains(&b)
            || (0x5b..=0x60).contains(&b)
            || (0x7b..=0x7e).contains(&b)
    };
    let (mut time, mut day, mut month, mut year) = (None, None, None, None);
    for token in s.split(delimiter).filter(|t| !t.is_empty()) {
        if time.is_none() {
            if let Some(t) = parse_time(token) {
                time = Some(t);
                continue;
            }
        }
        if day.is_none() {
            if let Some(d) = leading_digits(token, 1, 2) {
                day = Some(d);
                continue;
            }
        }
        if month.is_none() && token.len() >= 3 {
            const MONTHS: [&str; 12] = [
                "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
            ];
            let prefix = token[..3].to_ascii_lowercase();
            if let Some(m) = MONTHS.iter().position(|m| *m == prefix) {
                month = Some(m as u32 + 1);
                continue;
            }
        }
        if year.is_none() {
            if let Some(y) = leading_digits(token, 2, 4) {
                year = Some(y);
                continue;
            }
        }
    }
    let (h, mi, sec) = time?;
    let (day, month, mut year) = (day?, month?, year?);
    if (70..=99).contains(&year) {
        year += 1900;
    } else if year <= 69 {
        year += 2000;
    }
    if !(1..=31).contains(&day) || year < 1601 || h > 23 || mi > 59 || sec > 59 {
        return None;
    }
    let days = days_from_civil(i64::from(year), month, day);
    let secs = days * 86_400 + i64::from(h) * 3600 + i64::from(mi) * 60 + i64::from(sec);
    if secs >= 0 {
        UNIX_EPOCH.checked_add(Duration::from_secs(secs as u64))
    } else {
        // Any date before 1970 is "expired" all the same.
        Some(UNIX_EPOCH)
    }
}

/// `hh:mm:ss` (one or two digits each), possibly followed by non-digits.
fn parse_time(token: &str) -> Option<(u32, u32, u32)> {
    let mut it = token.splitn(3, ':');
    let h = it.next()?;
    let m = it.next()?;
    let s = it.next()?;
    let num = |t: &str, trailing: bool| -> Option<u32> {
        let end = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
        if end == 0 || end > 2 || (!trailing && end != t.len()) {
            return None;
        }
        t[..end].parse().ok()
    };
    Some((num(h, false)?, num(m, false)?, num(s, true)?))
}

/// `min..=max` digits at the start of `token`, not followed by another digit.
fn leading_digits(token: &str, min: usize, max: usize) -> Option<u32> {
    let end = token
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(token.len());
    if end < min || end > max {
        return None;
    }
    token[..end].parse().ok()
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// §5.1.3: `host` is `domain` or a subdomain of it (never for IP addresses).
pub(crate) fn domain_match(host: &str, domain: &str) -> bool {
    if host == domain {
        return true;
    }
    host.len() > domain.len()
        && host.ends_with(domain)
        && host.as_bytes()[host.len() - domain.len() - 1] == b'.'
        && host.parse::<IpAddr>().is_err()
}

/// §5.1.4: `request_path` is `cookie_path` or lies below it.
pub(crate) fn path_match(request_path: &str, cookie_path: &str) -> bool {
    request_path == cookie_path
        || (request_path.starts_with(cookie_path)
            && (cookie_path.ends_with('/')
                || request_path.as_bytes().get(cookie_path.len()) == Some(&b'/')))
}

/// §5.1.4: the directory of the request path, the path of a cookie set without one.
pub(crate) fn default_path(uri_path: &str) -> String {
    if !uri_path.starts_with('/') {
        return "/".into();
    }
    match uri_path.rfind('/') {
        Some(0) | None => "/".into(),
        Some(i) => uri_path[..i].into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs)
    }

    #[test]
    fn dates_in_the_forms_servers_send() {
        let want = Some(at(1_445_412_480)); // 2015-10-21 07:28:00 UTC
        for s in [
            "Wed, 21 Oct 2015 07:28:00 GMT",
            "Wednesday, 21-Oct-15 07:28:00 GMT",
            "Wed Oct 21 07:28:00 2015",
            "21 october 2015 7:28:00",
        ] {
            assert_eq!(parse_cookie_date(s), want, "{s}");
        }
        for bad in ["", "Wed, 32 Oct 2015 07:28:00 GMT", "21 Oct 2015", "soon"] {
            assert_eq!(parse_cookie_date(bad), None, "{bad}");
        }
        assert_eq!(
            parse_cookie_date("Thu, 01 Jan 1970 00:00:00 GMT"),
            Some(UNIX_EPOCH)
        );
    }

    #[test]
    fn set_cookie_attributes() {
        let now = at(1_000_000);
        let p = parse_set_cookie(
            " sid = a b ; Domain=.Example.COM; Path=/app; Secure; HttpOnly; Max-Age=60; Expires=Wed, 21 Oct 2015 07:28:00 GMT",
            now,
        )
        .unwrap();
        assert_eq!(p.name, "sid");
        assert_eq!(p.value, "a b");
        assert_eq!(p.domain.as_deref(), Some("example.com"));
        assert_eq!(p.path.as_deref(), Some("/app"));
        assert!(p.secure && p.http_only);
        assert_eq!(
            p.expires,
            Some(now + Duration::from_secs(60)),
            "Max-Age wins"
        );
        let p = parse_set_cookie("a=1; Path=relative; Max-Age=0", now).unwrap();
        assert_eq!(p.path, None, "a path not starting with / is ignored");
        assert_eq!(p.expires, Some(UNIX_EPOCH));
        for bad in ["novalue", "=v", "a=\u{1}b"] {
            assert_eq!(parse_set_cookie(bad, now), None, "{bad}");
        }
    }

    #[test]
    fn default_paths() {
        for (uri, want) in [
            ("", "/"),
            ("/", "/"),
            ("/login", "/"),
            ("/a/b/c", "/a/b"),
            ("/a/b/", "/a/b"),
        ] {
            assert_eq!(default_path(uri), want, "{uri}");
        }
    }

    #[test]
    fn domain_rules() {
        let jar = CookieJar::new();
        let now = SystemTime::now();
        assert!(jar.set_cookie("www.example.com", "/", "a=1; Domain=example.com", now));
        assert!(!jar.set_cookie("www.example.com", "/", "b=1; Domain=other.com", now));
        assert!(!jar.set_cookie("www.example.com", "/", "c=1; Domain=com", now));
        assert!(!jar.set_cookie("example.com", "/", "d=1; Domain=www.example.com", now));
        assert!(jar.set_cookie("www.example.com", "/", "host=1", now));
        assert_eq!(
            jar.header_for("example.com", "/", false).as_deref(),
            Some("a=1")
        );
        assert_eq!(
            jar.header_for("deep.www.example.com", "/", false)
                .as_deref(),
            Some("a=1"),
            "a host-only cookie does not go to subdomains"
        );
        assert_eq!(
            jar.header_for("WWW.Example.com", "/", false).as_deref(),
            Some("a=1; host=1")
        );
        assert_eq!(jar.header_for("badexample.com", "/", false), None);
        // IP hosts: refused unless unsafe, then sent back to that address only.
        assert!(!jar.set_cookie("127.0.0.1", "/", "ip=1", now));
        let unsafe_jar = CookieJar::new_unsafe();
        assert!(unsafe_jar.set_cookie("127.0.0.1", "/", "ip=1", now));
        assert!(!unsafe_jar.set_cookie("127.0.0.1", "/", "ip2=1; Domain=0.0.1", now));
        assert_eq!(
            unsafe_jar.header_for("127.0.0.1", "/", false).as_deref(),
            Some("ip=1")
        );
        assert_eq!(unsafe_jar.header_for("127.0.0.2", "/", false), None);
    }

    #[test]
    fn path_secure_expiry_order_and_replacement() {
        let jar = CookieJar::new();
        let now = SystemTime::now();
        jar.set_cookie("h.test", "/", "root=1", now);
        jar.set_cookie("h.test", "/", "deep=1; Path=/a/b", now);
        jar.set_cookie("h.test", "/", "mid=1; Path=/a", now);
        jar.set_cookie("h.test", "/", "sec=1; Secure", now);
        jar.set_cookie("h.test", "/", "gone=1; Max-Age=-1", now);
        assert_eq!(
            jar.header_for("h.test", "/a/b/c", true).as_deref(),
            Some("deep=1; mid=1; root=1; sec=1")
        );
        assert_eq!(
            jar.header_for("h.test", "/ab", false).as_deref(),
            Some("root=1")
        );
        // A replacement keeps its place; an expiry in the past deletes.
        jar.set_cookie("h.test", "/", "root=2", now);
        jar.set_cookie(
            "h.test",
            "/",
            "mid=x; Path=/a; Expires=Thu, 01 Jan 1970 00:00:00 GMT",
            now,
        );
        assert_eq!(
            jar.header_for("h.test", "/a/b", false).as_deref(),
            Some("deep=1; root=2")
        );
        assert_eq!(jar.len(), 3);
        jar.clear_domain("h.test");
        assert!(jar.is_empty());
        let dummy = CookieJar::dummy();
        assert!(!dummy.set_cookie("h.test", "/", "a=1", now));
        assert!(dummy.is_empty());
    }

    #[test]
    fn the_jar_is_bounded() {
        let jar = CookieJar::new();
        let now = SystemTime::now();
        for i in 0..MAX_COOKIES + 10 {
            jar.set_cookie("h.test", "/", &format!("c{i}=v"), now);
        }
        assert_eq!(jar.len(), MAX_COOKIES);
        let names: Vec<String> = jar.cookies().iter().map(|c| c.name().to_owned()).collect();
        assert_eq!(names[0], "c10", "the oldest went first");
        let big = format!("big={}", "x".repeat(MAX_COOKIE_BYTES));
        assert!(!jar.set_cookie("h.test", "/", &big, now));
    }

    fn label() -> impl Strategy<Value = String> {
        "[a-z][a-z0-9-]{0,8}"
    }

    fn segment() -> impl Strategy<Value = String> {
        "[a-zA-Z0-9._~-]{1,6}"
    }

    proptest! {
        /// A subdomain matches its parent; a host that only ends with the parent's text
        /// does not; matching is never symmetric between different names.
        #[test]
        fn domain_match_rules(sub in label(), glued in label(), parent in prop::collection::vec(label(), 2..4)) {
            let parent = parent.join(".");
            let child = format!("{sub}.{parent}");
            prop_assert!(domain_match(&child, &parent));
            prop_assert!(domain_match(&parent, &parent));
            prop_assert!(!domain_match(&parent, &child));
            let fake = format!("{glued}{parent}");
            prop_assert!(!domain_match(&fake, &parent));
        }

        /// A path matches every path below it, never a sibling that merely shares its text.
        #[test]
        fn path_match_rules(dirs in prop::collection::vec(segment(), 1..4), rest in prop::collection::vec(segment(), 0..3), tail in "[a-z]{1,4}") {
            let cookie_path = format!("/{}", dirs.join("/"));
            let below = format!("{cookie_path}/{}", rest.join("/"));
            prop_assert!(path_match(&cookie_path, &cookie_path));
            prop_assert!(path_match(&below, &cookie_path));
            prop_assert!(path_match(&below, "/"));
            let sibling = format!("{cookie_path}{tail}");
            prop_assert!(!path_match(&sibling, &cookie_path));
            // The default path of a request is always one that matches the request.
            prop_assert!(path_match(&below, &default_path(&below)));
        }

        /// A cookie stored from a URL without attributes goes back to that URL, and to no
        /// other host.
        #[test]
        fn stored_cookies_return_to_their_url(host in prop::collection::vec(label(), 2..4), dirs in prop::collection::vec(segment(), 0..3), name in "[a-z]{1,8}", value in "[a-zA-Z0-9]{0,8}") {
            let host = host.join(".");
            let path = format!("/{}", dirs.join("/"));
            let jar = CookieJar::new();
            let want = format!("{name}={value}");
            prop_assert!(jar.set_cookie(&host, &path, &want, SystemTime::now()));
            prop_assert_eq!(jar.header_for(&host, &path, false), Some(want));
            let other = format!("x{host}");
            prop_assert_eq!(jar.header_for(&other, &path, false), None);
        }
    }
}
