//! Cookies (RFC 6265): the `Cookie` request header read by
//! [`Request::cookies`](crate::Request::cookies), and `Set-Cookie` written by
//! [`Response::set_cookie`] and [`Response::del_cookie`] (aiohttp's `request.cookies`,
//! `response.set_cookie` and `response.del_cookie`).

use std::fmt;
use std::time::{Duration, SystemTime};

use http::HeaderValue;
use http::header::SET_COOKIE;

use super::response::Response;
use crate::error::{Error, Kind};

/// The `SameSite` attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SameSite {
    /// Sent only with same-site requests.
    Strict,
    /// Also sent with top-level navigations from other sites.
    Lax,
    /// Sent with cross-site requests too (browsers require `Secure` with it).
    None,
}

impl SameSite {
    fn as_str(self) -> &'static str {
        match self {
            SameSite::Strict => "Strict",
            SameSite::Lax => "Lax",
            SameSite::None => "None",
        }
    }
}

/// A `Set-Cookie` value: a name, a value and RFC 6265's attributes.
///
/// ```
/// use std::time::Duration;
/// use tulip_http::{Cookie, Response, SameSite};
///
/// let mut r = Response::text("welcome");
/// r.set_cookie(
///     &Cookie::new("session", "abc123")
///         .with_path("/")
///         .with_max_age(Duration::from_secs(3600))
///         .with_secure(true)
///         .with_http_only(true)
///         .with_same_site(SameSite::Lax),
/// )?;
/// assert_eq!(
///     r.headers()["set-cookie"],
///     "session=abc123; Max-Age=3600; Path=/; Secure; HttpOnly; SameSite=Lax"
/// );
/// # Ok::<_, tulip_http::Error>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Cookie {
    /// Cookie name (an RFC 7230 token).
    pub name: String,
    /// Cookie value (RFC 6265 cookie-octets, optionally in double quotes).
    pub value: String,
    /// `Expires` attribute.
    pub expires: Option<SystemTime>,
    /// `Max-Age` attribute in seconds.
    pub max_age: Option<u64>,
    /// `Domain` attribute.
    pub domain: Option<String>,
    /// `Path` attribute.
    pub path: Option<String>,
    /// `Secure` attribute.
    pub secure: bool,
    /// `HttpOnly` attribute.
    pub http_only: bool,
    /// `SameSite` attribute.
    pub same_site: Option<SameSite>,
}

impl Cookie {
    /// A cookie with a name and a value and no attributes.
    pub fn new(name: impl Into<String>, value: impl Into<String>) -> Cookie {
        Cookie {
            name: name.into(),
            value: value.into(),
            ..Cookie::default()
        }
    }

    /// Sets `Expires`.
    pub fn with_expires(mut self, at: SystemTime) -> Cookie {
        self.expires = Some(at);
        self
    }

    /// Sets `Max-Age` (whole seconds).
    pub fn with_max_age(mut self, age: Duration) -> Cookie {
        self.max_age = Some(age.as_secs());
        self
    }

    /// Sets `Domain`.
    pub fn with_domain(mut self, domain: impl Into<String>) -> Cookie {
        self.domain = Some(domain.into());
        self
    }

    /// Sets `Path`.
    pub fn with_path(mut self, path: impl Into<String>) -> Cookie {
        self.path = Some(path.into());
        self
    }

    /// Sets `Secure`.
    pub fn with_secure(mut self, on: bool) -> Cookie {
        self.secure = on;
        self
    }

    /// Sets `HttpOnly`.
    pub fn with_http_only(mut self, on: bool) -> Cookie {
        self.http_only = on;
        self
    }

    /// Sets `SameSite`.
    pub fn with_same_site(mut self, s: SameSite) -> Cookie {
        self.same_site = Some(s);
        self
    }

    /// Checks the name, the value and the attribute texts against RFC 6265, so a cookie can
    /// never smuggle another attribute or header.
    fn check(&self) -> Result<(), &'static str> {
        if self.name.is_empty() || !self.name.bytes().all(is_tchar) {
            return Err("a cookie name must be a non-empty token (no spaces, '=', ';' ...)");
        }
        let v = self.value.as_bytes();
        let inner = match v {
            [b'"', inner @ .., b'"'] => inner,
            _ => v,
        };
        if !inner.iter().all(|&b| is_cookie_octet(b)) {
            return Err("a cookie value may not hold spaces, '\"', ',', ';', '\\' or controls");
        }
        for attr in [&self.path, &self.domain].into_iter().flatten() {
            if attr.bytes().any(|b| b == b';' || b.is_ascii_control()) {
                return Err("a cookie's Path or Domain may not hold ';' or controls");
            }
        }
        Ok(())
    }
}

impl fmt::Display for Cookie {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}={}", self.name, self.value)?;
        if let Some(t) = self.expires {
            write!(f, "; Expires={}", httpdate::fmt_http_date(t))?;
        }
        if let Some(a) = self.max_age {
            write!(f, "; Max-Age={a}")?;
        }
        if let Some(d) = &self.domain {
            write!(f, "; Domain={d}")?;
        }
        if let Some(p) = &self.path {
            write!(f, "; Path={p}")?;
        }
        if self.secure {
            f.write_str("; Secure")?;
        }
        if self.http_only {
            f.write_str("; HttpOnly")?;
        }
        if let Some(s) = self.same_site {
            write!(f, "; SameSite={}", s.as_str())?;
        }
        Ok(())
    }
}

fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// RFC 6265 cookie-octet: printable US-ASCII but space, `"`, `,`, `;` and `\`.
fn is_cookie_octet(b: u8) -> bool {
    matches!(b, 0x21 | 0x23..=0x2b | 0x2d..=0x3a | 0x3c..=0x5b | 0x5d..=0x7e)
}

/// Parses one `Cookie` header value (RFC 6265 section 5.4 as browsers send it, read
/// leniently): `a=1; b="2"`. Pairs without `=` or with an empty name are skipped; surrounding
/// double quotes are removed from values.
pub(crate) fn parse_cookie_header(value: &str) -> impl Iterator<Item = (&str, &str)> {
    value.split(';').filter_map(|pair| {
        let (name, v) = pair.split_once('=')?;
        let name = name.trim();
        if name.is_empty() {
            return None;
        }
        let v = v.trim();
        let v = v
            .strip_prefix('"')
            .and_then(|v| v.strip_suffix('"'))
            .unwrap_or(v);
        Some((name, v))
    })
}

impl Response {
    /// Adds a `Set-Cookie` header, replacing an earlier one of the same name on this
    /// response (as aiohttp does).
    ///
    /// # Errors
    ///
    /// [`Error::is_user`] when the name is not a token, the value holds characters RFC 6265
    /// forbids (spaces, `"`, `,`, `;`, `\`, controls; percent-encode such values), or the
    /// path or domain holds `;` or controls; nothing is added then.
    pub fn set_cookie(&mut self, cookie: &Cookie) -> Result<(), Error> {
        cookie
            .check()
            .map_err(|why| Error::new(Kind::User, "invalid cookie").with_cause(why))?;
        let value = HeaderValue::try_from(cookie.to_string())
            .map_err(|e| Error::new(Kind::User, "invalid cookie").with_cause(e))?;
        let prefix = format!("{}=", cookie.name);
        let headers = self.headers_mut();
        let keep: Vec<HeaderValue> = headers
            .get_all(SET_COOKIE)
            .iter()
            .filter(|v| !v.as_bytes().starts_with(prefix.as_bytes()))
            .cloned()
            .collect();
        headers.remove(SET_COOKIE);
        for v in keep {
            headers.append(SET_COOKIE, v);
        }
        headers.append(SET_COOKIE, value);
        Ok(())
    }

    /// Asks the client to delete cookie `name` (aiohttp's `del_cookie`): an empty value that
    /// expired in 1970 with `Max-Age=0`, for `path` (aiohttp's default is `/`) and `domain`,
    /// which must match the ones the cookie was set with.
    ///
    /// ```
    /// let mut r = tulip_http::Response::text("bye");
    /// r.del_cookie("session", Some("/"), None)?;
    /// assert_eq!(
    ///     r.headers()["set-cookie"],
    ///     "session=; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Max-Age=0; Path=/"
    /// );
    /// # Ok::<_, tulip_http::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`set_cookie`](Response::set_cookie).
    pub fn del_cookie(
        &mut self,
        name: &str,
        path: Option<&str>,
        domain: Option<&str>,
    ) -> Result<(), Error> {
        let mut c = Cookie::new(name, "");
        c.expires = Some(SystemTime::UNIX_EPOCH);
        c.max_age = Some(0);
        c.path = path.map(str::to_string);
        c.domain = domain.map(str::to_string);
        self.set_cookie(&c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_every_attribute() {
        let c = Cookie::new("id", "42")
            .with_expires(SystemTime::UNIX_EPOCH + Duration::from_secs(784111777))
            .with_max_age(Duration::from_secs(60))
            .with_domain("example.com")
            .with_path("/a")
            .with_secure(true)
            .with_http_only(true)
            .with_same_site(SameSite::Strict);
        assert_eq!(
            c.to_string(),
            "id=42; Expires=Sun, 06 Nov 1994 08:49:37 GMT; Max-Age=60; Domain=example.com; \
             Path=/a; Secure; HttpOnly; SameSite=Strict"
        );
    }

    #[test]
    fn refuses_what_could_inject_attributes() {
        for c in [
            Cookie::new("a b", "1"),
            Cookie::new("", "1"),
            Cookie::new("a", "1; Domain=evil"),
            Cookie::new("a", "x y"),
            Cookie::new("a", "1").with_path("/; Secure"),
            Cookie::new("a", "1\r\nX-Evil: 1"),
        ] {
            let mut r = Response::new(http::StatusCode::OK);
            let e = r.set_cookie(&c).unwrap_err();
            assert!(e.is_user(), "{c:?}");
            assert!(r.headers().get(SET_COOKIE).is_none());
        }
        let mut r = Response::new(http::StatusCode::OK);
        r.set_cookie(&Cookie::new("q", "\"quoted\"")).unwrap();
    }

    #[test]
    fn set_cookie_replaces_the_same_name() {
        let mut r = Response::new(http::StatusCode::OK);
        r.set_cookie(&Cookie::new("a", "1")).unwrap();
        r.set_cookie(&Cookie::new("ab", "2")).unwrap();
        r.set_cookie(&Cookie::new("a", "3")).unwrap();
        let all: Vec<_> = r.headers().get_all(SET_COOKIE).iter().collect();
        assert_eq!(all, ["ab=2", "a=3"]);
    }

    #[test]
    fn parses_cookie_headers() {
        let got: Vec<_> = parse_cookie_header("a=1; b=\"two\";c=;  =x; junk; d=e=f").collect();
        assert_eq!(got, [("a", "1"), ("b", "two"), ("c", ""), ("d", "e=f")]);
    }
}
