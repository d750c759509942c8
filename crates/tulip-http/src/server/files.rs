//! Static files: `App::static_dir` and `FileResponse` with ETag / Last-Modified validators,
//! RFC 9110 preconditions (304 / 412), single and multiple byte ranges (206, with
//! `multipart/byteranges` for several; 416), content types from the extension, and no way out
//! of the root directory.
//!
//! File system calls run on the blocking pool (`tulip_executor::spawn_blocking`), never on a
//! worker thread. The file is opened once per request; a whole file or a single range goes
//! out as a [`FileBody`] (sendfile(2) on plain HTTP/1 sockets, see `file_body`), several
//! ranges are read in 64 KiB pieces (whole when small) between their multipart headers.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::{HeaderValue, StatusCode, header};

use super::app::App;
use super::file_body::FileBody;
use super::request::Request;
use super::response::ResponseBody;
use super::response::{IntoResponse, Response};
use crate::error::{Error, Kind, Phase};

/// `multipart/byteranges` bodies at most this large are read whole; larger ones stream.
const WHOLE_LIMIT: u64 = 64 * 1024;

impl App {
    /// Serves the files under `dir` at `prefix` (e.g. `/static`), aiohttp's
    /// `router.add_static`. Directories are not listed.
    pub fn static_dir(self, prefix: &str, dir: impl Into<PathBuf>) -> App {
        let root = Arc::new(dir.into());
        let pattern = format!("{}/{{tail:.*}}", prefix.trim_end_matches('/'));
        self.get(&pattern, move |req: Request| {
            let root = root.clone();
            async move { serve_file(req, root).await.into_response() }
        })
    }
}

/// Resolves the request tail under `root`, refusing `..`, absolute paths, NULs and escapes
/// through symlinks. `None` means "not found" (we do not tell a traversal attempt apart).
pub(crate) fn resolve(root: &Path, tail: &str) -> Option<PathBuf> {
    let decoded = percent_encoding::percent_decode_str(tail)
        .decode_utf8()
        .ok()?;
    if decoded.contains('\0') || decoded.contains('\\') {
        return None;
    }
    let rel = Path::new(&*decoded);
    let mut out = root.to_path_buf();
    for c in rel.components() {
        match c {
            Component::Normal(part) => out.push(part),
            Component::CurDir => {}
            _ => return None,
        }
    }
    Some(out)
}

/// An open file and what its validators are made of, from the open descriptor (so the file
/// served is the file described, whatever happens to the path meanwhile).
struct Meta {
    file: Arc<File>,
    path: Arc<PathBuf>,
    len: u64,
    modified: SystemTime,
}

impl Meta {
    /// Opens `path`; `None` unless it is a regular file.
    fn open(path: PathBuf) -> Option<Meta> {
        let file = File::open(&path).ok()?;
        let md = file.metadata().ok().filter(|m| m.is_file())?;
        Some(Meta {
            file: Arc::new(file),
            path: Arc::new(path),
            len: md.len(),
            modified: md.modified().unwrap_or(UNIX_EPOCH),
        })
    }
}

fn open_meta(root: &Path, path: PathBuf) -> Option<Meta> {
    let canon_root = root.canonicalize().ok()?;
    let canon = path.canonicalize().ok()?;
    if !canon.starts_with(&canon_root) {
        return None;
    }
    Meta::open(canon)
}

async fn serve_file(req: Request, root: Arc<PathBuf>) -> Result<Response, Error> {
    let not_found = || StatusCode::NOT_FOUND.into_response();
    let Some(path) = resolve(&root, req.match_info("tail").unwrap_or("")) else {
        return Ok(not_found());
    };
    let root2 = root.clone();
    let Some(meta) = blocking(move || open_meta(&root2, path)).await? else {
        return Ok(not_found());
    };
    let ct = HeaderValue::from_static(content_type(&meta.path));
    serve_meta(&req, meta, ct).await
}

