//! Routing by method and path pattern: `/users/{id}` parameters, a greedy `{tail:.*}`, and
//! `{name:regex}` parameters anywhere (`/v{major:\d+}/items/{id:\d+}.json`).
//!
//! Static paths resolve with one hash lookup and no allocation; patterns are tried in
//! registration order. Patterns of whole-segment parameters match segment by segment; any
//! other pattern compiles to one anchored regex (the `regex` crate, without its Unicode
//! tables beyond `\d \w \s`). Parameters are recorded as byte ranges of the path, not copied.

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

/// A piece of a pattern, for building URLs.
#[derive(Debug, Clone)]
enum Token {
    Lit(Box<str>),
    /// A parameter; its regex (anchored at both ends), if it has one.
    Param(Option<regex::Regex>),
}

#[derive(Debug, Clone)]
enum Matcher {
    /// Whole-segment parameters and an optional trailing tail: matched without a regex.
    Segments(Vec<Seg>),
    /// Anything else (`{id:\d+}` anywhere, `{name}.{ext}`): one regex for the whole path,
    /// parameter `i` in group `p{i}`, whose capture index is `groups[i]`.
    Regex {
        re: regex::Regex,
        groups: Vec<usize>,
    },
}

/// Why a pattern was refused: the reason, and the regex error when one did not compile.
#[derive(Debug)]
pub(crate) struct PatternError {
    pub(crate) reason: String,
    pub(crate) cause: Option<regex::Error>,
}

impl PatternError {
    fn new(reason: impl Into<String>) -> PatternError {
        PatternError {
            reason: reason.into(),
            cause: None,
        }
    }
}

/// A parsed path pattern.
#[derive(Debug, Clone)]
pub(crate) struct Pattern {
    pub(crate) raw: Box<str>,
    matcher: Matcher,
    tokens: Vec<Token>,
    pub(crate) names: Vec<Box<str>>,
}

/// Splits a pattern into literal text and `{name}` / `{name:regex}` parameters; a regex may
/// hold balanced braces (`{id:\d{1,3}}`).
fn tokenize(raw: &str) -> Result<Vec<(bool, &str)>, PatternError> {
    let mut out = Vec::new();
    let bytes = raw.as_bytes();
    let (mut i, mut lit_start) = (0, 0);
    while i < bytes.len() {
        match bytes[i] {
            b'{' => {
                if lit_start < i {
                    out.push((false, &raw[lit_start..i]));
                }
                let mut depth = 0usize;
                let mut j = i;
                loop {
                    match bytes.get(j) {
                        Some(b'{') => depth += 1,
                        Some(b'}') => {
                            depth -= 1;
                            if depth == 0 {
                                break;
                            }
                        }
                        Some(b'\\') => j += 1,
                        Some(_) => {}
                        None => return Err(PatternError::new("a '{' is never closed")),
                    }
                    j += 1;
                }
                out.push((true, &raw[i + 1..j]));
                i = j + 1;
                lit_start = i;
            }
            b'}' => return Err(PatternError::new("a '}' closes nothing")),
            _ => i += 1,
        }
    }
    if lit_start < bytes.len() {
        out.push((false, &raw[lit_start..]));
    }
    Ok(out)
}

fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c == '_' || c.is_ascii_alphabetic())
        && chars.all(|c| c == '_' || c.is_ascii_alphanumeric())
}

fn compile(re: &str, what: &str) -> Result<regex::Regex, PatternError> {
    regex::Regex::new(re).map_err(|e| PatternError {
        reason: format!("{what} does not compile"),
        cause: Some(e),
    })
}

