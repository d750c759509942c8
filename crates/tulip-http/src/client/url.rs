//! Request targets: what a URL says about where to connect and what to ask for.

use std::borrow::Cow;

use http::Uri;
use http::uri::{Authority, Scheme};

use super::auth::BasicAuth;
use crate::error::{Error, Kind};

/// An absolute `http`/`https` URL, split the way a client needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Target {
    /// The URL without its credentials (what responses, errors and logs show).
    pub(crate) uri: Uri,
    pub(crate) https: bool,
    pub(crate) host: String,
    pub(crate) port: u16,
    /// Whether the URL wrote its port as the scheme's default one (`http://h:80/`).
    default_port_written: bool,
    /// The credentials of the URL's userinfo (`user:pass@`), sent as Basic auth.
    pub(crate) auth: Option<BasicAuth>,
}

/// The host (an IPv6 literal without its brackets) and the port of an authority, in one pass.
/// It gives what `Authority::host` and `Uri::port_u16` give, which split the authority again on
/// each call, two to three times per request.
fn host_and_port(authority: &str) -> (&str, Option<u16>) {
    // Byte searches: the `char` patterns of `str` cost a `memrchr` call setup each, several
    // times what a short authority needs.
    let bytes = authority.as_bytes();
    let start = bytes
        .iter()
        .rposition(|&b| b == b'@')
        .map_or(0, |at| at + 1);
    let host_port = &authority[start..];
    let (host, port) = match host_port.strip_prefix('[') {
        Some(v6) => match v6.bytes().position(|b| b == b']') {
            Some(end) => (&v6[..end], v6[end + 1..].strip_prefix(':')),
            None => (v6, None),
        },
        None => match host_port.bytes().position(|b| b == b':') {
            Some(colon) => (&host_port[..colon], Some(&host_port[colon + 1..])),
            None => (host_port, None),
        },
    };
    (host, port.and_then(|p| p.parse().ok()))
}

impl Target {
    pub(crate) fn parse(url: &str) -> Result<Target, Error> {
        let uri: Uri = url.parse().map_err(|e: http::uri::InvalidUri| {
            Error::new(Kind::User, "invalid URL").with_cause(e).at(url)
        })?;
        Target::from_uri(uri)
    }

    pub(crate) fn from_uri(uri: Uri) -> Result<Target, Error> {
        let (uri, auth) = Target::strip_userinfo(uri)?;
        let (host, written_port) = host_and_port(uri.authority().map_or("", |a| a.as_str()));
        Target::check(&uri, host).map_err(|e| e.at(&uri))?;
        let https = uri.scheme_str() == Some("https");
        let default = if https { 443 } else { 80 };
        let host = host.to_string();
        let port = written_port.unwrap_or(default);
        Ok(Target {
            uri,
            https,
            host,
            port,
            default_port_written: written_port == Some(default),
            auth,
        })
    }

    /// Takes `user:pass@` out of the authority: the credentials become Basic auth, and the
    /// URL kept (shown in errors and `ClientResponse::url`) has no password in it.
    fn strip_userinfo(uri: Uri) -> Result<(Uri, Option<BasicAuth>), Error> {
        let Some(at) = uri
            .authority()
            .and_then(|a| a.as_str().bytes().rposition(|b| b == b'@'))
        else {
            return Ok((uri, None));
        };
        let authority = uri.authority().map_or("", |a| a.as_str());
        let auth = BasicAuth::from_userinfo(&authority[..at]);
        let bare: Authority = authority[at + 1..]
            .parse()
            .map_err(|_| Error::new(Kind::User, "URL has no host after its credentials"))?;
        let mut parts = uri.into_parts();
        parts.authority = Some(bare);
        if parts.path_and_query.is_none() {
            parts.path_and_query = Some(http::uri::PathAndQuery::from_static("/"));
        }
        let uri = Uri::from_parts(parts)
            .map_err(|e| Error::new(Kind::User, "invalid URL").with_cause(e))?;
        Ok((uri, Some(auth)))
    }

    /// Whether `uri` is an absolute `http`/`https` URL with a host (its credentials taken out;
    /// `host` is its host, from `host_and_port`).
    fn check(uri: &Uri, host: &str) -> Result<(), Error> {
        match uri.scheme_str() {
            Some("http" | "https") => {}
            Some(_) => return Err(Error::new(Kind::User, "URL scheme must be http or https")),
            None => {
                return Err(Error::new(
                    Kind::User,
                    "URL must be absolute (http://host/...)",
                ));
            }
        }
        if uri.authority().is_none() || host.is_empty() {
            return Err(Error::new(Kind::User, "URL has no host"));
        }
        Ok(())
    }

    /// `host:port` as a person writes it (IPv6 literals in brackets), for messages.
    pub(crate) fn host_port(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }

    /// `(scheme, host, port)`: the pool key and the origin for redirect rules.
    pub(crate) fn origin(&self) -> (bool, &str, u16) {
        (self.https, &self.host, self.port)
    }

