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
    /// The credentials of the URL's userinfo (`user:pass@`), sent as Basic auth.
    pub(crate) auth: Option<BasicAuth>,
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
        Target::check(&uri).map_err(|e| e.at(&uri))?;
        let https = uri.scheme_str() == Some("https");
        let host = uri
            .authority()
            .map_or("", |a| a.host())
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string();
        let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
        Ok(Target {
            uri,
            https,
            host,
            port,
            auth,
        })
    }

    /// Takes `user:pass@` out of the authority: the credentials become Basic auth, and the
    /// URL kept (shown in errors and `ClientResponse::url`) has no password in it.
    fn strip_userinfo(uri: Uri) -> Result<(Uri, Option<BasicAuth>), Error> {
        let Some(at) = uri.authority().and_then(|a| a.as_str().rfind('@')) else {
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

    /// Whether `uri` is an absolute `http`/`https` URL with a host (its credentials taken out).
    fn check(uri: &Uri) -> Result<(), Error> {
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
        let auth = uri
            .authority()
            .ok_or_else(|| Error::new(Kind::User, "URL has no host"))?;
        if auth
            .host()
            .trim_start_matches('[')
            .trim_end_matches(']')
            .is_empty()
        {
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
        if self.uri.port_u16() != Some(default) && !written.ends_with(':') && !written.is_empty() {
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
