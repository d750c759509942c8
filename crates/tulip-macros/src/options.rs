//! The attribute's options: `workers = 4, flavor = "local", debug = true, timeout = "5s",
//! crate = "path"`, a comma-separated list of `name = value`.

use proc_macro::{Delimiter, Literal, Span, TokenStream, TokenTree};

use crate::error::{Error, Result};

/// Which macro is expanding: they share options, but only tests take a time limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Main,
    Test,
}

impl Kind {
    /// The attribute as the user writes it, for messages.
    pub(crate) fn attribute(self) -> &'static str {
        match self {
            Kind::Main => "#[tulip::main]",
            Kind::Test => "#[tulip::test]",
        }
    }

    fn option_list(self) -> &'static str {
        match self {
            Kind::Main => "`workers`, `flavor`, `debug` and `crate`",
            Kind::Test => "`workers`, `flavor`, `debug`, `timeout` and `crate`",
        }
    }
}

/// Where the future runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Flavor {
    /// The work-stealing `Runtime` (the default, as `tulip::run`).
    MultiThread,
    /// A `LocalExecutor` on the calling thread: `!Send` tasks with `spawn_local`.
    Local,
}

/// A test's time limit.
#[derive(Debug)]
pub(crate) struct Timeout {
    pub(crate) millis: u64,
    /// The limit as written, for the failure message.
    pub(crate) written: String,
}

/// The parsed options; `None` is "not given".
#[derive(Debug, Default)]
pub(crate) struct Options {
    pub(crate) workers: Option<usize>,
    pub(crate) flavor: Option<Flavor>,
    pub(crate) debug: Option<bool>,
    pub(crate) timeout: Option<Timeout>,
    /// The path to the crate that has `__macro_support` (`::tulip` when not given).
    pub(crate) krate: Option<TokenStream>,
}

impl Options {
    pub(crate) fn parse(args: TokenStream, kind: Kind) -> Result<Options> {
        let mut options = Options::default();
        // Each option given so far and where its name is: to reject a second one, and to
        // point at the option that does not go with the local flavor.
        let mut seen: Vec<(String, Span)> = Vec::new();
        let mut tokens = args.into_iter();
        while let Some(token) = tokens.next() {
            let TokenTree::Ident(name) = token else {
                return Err(Error::new(
                    token.span(),
                    format!(
                        "expected an option name, found `{token}`; {} takes {}, as in `workers = 4`",
                        kind.attribute(),
                        kind.option_list()
                    ),
                ));
            };
            let key = name.to_string();
            let key = key.strip_prefix("r#").unwrap_or(&key).to_owned();
            if !matches!(
                key.as_str(),
                "workers" | "flavor" | "debug" | "timeout" | "crate"
            ) || (key == "timeout" && kind == Kind::Main)
            {
                let hint = if key == "timeout" {
                    "; a time limit is for tests, with #[tulip::test(timeout = \"5s\")]"
                } else {
                    ""
                };
                return Err(Error::new(
                    name.span(),
                    format!(
                        "unknown option `{key}`: {} takes {}{hint}",
                        kind.attribute(),
                        kind.option_list()
                    ),
                ));
            }
            if seen.iter().any(|(k, _)| *k == key) {
                return Err(Error::new(
                    name.span(),
                    format!("option `{key}` is given twice: keep one"),
                ));
            }
            seen.push((key.clone(), name.span()));
            match tokens.next() {
                Some(TokenTree::Punct(p)) if p.as_char() == '=' => {}
                other => {
                    return Err(Error::new(
                        other.map_or(name.span(), |t| t.span()),
                        format!("expected `=` after `{key}`, as in `{}`", example(&key)),
                    ));
                }
            }
            let Some(value) = tokens.next() else {
                return Err(Error::new(
                    name.span(),
                    format!(
                        "expected a value after `{key} =`, as in `{}`",
                        example(&key)
                    ),
                ));
            };
            let value = unwrap_none_group(value);
            match key.as_str() {
                "workers" => options.workers = Some(workers(&value)?),
                "flavor" => options.flavor = Some(flavor(&value)?),
                "debug" => options.debug = Some(debug(&value)?),
                "timeout" => options.timeout = Some(timeout(&value)?),
                "crate" => options.krate = Some(crate_path(&value)?),
                _ => unreachable!("checked above"),
            }
            match tokens.next() {
                None => break,
                Some(TokenTree::Punct(p)) if p.as_char() == ',' => {}
                Some(other) => {
                    return Err(Error::new(
                        other.span(),
                        format!("expected `,` between options, found `{other}`"),
                    ));
                }
            }
        }
        if options.flavor == Some(Flavor::Local) {
            for (key, span) in &seen {
                let why = match key.as_str() {
                    "workers" => {
                        "the local flavor runs every task on the calling thread; drop `flavor = \"local\"` for a multi-thread runtime with worker threads"
                    }
                    "debug" => {
                        "debug mode (slow-poll warnings, pending tasks at shutdown) is a feature of the multi-thread runtime; drop `flavor = \"local\"` to use it"
                    }
                    _ => continue,
                };
                return Err(Error::new(
                    *span,
                    format!("`{key}` cannot be used with `flavor = \"local\"`: {why}"),
                ));
            }
        }
        Ok(options)
    }
}