/// One file as a response (aiohttp's `web.FileResponse`), with the same validators,
/// conditional requests and ranges as [`App::static_dir`]:
///
/// - `ETag` and `Last-Modified`; `If-Match` and `If-Unmodified-Since` answer 412 when they
///   fail, `If-None-Match` and `If-Modified-Since` answer 304 (RFC 9110 section 13.2.2 order);
/// - `Range` with one range (206 with `Content-Range`) or several (206
///   `multipart/byteranges`; overlapping ranges are merged, more than 16 serve the whole
///   file), `If-Range`, and 416 with `Content-Range: bytes */len` when none is satisfiable.
///
/// On a plain HTTP/1 connection the body (whole file or single range) is sent with
/// sendfile(2) and never passes through user space ([`ServerConfig::sendfile`]); over TLS,
/// gzip or HTTP/2, and for several ranges, the file is read on the blocking pool in 64 KiB
/// pieces, never whole. A file that shrinks while it is sent closes the connection.
///
/// [`ServerConfig::sendfile`]: crate::ServerConfig::sendfile
///
/// ```
/// use tulip_http::{FileResponse, Request, Response};
///
/// async fn report(req: Request) -> Result<Response, tulip_http::Error> {
///     FileResponse::new("/var/reports/latest.pdf").serve(&req).await
/// }
/// # let _ = tulip_http::App::new().get("/report", report);
/// ```
#[derive(Debug, Clone)]
pub struct FileResponse {
    path: PathBuf,
    content_type: Option<HeaderValue>,
}

impl FileResponse {
    /// The file at `path`; its content type comes from the extension.
    pub fn new(path: impl Into<PathBuf>) -> FileResponse {
        FileResponse {
            path: path.into(),
            content_type: None,
        }
    }

    /// Overrides the content type.
    pub fn with_content_type(mut self, value: HeaderValue) -> FileResponse {
        self.content_type = Some(value);
        self
    }

    /// Answers `req` with the file: 200, 206, 304, 412 or 416 as its headers ask, or 404
    /// when the path is not a regular file.
    ///
    /// # Errors
    ///
    /// An I/O error reading the file's metadata or its first piece.
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe: nothing is sent until the returned response is.
    pub async fn serve(self, req: &Request) -> Result<Response, Error> {
        let path = self.path.clone();
        let meta = blocking(move || Meta::open(path)).await?;
        let Some(meta) = meta else {
            return Ok(StatusCode::NOT_FOUND.into_response());
        };
        let ct = self
            .content_type
            .unwrap_or_else(|| HeaderValue::from_static(content_type(&meta.path)));
        serve_meta(req, meta, ct).await
    }
}

/// Whether an entity tag list (`If-Match`, `If-None-Match`) names `etag`; `weak` comparison
/// ignores `W/` prefixes.
fn etag_listed(list: &str, etag: &str, weak: bool) -> bool {
    list.split(',').map(str::trim).any(|t| {
        t == "*"
            || if weak {
                t.trim_start_matches("W/") == etag
            } else {
                t == etag
            }
    })
}

fn http_secs(v: &str) -> Option<u64> {
    httpdate::parse_http_date(v)
        .ok()
        .map(|d| d.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs())
}

/// Most ranges served as `multipart/byteranges`; more serve the whole file.
const MAX_RANGES: usize = 16;

