//! The access log: one line per request in aiohttp's `access_log_format` language, through
//! the `log` crate at `info` level with target `tulip_http::access`. Off by default
//! ([`ServerConfig::access_log`](crate::ServerConfig::access_log)).
//!
//! The line is written once the response has been written, so `%T`, `%Tf` and `%D` cover
//! the handler and the write.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;

use super::response::Response;
use crate::error::{Error, Kind};

/// The `log` target of access log lines.
pub const ACCESS_LOG_TARGET: &str = "tulip_http::access";

#[derive(Debug, Clone, PartialEq, Eq)]
enum Item {
    Lit(String),
    /// `%a`: the peer's IP address (`-` on Unix sockets).
    RemoteAddr,
    /// `%t`: when the request started, `[03/Dec/2026:10:50:00 +0000]`.
    Time,
    /// `%P`: the server's process id.
    Pid,
    /// `%r`: the request line.
    RequestLine,
    /// `%s`: the status code.
    Status,
    /// `%b`: the body size in bytes (`-` for a streamed body).
    Size,
    /// `%T`: seconds taken, whole.
    Secs,
    /// `%Tf`: seconds taken, with microseconds.
    SecsFrac,
    /// `%D`: microseconds taken.
    Micros,
    /// `%{Name}i`: a request header.
    ReqHeader(String),
    /// `%{Name}o`: a response header.
    RespHeader(String),
}

/// A parsed access log format: aiohttp's specifiers `%a %t %P %r %s %b %T %Tf %D %{Name}i
/// %{Name}o` and `%%`. The default is aiohttp's,
/// `%a %t "%r" %s %b "%{Referer}i" "%{User-Agent}i"`.
///
/// ```
/// let mut cfg = tulip_http::ServerConfig::default();
/// cfg.access_log = true;
/// cfg.access_log_format = tulip_http::AccessLogFormat::parse("%a \"%r\" %s %Tf %{User-Agent}i")?;
/// # Ok::<_, tulip_http::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessLogFormat {
    items: Vec<Item>,
}

impl Default for AccessLogFormat {
    fn default() -> AccessLogFormat {
        AccessLogFormat::parse(AccessLogFormat::AIOHTTP).expect("the default format parses")
    }
}

impl AccessLogFormat {
    /// aiohttp's default format.
    pub const AIOHTTP: &'static str = r#"%a %t "%r" %s %b "%{Referer}i" "%{User-Agent}i""#;

    /// Parses a format.
    ///
    /// # Errors
    ///
    /// [`Error::is_user`] for an unknown specifier or an unclosed `%{`, naming it.
    pub fn parse(format: &str) -> Result<AccessLogFormat, Error> {
        let mut items = Vec::new();
        let mut lit = String::new();
        let mut chars = format.chars().peekable();
        let bad =
            |what: String| Error::new(Kind::User, "invalid access log format").with_cause(what);
        while let Some(c) = chars.next() {
            if c != '%' {
                lit.push(c);
                continue;
            }
            let item = match chars.next() {
                Some('%') => {
                    lit.push('%');
                    continue;
                }
                Some('a') => Item::RemoteAddr,
                Some('t') => Item::Time,
                Some('P') => Item::Pid,
                Some('r') => Item::RequestLine,
                Some('s') => Item::Status,
                Some('b') => Item::Size,
                Some('D') => Item::Micros,
                Some('T') => {
                    if chars.peek() == Some(&'f') {
                        chars.next();
                        Item::SecsFrac
                    } else {
                        Item::Secs
                    }
                }
                Some('{') => {
                    let mut name = String::new();
                    loop {
                        match chars.next() {
                            Some('}') => break,
                            Some(c) => name.push(c),
                            None => return Err(bad(format!("unclosed %{{{name} in {format:?}"))),
                        }
                    }
                    match chars.next() {
                        Some('i') => Item::ReqHeader(name),
                        Some('o') => Item::RespHeader(name),
                        other => {
                            return Err(bad(format!(
                                "%{{{name}}} must be followed by 'i' or 'o', not {other:?}"
                            )));
                        }
                    }
                }
                other => return Err(bad(format!("unknown specifier %{}", other.unwrap_or(' ')))),
            };
            if !lit.is_empty() {
                items.push(Item::Lit(std::mem::take(&mut lit)));
            }
            items.push(item);
        }
        if !lit.is_empty() {
            items.push(Item::Lit(lit));
        }
        Ok(AccessLogFormat { items })
    }
}

/// What the access log keeps of a request until its response is written.
pub(crate) struct AccessEntry {
    head: Bytes,
    peer: Option<SocketAddr>,
    start: Instant,
    at: SystemTime,
}

/// An entry with its response's part, waiting for the write to finish.
pub(crate) struct PendingLine<'a> {
    entry: AccessEntry,
    format: &'a AccessLogFormat,
    status: u16,
    size: Option<usize>,
    /// Values of the `%{..}o` headers, in format order.
    resp_headers: Vec<Option<String>>,
}

impl AccessEntry {
    pub(crate) fn new(head: Bytes, peer: Option<SocketAddr>) -> AccessEntry {
        AccessEntry {
            head,
            peer,
            start: Instant::now(),
            at: SystemTime::now(),
        }
    }

    /// Takes what the format needs from the response before it is written.
    pub(crate) fn respond<'f>(
        self,
        format: &'f AccessLogFormat,
        resp: &Response,
    ) -> PendingLine<'f> {
        let resp_headers = format
            .items
            .iter()
            .filter_map(|i| match i {
                Item::RespHeader(name) => Some(header_of(resp, name)),
                _ => None,
            })
            .collect();
        PendingLine {
            entry: self,
            format,
            status: resp.status().as_u16(),
            size: resp.body_len(),
            resp_headers,
        }
    }
}