    /// The `Host` header value: the authority without default port (borrowed from the URL
    /// when it is written that way already, as it nearly always is).
    pub(crate) fn host_header(&self) -> Cow<'_, str> {
        let default = if self.https { 443 } else { 80 };
        let written = self.uri.authority().map_or("", |a| a.as_str());
        if !self.default_port_written && !written.ends_with(':') && !written.is_empty() {
            return Cow::Borrowed(written);
        }
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        Cow::Owned(if self.port == default {
            host
        } else {
            format!("{host}:{}", self.port)
        })
    }

    /// The origin-form request target (`/path?query`), plus extra query pairs; borrowed from
    /// the URL when there are none.
    pub(crate) fn request_target(&self, extra_query: &[(String, String)]) -> Cow<'_, str> {
        let written = self.uri.path_and_query().map_or("/", |p| p.as_str());
        if extra_query.is_empty() && !written.is_empty() {
            return Cow::Borrowed(written);
        }
        let mut t = written.to_string();
        if t.is_empty() {
            t.push('/');
        }
        if !extra_query.is_empty() {
            let encoded = form_urlencoded::Serializer::new(String::new())
                .extend_pairs(extra_query)
                .finish();
            t.push(if t.contains('?') { '&' } else { '?' });
            t.push_str(&encoded);
        }
        Cow::Owned(t)
    }

    /// Resolves a `Location` value against this URL (RFC 3986 §5.2, the common forms).
    pub(crate) fn join(&self, location: &str) -> Result<Target, Error> {
        let bad = || {
            Error::new(
                Kind::Parse(crate::error::Parse::Syntax),
                "invalid Location header",
            )
            .at(location)
        };
        if location.starts_with("http://") || location.starts_with("https://") {
            return Target::parse(location).map_err(|e| bad().with_cause(e));
        }
        let scheme = if self.https {
            Scheme::HTTPS
        } else {
            Scheme::HTTP
        };
        let (authority, path): (Authority, String) = if let Some(rest) = location.strip_prefix("//")
        {
            let (auth, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
            (
                auth.parse().map_err(|_| bad())?,
                if path.is_empty() {
                    "/".into()
                } else {
                    path.into()
                },
            )
        } else if location.starts_with('/') {
            (
                self.uri.authority().cloned().ok_or_else(bad)?,
                location.into(),
            )
        } else {
            // Relative path: replace the last segment of the current path.
            let base = self.uri.path();
            let dir = &base[..base.rfind('/').map_or(0, |i| i + 1)];
            (
                self.uri.authority().cloned().ok_or_else(bad)?,
                format!("{}{location}", if dir.is_empty() { "/" } else { dir }),
            )
        };
        let uri = Uri::builder()
            .scheme(scheme)
            .authority(authority)
            .path_and_query(path)
            .build()
            .map_err(|_| bad())?;
        Target::from_uri(uri)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_host_header() {
        let t = Target::parse("http://example.com/a/b?c=1").unwrap();
        assert_eq!(
            (t.https, t.host.as_str(), t.port),
            (false, "example.com", 80)
        );
        assert_eq!(t.host_header(), "example.com");
        assert_eq!(
            t.request_target(&[("q".into(), "a b".into())]),
            "/a/b?c=1&q=a+b"
        );
        let t = Target::parse("https://[::1]:8443").unwrap();
        assert_eq!((t.https, t.host.as_str(), t.port), (true, "::1", 8443));
        assert_eq!(t.host_header(), "[::1]:8443");
        assert_eq!(t.request_target(&[]), "/");
        let t = Target::parse("http://us%40er:p%3Aw@host:81/x").unwrap();
        assert_eq!(t.uri.to_string(), "http://host:81/x");
        let auth = t.auth.clone().unwrap();
        assert_eq!((auth.login(), auth.password()), ("us@er", "p:w"));
        assert_eq!(t.host_header(), "host:81");
        for bad in ["ftp://x/", "/relative", "http://user:pw@/", "not a url"] {
            assert!(Target::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn default_port_written_is_left_out_of_host() {
        for (url, host) in [
            ("http://h:80/", "h"),
            ("https://h:443/", "h"),
            ("http://h:443/", "h:443"),
            ("https://[::1]:443/", "[::1]"),
            ("http://[::1]/", "[::1]"),
        ] {
            assert_eq!(Target::parse(url).unwrap().host_header(), host, "{url}");
        }
    }

    proptest::proptest! {
        /// `host_and_port` agrees with `http`'s own `Authority::host` and `port_u16`, which
        /// it replaces on the request path.
        #[test]
        fn host_and_port_agrees_with_http(
            host in proptest::prop_oneof![
                "[a-z0-9.-]{1,20}",
                "[0-9]{1,3}\\.[0-9]{1,3}\\.[0-9]{1,3}\\.[0-9]{1,3}",
                "\\[[0-9a-f:]{2,20}\\]",
            ],
            user in proptest::option::of("[a-z]{1,5}(:[a-z]{0,5})?@"),
            port in proptest::option::of(":[0-9]{0,6}"),
        ) {
            let written = format!("{}{host}{}", user.unwrap_or_default(), port.unwrap_or_default());
            if let Ok(a) = written.parse::<Authority>() {
                let want_host = a.host().trim_start_matches('[').trim_end_matches(']');
                let (got_host, got_port) = host_and_port(a.as_str());
                proptest::prop_assert_eq!(got_host, want_host, "{}", written);
                proptest::prop_assert_eq!(got_port, a.port_u16(), "{}", written);
            }
        }
    }

    #[test]
    fn join_locations() {
        let base = Target::parse("http://h:8080/dir/page?x=1").unwrap();
        let cases = [
            ("https://other/p", "https://other/p"),
            ("//cdn.example/x", "http://cdn.example/x"),
            ("/root?y=2", "http://h:8080/root?y=2"),
            ("next", "http://h:8080/dir/next"),
        ];
        for (loc, want) in cases {
            assert_eq!(base.join(loc).unwrap().uri.to_string(), want, "{loc}");
        }
    }
}