async fn serve_meta(req: &Request, meta: Meta, ct: HeaderValue) -> Result<Response, Error> {
    let mtime = meta.modified.duration_since(UNIX_EPOCH).unwrap_or_default();
    let etag = format!("\"{:x}-{:x}\"", meta.len, mtime.as_nanos());
    let last_modified = httpdate::fmt_http_date(meta.modified);
    let base = |status: StatusCode| {
        Response::new(status)
            .with_header(header::ETAG, formatted(etag.clone()))
            .with_header(header::LAST_MODIFIED, formatted(last_modified.clone()))
            .with_header(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"))
    };
    let get_or_head = matches!(*req.method(), http::Method::GET | http::Method::HEAD);
    // RFC 9110 section 13.2.2: preconditions in this order.
    let precondition_failed = match req.header("if-match") {
        Some(im) => !etag_listed(im, &etag, false),
        None => req
            .header("if-unmodified-since")
            .and_then(http_secs)
            .is_some_and(|since| mtime.as_secs() > since),
    };
    if precondition_failed {
        return Ok(base(StatusCode::PRECONDITION_FAILED));
    }
    let not_modified = match req.header("if-none-match") {
        Some(inm) => etag_listed(inm, &etag, true),
        None => {
            get_or_head
                && req
                    .header("if-modified-since")
                    .and_then(http_secs)
                    .is_some_and(|since| since >= mtime.as_secs())
        }
    };
    if not_modified {
        let status = if get_or_head {
            StatusCode::NOT_MODIFIED
        } else {
            StatusCode::PRECONDITION_FAILED
        };
        return Ok(base(status));
    }
    let if_range_ok = match req.header("if-range") {
        None => true,
        Some(v) if v.starts_with('"') || v.starts_with("W/") => v == etag,
        Some(v) => http_secs(v).is_some_and(|d| d >= mtime.as_secs()),
    };
    let ranges = match req.header("range") {
        Some(r) if if_range_ok && get_or_head => match parse_ranges(r, meta.len) {
            Ranges::Satisfiable(list) => list,
            Ranges::Unsatisfiable => {
                return Ok(base(StatusCode::RANGE_NOT_SATISFIABLE).with_header(
                    header::CONTENT_RANGE,
                    formatted(format!("bytes */{}", meta.len)),
                ));
            }
            Ranges::Ignore => Vec::new(),
        },
        _ => Vec::new(),
    };
    let (mut resp, pieces, ct) = match ranges.as_slice() {
        [] => (base(StatusCode::OK), vec![Piece::File(0, meta.len)], ct),
        [(a, b)] => (
            base(StatusCode::PARTIAL_CONTENT).with_header(
                header::CONTENT_RANGE,
                formatted(format!("bytes {a}-{b}/{}", meta.len)),
            ),
            vec![Piece::File(*a, b - a + 1)],
            ct,
        ),
        many => {
            let boundary = format!(
                "{:016x}",
                mtime.as_nanos() as u64 ^ meta.len.rotate_left(17)
            );
            let ct_text = String::from_utf8_lossy(ct.as_bytes()).into_owned();
            let mut pieces = Vec::with_capacity(many.len() * 2 + 1);
            for (i, (a, b)) in many.iter().enumerate() {
                let lead = if i == 0 { "" } else { "\r\n" };
                pieces.push(Piece::Bytes(Bytes::from(format!(
                    "{lead}--{boundary}\r\nContent-Type: {ct_text}\r\nContent-Range: bytes {a}-{b}/{}\r\n\r\n",
                    meta.len
                ))));
                pieces.push(Piece::File(*a, b - a + 1));
            }
            pieces.push(Piece::Bytes(Bytes::from(format!("\r\n--{boundary}--\r\n"))));
            (
                base(StatusCode::PARTIAL_CONTENT),
                pieces,
                formatted(format!("multipart/byteranges; boundary={boundary}")),
            )
        }
    };
    let total: u64 = pieces.iter().map(Piece::len).sum();
    let Meta { file, path, .. } = meta;
    if let [Piece::File(start, len)] = pieces[..] {
        if len > 0 {
            resp.body = ResponseBody::File(FileBody {
                file,
                path,
                start,
                len,
            });
            return Ok(resp.with_content_type(ct));
        }
    }
    if total <= WHOLE_LIMIT {
        let data = blocking(move || read_pieces(&file, &path, &pieces)).await??;
        resp = Response::bytes(data)
            .with_status(resp.status())
            .with_headers_from(resp);
    } else {
        resp = Response::streaming(move |mut w| async move {
            for piece in pieces {
                match piece {
                    Piece::Bytes(b) => w.write(b).await?,
                    Piece::File(start, len) => {
                        let (file, path) = (file.clone(), path.clone());
                        let mut s = FileBody {
                            file,
                            path,
                            start,
                            len,
                        }
                        .into_stream();
                        while let Some(chunk) = futures_lite::StreamExt::next(&mut s).await {
                            w.write(chunk?).await?;
                        }
                    }
                }
            }
            Ok(())
        })
        .with_status(resp.status())
        .with_headers_from(resp)
        .with_header(header::CONTENT_LENGTH, HeaderValue::from(total));
    }
    Ok(resp.with_content_type(ct))
}

/// A piece of a file response body: fixed bytes (multipart framing) or a file range.
enum Piece {
    Bytes(Bytes),
    File(u64, u64),
}

impl Piece {
    fn len(&self) -> u64 {
        match self {
            Piece::Bytes(b) => b.len() as u64,
            Piece::File(_, n) => *n,
        }
    }
}

/// The file ended before the range announced in the head did.
pub(crate) fn shrank(path: &Path) -> Error {
    Error::new(Kind::Incomplete, "file shrank while serving it")
        .during(Phase::ServeFile)
        .at(path.display())
}

/// A read error of the file being served.
pub(crate) fn file_error(e: std::io::Error, path: &Path) -> Error {
    Error::io(e).during(Phase::ServeFile).at(path.display())
}

fn read_pieces(file: &File, path: &Path, pieces: &[Piece]) -> Result<Bytes, Error> {
    let mut out = Vec::new();
    for p in pieces {
        match p {
            Piece::Bytes(b) => out.extend_from_slice(b),
            Piece::File(start, len) => {
                let at = out.len();
                out.resize(at + *len as usize, 0);
                file.read_exact_at(&mut out[at..], *start).map_err(|e| {
                    if e.kind() == std::io::ErrorKind::UnexpectedEof {
                        shrank(path)
                    } else {
                        file_error(e, path)
                    }
                })?;
            }
        }
    }
    Ok(Bytes::from(out))
}

/// A header value this module formatted from numbers, a hash and a date: always valid.
fn formatted(s: String) -> HeaderValue {
    HeaderValue::try_from(s).expect("digits, quotes, letters and spaces are valid header text")
}

impl Response {
    /// Copies `other`'s headers into `self` (used when swapping bodies).
    fn with_headers_from(mut self, other: Response) -> Response {
        for (k, v) in other.headers() {
            self.headers_mut().append(k.clone(), v.clone());
        }
        self
    }
}

/// Runs `f` on the blocking pool.
pub(crate) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, Error> {
    tulip_executor::spawn_blocking(f).await.map_err(|e| {
        // A join error holds a panic payload, which is not `Sync`: keep its text.
        Error::new(Kind::Io, "the blocking file read failed")
            .with_cause(e.to_string())
            .during(Phase::ServeFile)
    })
}

#[derive(Debug, PartialEq, Eq)]
pub(crate) enum RangeSpec {
    Satisfiable(u64, u64),
    Unsatisfiable,
    /// Malformed or several ranges: serve the whole file.
    Ignore,
}

/// Parses a single `bytes=` range against a file of `len` bytes (RFC 9110 section 14.1.2).
pub(crate) fn parse_range(v: &str, len: u64) -> RangeSpec {
    let Some(spec) = v.trim().strip_prefix("bytes=") else {
        return RangeSpec::Ignore;
    };
    if spec.contains(',') {
        return RangeSpec::Ignore;
    }
    let Some((a, b)) = spec.trim().split_once('-') else {
        return RangeSpec::Ignore;
    };
    let num = |s: &str| {
        if !s.is_empty() && s.bytes().all(|c| c.is_ascii_digit()) {
            s.parse::<u64>().ok()
        } else {
            None
        }
    };
    match (a.is_empty(), num(a), num(b)) {
        (true, _, Some(0)) => RangeSpec::Unsatisfiable,
        (true, _, Some(n)) if len == 0 => {
            let _ = n;
            RangeSpec::Unsatisfiable
        }
        (true, _, Some(n)) => RangeSpec::Satisfiable(len.saturating_sub(n), len - 1),
        (false, Some(s), _) if s >= len => RangeSpec::Unsatisfiable,
        (false, Some(s), None) if b.is_empty() => RangeSpec::Satisfiable(s, len - 1),
        (false, Some(s), Some(e)) if e >= s => RangeSpec::Satisfiable(s, e.min(len - 1)),
        _ => RangeSpec::Ignore,
    }
}

/// A `Range` header against a file of `len` bytes.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Ranges {
    /// Inclusive `(first, last)` byte positions, in request order (merged when some overlap).
    Satisfiable(Vec<(u64, u64)>),
    /// Every range starts past the end.
    Unsatisfiable,
    /// Malformed, or too many ranges: serve the whole file.
    Ignore,
}