/// A fragment written as `$value` or `$body` in a `macro_rules!` expansion arrives wrapped in
/// an invisible group; look through it.
pub(crate) fn unwrap_none_group(token: TokenTree) -> TokenTree {
    if let TokenTree::Group(g) = &token {
        if g.delimiter() == Delimiter::None {
            let mut inner = g.stream().into_iter();
            if let (Some(only), None) = (inner.next(), inner.next()) {
                return only;
            }
        }
    }
    token
}

fn example(key: &str) -> &'static str {
    match key {
        "workers" => "workers = 4",
        "flavor" => "flavor = \"local\"",
        "debug" => "debug = true",
        "timeout" => "timeout = \"5s\"",
        _ => "crate = \"tulip\"",
    }
}

fn workers(value: &TokenTree) -> Result<usize> {
    let bad = |why: &str| {
        Error::new(
            value.span(),
            format!("`workers` takes a whole number of threads, as in `workers = 4`{why}"),
        )
    };
    let TokenTree::Literal(lit) = value else {
        return Err(bad(""));
    };
    let n = integer(lit).ok_or_else(|| bad(&format!(", not `{lit}`")))?;
    if n == 0 {
        return Err(Error::new(
            value.span(),
            "`workers` must be at least 1 (leave it out for one worker per core)",
        ));
    }
    usize::try_from(n).map_err(|_| bad(": this one is too large"))
}

/// The value of an unsigned integer literal (`4`, `1_000`, `4usize`).
fn integer(lit: &Literal) -> Option<u64> {
    let text = lit.to_string();
    let digits = [
        "usize", "u8", "u16", "u32", "u64", "u128", "i32", "i64", "isize",
    ]
    .iter()
    .find_map(|s| text.strip_suffix(s))
    .unwrap_or(&text);
    if !digits.starts_with(|c: char| c.is_ascii_digit()) {
        return None;
    }
    digits.replace('_', "").parse().ok()
}

fn flavor(value: &TokenTree) -> Result<Flavor> {
    let bad = |found: &str| {
        Error::new(
            value.span(),
            format!(
                "unknown flavor {found}: use `flavor = \"multi_thread\"` (the default: worker \
                 threads) or `flavor = \"local\"` (one thread, `!Send` tasks with spawn_local)"
            ),
        )
    };
    match string(value) {
        Some(s) if s == "multi_thread" => Ok(Flavor::MultiThread),
        Some(s) if s == "local" => Ok(Flavor::Local),
        Some(s) => Err(bad(&format!("\"{s}\""))),
        None => Err(bad(&format!("`{value}`"))),
    }
}

fn debug(value: &TokenTree) -> Result<bool> {
    match value {
        TokenTree::Ident(i) if i.to_string() == "true" => Ok(true),
        TokenTree::Ident(i) if i.to_string() == "false" => Ok(false),
        other => Err(Error::new(
            other.span(),
            format!("`debug` takes `true` or `false`, not `{other}`"),
        )),
    }
}

fn timeout(value: &TokenTree) -> Result<Timeout> {
    let Some(written) = string(value) else {
        return Err(Error::new(
            value.span(),
            format!(
                "`timeout` takes a string with a unit, as in `timeout = \"5s\"` or \
                 `timeout = \"500ms\"`, not `{value}`"
            ),
        ));
    };
    let millis = parse_duration(&written)
        .map_err(|why| Error::new(value.span(), format!("bad timeout \"{written}\": {why}")))?;
    Ok(Timeout { millis, written })
}