impl Pattern {
    /// Parses `/a/{b}/{c:\d+}/{rest:.*}`.
    pub(crate) fn parse(raw: &str) -> Result<Pattern, PatternError> {
        if !raw.starts_with('/') {
            return Err(PatternError::new("a pattern must start with '/'"));
        }
        let pieces = tokenize(raw)?;
        let mut names: Vec<Box<str>> = Vec::new();
        let mut tokens = Vec::new();
        // (name, regex source) per parameter, and whether it fills a whole segment.
        let mut params: Vec<(Option<&str>, bool)> = Vec::new();
        for (k, &(is_param, text)) in pieces.iter().enumerate() {
            if !is_param {
                tokens.push(Token::Lit(text.into()));
                continue;
            }
            let (name, re) = match text.split_once(':') {
                Some((n, re)) => (n, Some(re)),
                None => (text, None),
            };
            if !valid_name(name) {
                return Err(PatternError::new(format!(
                    "parameter name {name:?} must be letters, digits and '_', not starting with a digit"
                )));
            }
            if names.iter().any(|n| &**n == name) {
                return Err(PatternError::new(format!(
                    "parameter {name:?} appears twice"
                )));
            }
            if re == Some("") {
                return Err(PatternError::new(format!(
                    "parameter {name:?} has an empty regex"
                )));
            }
            let before_ok = k > 0 && pieces[k - 1].1.ends_with('/') && !pieces[k - 1].0;
            let after_ok = pieces
                .get(k + 1)
                .is_none_or(|&(p, t)| !p && t.starts_with('/'));
            let validator = match re {
                Some(re) => Some(compile(
                    &format!("^(?:{re})$"),
                    &format!("the regex of parameter {name:?}"),
                )?),
                None => None,
            };
            names.push(name.into());
            tokens.push(Token::Param(validator));
            params.push((re, before_ok && after_ok));
        }
        let n = params.len();
        let simple = params.iter().enumerate().all(|(i, &(re, whole))| {
            whole
                && match re {
                    None => true,
                    Some(".*" | ".+") => i + 1 == n && pieces.last().is_some_and(|p| p.0),
                    Some(_) => false,
                }
        });
        let matcher = if simple {
            let mut segs = Vec::new();
            let mut p = 0;
            for part in raw[1..].split('/') {
                if part.starts_with('{') {
                    segs.push(if params[p].0.is_some() {
                        Seg::Tail
                    } else {
                        Seg::Param
                    });
                    p += 1;
                } else {
                    segs.push(Seg::Static(part.into()));
                }
            }
            Matcher::Segments(segs)
        } else {
            let mut re = String::from("^");
            let mut p = 0;
            for &(is_param, text) in &pieces {
                if is_param {
                    let body = params[p].0.unwrap_or("[^{}/]+");
                    re.push_str(&format!("(?P<p{p}>{body})"));
                    p += 1;
                } else {
                    re.push_str(&regex::escape(text));
                }
            }
            re.push('$');
            let re = compile(&re, "the pattern's regex")?;
            let names: Vec<Option<&str>> = re.capture_names().collect();
            let groups = (0..params.len())
                .map(|i| {
                    let want = format!("p{i}");
                    names
                        .iter()
                        .position(|n| *n == Some(want.as_str()))
                        .ok_or_else(|| PatternError::new("a parameter's regex names a group p<N>"))
                })
                .collect::<Result<_, _>>()?;
            Matcher::Regex { re, groups }
        };
        Ok(Pattern {
            raw: raw.into(),
            matcher,
            tokens,
            names,
        })
    }

    /// The pattern has no parameters.
    pub(crate) fn is_static(&self) -> bool {
        self.names.is_empty()
    }

    /// Builds a path from parameter values (aiohttp's `url_for`). Values are
    /// percent-encoded; a `/` is kept only in parameters with a regex, and a value must
    /// match its parameter's regex.
    pub(crate) fn build(&self, values: &[(&str, &str)]) -> Result<String, String> {
        if let Some((k, _)) = values
            .iter()
            .find(|(k, _)| !self.names.iter().any(|n| &**n == *k))
        {
            return Err(format!("{:?} has no parameter {k:?}", self.raw));
        }
        let mut out = String::new();
        let mut p = 0;
        for t in &self.tokens {
            match t {
                Token::Lit(l) => out.push_str(l),
                Token::Param(validator) => {
                    let name = &*self.names[p];
                    p += 1;
                    let Some((_, v)) = values.iter().find(|(k, _)| *k == name) else {
                        return Err(format!("parameter {name:?} of {:?} is missing", self.raw));
                    };
                    let set = if validator.is_some() {
                        PATH_KEEP_SLASH
                    } else {
                        PATH_SEGMENT
                    };
                    let enc = percent_encoding::utf8_percent_encode(v, set).to_string();
                    if let Some(re) = validator {
                        if !re.is_match(&enc) {
                            return Err(format!(
                                "value {v:?} does not match the regex of parameter {name:?} of {:?}",
                                self.raw
                            ));
                        }
                    } else if enc.is_empty() {
                        return Err(format!("parameter {name:?} of {:?} is empty", self.raw));
                    }
                    out.push_str(&enc);
                }
            }
        }
        Ok(out)
    }

    /// Matches `path` (starting with '/'), recording parameter ranges into `out`.
    pub(crate) fn matches(&self, path: &str, out: &mut Params) -> bool {
        out.clear();
        match &self.matcher {
            Matcher::Segments(segs) => match_segments(segs, path, out),
            Matcher::Regex { re, groups } => {
                let Some(caps) = re.captures(path) else {
                    return false;
                };
                for &g in groups {
                    let m = caps.get(g);
                    let (a, b) = m.map_or((0, 0), |m| (m.start() as u32, m.end() as u32));
                    out.push((a, b));
                }
                true
            }
        }
    }
}

/// Characters escaped in a plain parameter's value: controls, space, the delimiters and
/// `/`, `%`, `?`, `#`.
const PATH_SEGMENT: &percent_encoding::AsciiSet = &percent_encoding::CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'/')
    .add(b'<')
    .add(b'>')
    .add(b'?')
    .add(b'`')
    .add(b'{')
    .add(b'}');

/// The same, keeping `/` (a regex parameter may span segments).
const PATH_KEEP_SLASH: &percent_encoding::AsciiSet = &percent_encoding::CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'<')
    .add(b'>')
    .add(b'?')
    .add(b'`')
    .add(b'{')
    .add(b'}');

