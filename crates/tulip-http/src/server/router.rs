//! Routing by method and path pattern: `/users/{id}` parameters and a greedy `{tail:.*}`.
//!
//! Static paths resolve with one hash lookup and no allocation; patterns are tried in
//! registration order. Parameters are recorded as byte ranges of the path, not copied.

use std::collections::HashMap;
use std::sync::Arc;

use http::Method;
use smallvec::SmallVec;

use super::app::Route;

/// Byte ranges of captured parameters, relative to the path.
pub(crate) type Params = SmallVec<[(u32, u32); 4]>;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Seg {
    Static(Box<str>),
    Param,
    Tail,
}

/// A parsed path pattern.
#[derive(Debug, Clone)]
pub(crate) struct Pattern {
    pub(crate) raw: Box<str>,
    segs: Vec<Seg>,
    pub(crate) names: Vec<Box<str>>,
}

impl Pattern {
    /// Parses `/a/{b}/{c:.*}`. Returns a message on bad syntax.
    pub(crate) fn parse(raw: &str) -> Result<Pattern, String> {
        if !raw.starts_with('/') {
            return Err(format!("pattern {raw:?} must start with '/'"));
        }
        let mut segs = Vec::new();
        let mut names: Vec<Box<str>> = Vec::new();
        let parts: Vec<&str> = raw[1..].split('/').collect();
        for (i, part) in parts.iter().enumerate() {
            if let Some(inner) = part.strip_prefix('{').and_then(|p| p.strip_suffix('}')) {
                let (name, tail) = match inner.split_once(':') {
                    Some((n, ".*" | ".+")) => (n, true),
                    Some((_, re)) => {
                        return Err(format!("unsupported parameter regex {re:?} in {raw:?}"));
                    }
                    None => (inner, false),
                };
                if name.is_empty() || names.iter().any(|n| &**n == name) {
                    return Err(format!("bad or repeated parameter name in {raw:?}"));
                }
                if tail && i + 1 != parts.len() {
                    return Err(format!("a tail parameter must come last in {raw:?}"));
                }
                names.push(name.into());
                segs.push(if tail { Seg::Tail } else { Seg::Param });
            } else if part.contains(['{', '}']) {
                return Err(format!("bad pattern segment {part:?} in {raw:?}"));
            } else {
                segs.push(Seg::Static((*part).into()));
            }
        }
        Ok(Pattern {
            raw: raw.into(),
            segs,
            names,
        })
    }

    /// The pattern has no parameters.
    pub(crate) fn is_static(&self) -> bool {
        self.names.is_empty()
    }

    /// Matches `path` (starting with '/'), recording parameter ranges into `out`.
    pub(crate) fn matches(&self, path: &str, out: &mut Params) -> bool {
        out.clear();
        let Some(mut rest) = path.strip_prefix('/') else {
            return false;
        };
        let mut pos = 1u32;
        for (i, seg) in self.segs.iter().enumerate() {
            if *seg == Seg::Tail {
                out.push((pos, path.len() as u32));
                return true;
            }
            let (part, next) = match rest.find('/') {
                Some(j) => (&rest[..j], Some(&rest[j + 1..])),
                None => (rest, None),
            };
            match seg {
                Seg::Static(s) if **s == *part => {}
                Seg::Param if !part.is_empty() => out.push((pos, pos + part.len() as u32)),
                _ => return false,
            }
            let last = i + 1 == self.segs.len();
            match (next, last) {
                (None, true) => return true,
                (Some(n), false) => {
                    pos += part.len() as u32 + 1;
                    rest = n;
                }
                // A trailing tail parameter may match the empty remainder.
                (None, false) => {
                    if self.segs[i + 1] == Seg::Tail && i + 2 == self.segs.len() {
                        out.push((path.len() as u32, path.len() as u32));
                        return true;
                    }
                    return false;
                }
                (Some(_), true) => return false,
            }
        }
        false
    }
}

/// The routing table.
#[derive(Debug, Default)]
pub(crate) struct Router {
    routes: Vec<Arc<Route>>,
    by_path: HashMap<Box<str>, Vec<usize>>,
    patterns: Vec<usize>,
}