/// Parses `bytes=0-4, 10-, -3` (RFC 9110 section 14.1.2).
pub(crate) fn parse_ranges(v: &str, len: u64) -> Ranges {
    let Some(spec) = v.trim().strip_prefix("bytes=") else {
        return Ranges::Ignore;
    };
    let mut out = Vec::new();
    let mut count = 0;
    for one in spec.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        count += 1;
        if count > MAX_RANGES {
            return Ranges::Ignore;
        }
        match parse_range(&format!("bytes={one}"), len) {
            RangeSpec::Satisfiable(a, b) => out.push((a, b)),
            RangeSpec::Unsatisfiable => {}
            RangeSpec::Ignore => return Ranges::Ignore,
        }
    }
    if count == 0 {
        return Ranges::Ignore;
    }
    if out.is_empty() {
        return Ranges::Unsatisfiable;
    }
    let overlap = out.iter().enumerate().any(|(i, a)| {
        out[i + 1..]
            .iter()
            .any(|b| a.0 <= b.1 + 1 && b.0 <= a.1 + 1)
    });
    if overlap {
        out.sort_unstable();
        let mut merged: Vec<(u64, u64)> = Vec::with_capacity(out.len());
        for (a, b) in out {
            match merged.last_mut() {
                Some(last) if a <= last.1 + 1 => last.1 = last.1.max(b),
                _ => merged.push((a, b)),
            }
        }
        out = merged;
    }
    Ranges::Satisfiable(out)
}