fn match_segments(segs: &[Seg], path: &str, out: &mut Params) -> bool {
    let Some(mut rest) = path.strip_prefix('/') else {
        return false;
    };
    let mut pos = 1u32;
    for (i, seg) in segs.iter().enumerate() {
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
        let last = i + 1 == segs.len();
        match (next, last) {
            (None, true) => return true,
            (Some(n), false) => {
                pos += part.len() as u32 + 1;
                rest = n;
            }
            // A trailing tail parameter may match the empty remainder.
            (None, false) => {
                if segs[i + 1] == Seg::Tail && i + 2 == segs.len() {
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

/// The routing table.
#[derive(Debug, Default)]
pub(crate) struct Router {
    routes: Vec<Arc<Route>>,
    by_path: HashMap<Box<str>, Vec<usize>, BuildPathHasher>,
    patterns: Vec<usize>,
}

/// A fast, unkeyed hash for the static-path table, looked up once per request. SipHash's
/// keying guards a map against keys chosen to collide; these keys are the app's own routes,
/// fixed before serving, and a request's path is only looked up, never inserted, so a
/// colliding path costs at most a probe over the app's few routes.
#[derive(Debug, Default, Clone, Copy)]
struct BuildPathHasher;

impl std::hash::BuildHasher for BuildPathHasher {
    type Hasher = PathHasher;

    fn build_hasher(&self) -> PathHasher {
        PathHasher(0)
    }
}

/// Multiply-rotate over 8-byte words (the Fx hash's scheme).
#[derive(Debug)]
struct PathHasher(u64);

impl PathHasher {
    const K: u64 = 0x517c_c1b7_2722_0a95;

    fn word(&mut self, w: u64) {
        self.0 = (self.0.rotate_left(5) ^ w).wrapping_mul(Self::K);
    }
}

impl std::hash::Hasher for PathHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut w = [0u8; 8];
            w.copy_from_slice(c);
            self.word(u64::from_le_bytes(w));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut w = [0u8; 8];
            w[..rest.len()].copy_from_slice(rest);
            self.word(u64::from_le_bytes(w));
        }
    }

    fn write_u8(&mut self, b: u8) {
        self.word(u64::from(b));
    }

    fn finish(&self) -> u64 {
        self.0
    }
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
            ("/{id:\\d+}", "/42", Some(&["42"])),
            ("/{id:\\d+}", "/x42", None),
            ("/u/{id:\\d+}/posts", "/u/7/posts", Some(&["7"])),
            ("/u/{id:\\d+}/posts", "/u/x/posts", None),
            (
                "/v{major:\\d{1,2}}/{name}.{ext}",
                "/v12/pic.png",
                Some(&["12", "pic", "png"]),
            ),
            ("/v{major:\\d{1,2}}/{name}.{ext}", "/v123/pic.png", None),
            ("/files/{path:.+}/raw", "/files/a/b/raw", Some(&["a/b"])),
            ("/{t:.*}/x", "/a/b/x", Some(&["a/b"])),
            ("/a{b}", "/axyz", Some(&["xyz"])),
        ];
        for (pattern, path, want) in table {
            let want = want.map(|w| w.iter().map(|s| s.to_string()).collect::<Vec<_>>());
            assert_eq!(m(pattern, path), want, "{pattern} vs {path}");
        }
    }

    #[test]
    fn urls_are_built_and_checked() {
        let p = Pattern::parse("/u/{id:\\d+}/f/{name}").unwrap();
        assert_eq!(
            p.build(&[("id", "3"), ("name", "a b/c")]).unwrap(),
            "/u/3/f/a%20b%2Fc"
        );
        assert!(
            p.build(&[("id", "x"), ("name", "a")])
                .unwrap_err()
                .contains("does not match")
        );
        assert!(p.build(&[("id", "3")]).unwrap_err().contains("missing"));
        assert!(
            p.build(&[("id", "3"), ("name", "a"), ("z", "1")])
                .unwrap_err()
                .contains("no parameter")
        );
        let t = Pattern::parse("/static/{tail:.*}").unwrap();
        assert_eq!(
            t.build(&[("tail", "css/site.css")]).unwrap(),
            "/static/css/site.css"
        );
    }

    #[test]
    fn bad_patterns_are_errors() {
        for (p, why) in [
            ("nope", "start with '/'"),
            ("/{}", "parameter name"),
            ("/{a}/{a}", "twice"),
            ("/{1a}", "parameter name"),
            ("/{a:[0-9}", "does not compile"),
            ("/{a", "never closed"),
            ("/a}", "closes nothing"),
            ("/{a:}", "empty regex"),
        ] {
            let e = Pattern::parse(p).unwrap_err();
            assert!(e.reason.contains(why), "{p}: {}", e.reason);
        }
        assert!(Pattern::parse("/{a:[0-9}").unwrap_err().cause.is_some());
    }
}