/// Milliseconds in a duration written as a number and a unit: `"5s"`, `"500ms"`, `"1.5s"`,
/// `"2min"`. At least 1 ms; whole milliseconds (finer limits mean nothing for a test).
pub(crate) fn parse_duration(text: &str) -> std::result::Result<u64, String> {
    const EXPECTED: &str =
        "expected a number and a unit (`ms`, `s` or `min`), like \"5s\" or \"500ms\"";
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '_'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let unit_ms = match unit.trim() {
        "ms" => 1.0,
        "s" => 1_000.0,
        "min" => 60_000.0,
        "" => return Err(format!("no unit; {EXPECTED}")),
        other => return Err(format!("unknown unit `{other}`; {EXPECTED}")),
    };
    let number = number.replace('_', "");
    if number.is_empty() || number.starts_with('.') || number.ends_with('.') {
        return Err(EXPECTED.into());
    }
    let value: f64 = number.parse().map_err(|_| EXPECTED.to_string())?;
    let millis = (value * unit_ms).round();
    if millis < 1.0 {
        return Err("the limit must be at least 1ms".into());
    }
    // A limit of more than a year is a typo, and keeps the value far from u64's limit.
    if millis > 365.0 * 24.0 * 3_600_000.0 {
        return Err("a limit longer than a year is surely a typo".into());
    }
    Ok(millis as u64)
}

/// The text of a plain (or raw) string literal without escapes; `None` for anything else.
fn string(value: &TokenTree) -> Option<String> {
    let TokenTree::Literal(lit) = value else {
        return None;
    };
    let text = lit.to_string();
    if let Some(inner) = text.strip_prefix('"').and_then(|t| t.strip_suffix('"')) {
        return (!inner.contains('\\')).then(|| inner.to_owned());
    }
    let raw = text.strip_prefix('r')?;
    let hashes = raw.len() - raw.trim_start_matches('#').len();
    let inner = raw[hashes..].strip_prefix('"')?;
    let inner = inner.strip_suffix(&raw[..hashes])?.strip_suffix('"')?;
    Some(inner.to_owned())
}

/// `crate = "tulip"` or `crate = "my_app::rt"`: a path, its tokens given the literal's span so
/// that "cannot find crate" points at the option.
fn crate_path(value: &TokenTree) -> Result<TokenStream> {
    let bad = || {
        Error::new(
            value.span(),
            format!(
                "`crate` takes the path to tulip (or tulip-executor) as a string, as in \
                 `crate = \"tulip\"` or `crate = \"tulip_executor\"`, not `{value}`"
            ),
        )
    };
    let text = string(value).ok_or_else(bad)?;
    if !is_path(&text) {
        return Err(bad());
    }
    let path: TokenStream = text.parse().map_err(|_| bad())?;
    Ok(path
        .into_iter()
        .map(|mut token| {
            token.set_span(value.span());
            token
        })
        .collect())
}

/// `a`, `::a`, `a::b`: identifiers joined by `::`, optionally with a leading `::`.
pub(crate) fn is_path(text: &str) -> bool {
    let text = text.strip_prefix("::").unwrap_or(text);
    text.split("::").all(|segment| {
        let segment = segment.strip_prefix("r#").unwrap_or(segment);
        segment.starts_with(|c: char| c.is_alphabetic() || c == '_')
            && segment.chars().all(|c| c.is_alphanumeric() || c == '_')
            && segment != "_"
    })
}

#[cfg(test)]
mod tests {
    use super::{is_path, parse_duration};

    #[test]
    fn paths() {
        for good in [
            "tulip",
            "::tulip",
            "tulip_executor",
            "my_app::rt",
            "r#async::x",
        ] {
            assert!(is_path(good), "{good}");
        }
        for bad in [
            "", "::", "tulip::", "a b", "1a", "a::::b", "a-b", "_", "a::<T>",
        ] {
            assert!(!is_path(bad), "{bad}");
        }
    }

    #[test]
    fn durations() {
        let check = |text: &str, expected: Result<u64, &str>| {
            let got = parse_duration(text);
            match expected {
                Ok(ms) => assert_eq!(got, Ok(ms), "{text}"),
                Err(part) => {
                    let err = got.expect_err(text);
                    assert!(err.contains(part), "{text}: {err}");
                }
            }
        };
        check("5s", Ok(5_000));
        check("500ms", Ok(500));
        check("1.5s", Ok(1_500));
        check("2min", Ok(120_000));
        check(" 10 s ", Ok(10_000));
        check("1_000ms", Ok(1_000));
        check("0.25s", Ok(250));
        check("5", Err("no unit"));
        check("5h", Err("unknown unit `h`"));
        check("s", Err("expected a number"));
        check("1.s", Err("expected a number"));
        check("1.2.3s", Err("expected a number"));
        check("0s", Err("at least 1ms"));
        check("0.0001s", Err("at least 1ms"));
        check("999999999min", Err("typo"));
    }
}