fn content_type(path: &Path) -> &'static str {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or("")
        .to_ascii_lowercase();
    match ext.as_str() {
        "html" | "htm" => "text/html; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "json" => "application/json",
        "txt" | "md" => "text/plain; charset=utf-8",
        "xml" => "application/xml",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "webp" => "image/webp",
        "ico" => "image/x-icon",
        "wasm" => "application/wasm",
        "pdf" => "application/pdf",
        "woff2" => "font/woff2",
        "woff" => "font/woff",
        "mp4" => "video/mp4",
        "gz" => "application/gzip",
        "zip" => "application/zip",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        use RangeSpec::*;
        let t: &[(&str, u64, RangeSpec)] = &[
            ("bytes=0-4", 10, Satisfiable(0, 4)),
            ("bytes=5-", 10, Satisfiable(5, 9)),
            ("bytes=-3", 10, Satisfiable(7, 9)),
            ("bytes=-30", 10, Satisfiable(0, 9)),
            ("bytes=8-100", 10, Satisfiable(8, 9)),
            ("bytes=10-", 10, Unsatisfiable),
            ("bytes=-0", 10, Unsatisfiable),
            ("bytes=5-2", 10, Ignore),
            ("bytes=0-1,3-4", 10, Ignore), // several: see parse_ranges
            ("items=0-1", 10, Ignore),
            ("bytes=a-b", 10, Ignore),
        ];
        for (v, len, want) in t {
            assert_eq!(&parse_range(v, *len), want, "{v}");
        }
    }

    #[test]
    fn several_ranges() {
        use Ranges::*;
        let t: &[(&str, u64, Ranges)] = &[
            ("bytes=0-1, 4-5", 10, Satisfiable(vec![(0, 1), (4, 5)])),
            ("bytes=4-5,0-1", 10, Satisfiable(vec![(4, 5), (0, 1)])),
            ("bytes=0-4,3-6,-2", 10, Satisfiable(vec![(0, 6), (8, 9)])),
            ("bytes=0-1,2-3", 10, Satisfiable(vec![(0, 3)])),
            ("bytes=20-,30-", 10, Unsatisfiable),
            ("bytes=20-,0-0", 10, Satisfiable(vec![(0, 0)])),
            ("bytes=0-1,x", 10, Ignore),
            ("bytes=", 10, Ignore),
        ];
        for (v, len, want) in t {
            assert_eq!(&parse_ranges(v, *len), want, "{v}");
        }
        let many = format!("bytes={}", vec!["0-0"; MAX_RANGES + 1].join(","));
        assert_eq!(parse_ranges(&many, 10), Ignore);
    }

    #[test]
    fn traversal_is_refused() {
        let root = Path::new("/srv/www");
        assert_eq!(
            resolve(root, "a/b.txt"),
            Some(PathBuf::from("/srv/www/a/b.txt"))
        );
        for bad in [
            "../etc/passwd",
            "a/../../x",
            "%2e%2e/x",
            "/etc/passwd",
            "a%00b",
            "a\\..\\b",
            "%2F%2e%2e%2Fx",
        ] {
            assert_eq!(resolve(root, bad), None, "{bad}");
        }
    }
}