/// The outcome of resolving a request.
#[derive(Debug)]
pub(crate) enum Resolved<'a> {
    Found(&'a Arc<Route>, Params),
    /// The path exists for other methods (listed for the `Allow` header).
    MethodNotAllowed(String),
    NotFound,
}

impl Router {
    pub(crate) fn add(&mut self, route: Arc<Route>) {
        let i = self.routes.len();
        if route.pattern.is_static() {
            self.by_path
                .entry(route.pattern.raw.clone())
                .or_default()
                .push(i);
        } else {
            self.patterns.push(i);
        }
        self.routes.push(route);
    }

    pub(crate) fn routes(&self) -> &[Arc<Route>] {
        &self.routes
    }

    pub(crate) fn resolve(&self, method: &Method, path: &str) -> Resolved<'_> {
        let mut params = Params::new();
        let mut head_fallback: Option<(usize, Params)> = None;
        let mut path_matched = false;
        let statics = self.by_path.get(path).map(Vec::as_slice).unwrap_or(&[]);
        for &i in statics.iter().chain(self.patterns.iter()) {
            let route = &self.routes[i];
            if !route.pattern.is_static() && !route.pattern.matches(path, &mut params) {
                continue;
            }
            if route.pattern.is_static() {
                params.clear();
            }
            path_matched = true;
            match &route.method {
                None => return Resolved::Found(route, params),
                Some(m) if m == method => return Resolved::Found(route, params),
                Some(m)
                    if *m == Method::GET && *method == Method::HEAD && head_fallback.is_none() =>
                {
                    head_fallback = Some((i, params.clone()));
                }
                _ => {}
            }
        }
        if let Some((i, p)) = head_fallback {
            return Resolved::Found(&self.routes[i], p);
        }
        if !path_matched {
            return Resolved::NotFound;
        }
        let mut allow: Vec<&str> = Vec::new();
        for &i in statics.iter().chain(self.patterns.iter()) {
            let route = &self.routes[i];
            if route.pattern.is_static() || route.pattern.matches(path, &mut params) {
                if let Some(m) = &route.method {
                    if !allow.contains(&m.as_str()) {
                        allow.push(m.as_str());
                    }
                    if *m == Method::GET && !allow.contains(&"HEAD") {
                        allow.push("HEAD");
                    }
                }
            }
        }
        Resolved::MethodNotAllowed(allow.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(pattern: &str, path: &str) -> Option<Vec<String>> {
        let p = Pattern::parse(pattern).unwrap();
        let mut out = Params::new();
        p.matches(path, &mut out).then(|| {
            out.iter()
                .map(|&(a, b)| path[a as usize..b as usize].to_string())
                .collect()
        })
    }

    #[test]
    fn pattern_table() {
        let table: &[(&str, &str, Option<&[&str]>)] = &[
            ("/", "/", Some(&[])),
            ("/{name}", "/bob", Some(&["bob"])),
            ("/{name}", "/", None),
            ("/{name}", "/a/b", None),
            ("/u/{id}/posts/{post}", "/u/7/posts/9", Some(&["7", "9"])),
            ("/u/{id}/posts", "/u/7/posts/", None),
            (
                "/static/{tail:.*}",
                "/static/a/b/c.txt",
                Some(&["a/b/c.txt"]),
            ),
            ("/static/{tail:.*}", "/static/", Some(&[""])),
            ("/static/{tail:.*}", "/static", Some(&[""])),
            ("/static/{tail:.*}", "/other/x", None),
            ("/a/b", "/a/b", Some(&[])),
            ("/a/b", "/a/c", None),
        ];
        for (pattern, path, want) in table {
            let want = want.map(|w| w.iter().map(|s| s.to_string()).collect::<Vec<_>>());
            assert_eq!(m(pattern, path), want, "{pattern} vs {path}");
        }
    }

    #[test]
    fn bad_patterns_are_errors() {
        for p in [
            "nope",
            "/{}",
            "/{a}/{a}",
            "/{t:.*}/x",
            "/{a:[0-9]+}",
            "/a{b}",
        ] {
            assert!(Pattern::parse(p).is_err(), "{p}");
        }
    }
}