fn header_of(resp: &Response, name: &str) -> Option<String> {
    let value = if name.eq_ignore_ascii_case("content-type") {
        // The content type is kept apart from the header map until the write.
        resp.content_type()
    } else {
        resp.headers().get(name)
    };
    value.map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
}

impl PendingLine<'_> {
    /// Renders the line; `elapsed` from the request's start.
    fn render(&self, elapsed: std::time::Duration) -> String {
        let mut out = String::with_capacity(128);
        let mut resp_headers = self.resp_headers.iter();
        for item in &self.format.items {
            match item {
                Item::Lit(l) => out.push_str(l),
                Item::RemoteAddr => match self.entry.peer {
                    Some(p) => {
                        let _ = write!(out, "{}", p.ip());
                    }
                    None => out.push('-'),
                },
                Item::Time => out.push_str(&clf_time(self.entry.at)),
                Item::Pid => {
                    let _ = write!(out, "{}", std::process::id());
                }
                Item::RequestLine => out.push_str(&request_line(&self.entry.head)),
                Item::Status => {
                    let _ = write!(out, "{}", self.status);
                }
                Item::Size => match self.size {
                    Some(n) => {
                        let _ = write!(out, "{n}");
                    }
                    None => out.push('-'),
                },
                Item::Secs => {
                    let _ = write!(out, "{}", elapsed.as_secs());
                }
                Item::SecsFrac => {
                    let _ = write!(out, "{:.6}", elapsed.as_secs_f64());
                }
                Item::Micros => {
                    let _ = write!(out, "{}", elapsed.as_micros());
                }
                Item::ReqHeader(name) => {
                    out.push_str(request_header(&self.entry.head, name).unwrap_or("-"));
                }
                Item::RespHeader(_) => match resp_headers.next() {
                    Some(Some(v)) => out.push_str(v),
                    _ => out.push('-'),
                },
            }
        }
        out
    }

    /// Logs the line.
    pub(crate) fn emit(self) {
        let line = self.render(self.entry.start.elapsed());
        log::info!(target: ACCESS_LOG_TARGET, "{line}");
    }
}

fn head_lines(head: &[u8]) -> impl Iterator<Item = &[u8]> {
    let start = head
        .iter()
        .position(|&b| b != b'\r' && b != b'\n')
        .unwrap_or(head.len());
    head[start..]
        .split(|&b| b == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
}

fn request_line(head: &[u8]) -> String {
    let line = head_lines(head).next().unwrap_or(b"");
    String::from_utf8_lossy(line).into_owned()
}

fn request_header<'h>(head: &'h [u8], name: &str) -> Option<&'h str> {
    head_lines(head).skip(1).find_map(|l| {
        let colon = l.iter().position(|&b| b == b':')?;
        if !l[..colon].eq_ignore_ascii_case(name.as_bytes()) {
            return None;
        }
        std::str::from_utf8(&l[colon + 1..]).ok().map(str::trim)
    })
}

/// Common Log Format time in UTC: `[10/Oct/2000:13:55:36 +0000]`.
fn clf_time(t: SystemTime) -> String {
    let secs = t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (y, m, d) = civil_from_days(days as i64);
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    format!(
        "[{d:02}/{}/{y}:{:02}:{:02}:{:02} +0000]",
        MONTHS[(m - 1) as usize],
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Days since 1970-01-01 to (year, month, day) in the proleptic Gregorian calendar.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn renders_every_specifier() {
        let format = AccessLogFormat::parse(
            "%a %t \"%r\" %s %b %T %Tf %D %{User-Agent}i %{X-Missing}i %{X-Out}o %{Content-Type}o %P %%",
        )
        .unwrap();
        let head =
            Bytes::from_static(b"GET /a?b=1 HTTP/1.1\r\nHost: x\r\nuser-agent: probe/1.0\r\n\r\n");
        let mut entry = Box::new(AccessEntry::new(
            head,
            Some("10.0.0.7:5555".parse().unwrap()),
        ));
        entry.at = UNIX_EPOCH + Duration::from_secs(971_186_136);
        let resp = Response::text("hello").with_header(
            http::HeaderName::from_static("x-out"),
            http::HeaderValue::from_static("yes"),
        );
        let line = entry
            .respond(&format, &resp)
            .render(Duration::from_micros(1_500_000));
        assert_eq!(
            line,
            format!(
                "10.0.0.7 [10/Oct/2000:13:55:36 +0000] \"GET /a?b=1 HTTP/1.1\" 200 5 1 1.500000 \
                 1500000 probe/1.0 - yes text/plain; charset=utf-8 {} %",
                std::process::id()
            )
        );
    }

    #[test]
    fn bad_formats_say_why() {
        for (f, why) in [
            ("%q", "%q"),
            ("%{Ref", "unclosed"),
            ("%{Ref}x", "'i' or 'o'"),
        ] {
            let e = AccessLogFormat::parse(f).unwrap_err();
            let cause = std::error::Error::source(&e).unwrap().to_string();
            assert!(e.is_user() && cause.contains(why), "{f}: {cause}");
        }
        assert_eq!(AccessLogFormat::default().items.len(), 14);
    }

    #[test]
    fn calendar() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
        assert_eq!(civil_from_days(20_790), (2026, 12, 3));
    }
}
