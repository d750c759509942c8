//! Static files: `App::static_dir` with ETag / Last-Modified validators, single byte ranges
//! (206 / 416), content types from the extension, and no way out of the root directory.
//!
//! File system calls run on the blocking pool (`tulip_executor::spawn_blocking`), never on a
//! worker thread; large files are streamed in 64 KiB pieces with a Content-Length.

use std::io::{Read, Seek, SeekFrom};
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::{HeaderValue, StatusCode, header};

use super::app::App;
use super::request::Request;
use super::response::{IntoResponse, Response};
use crate::error::{Error, Kind, Phase};

/// Files at most this large are read whole; larger ones stream.
const WHOLE_LIMIT: u64 = 64 * 1024;
const PIECE: usize = 64 * 1024;

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

struct Meta {
    path: PathBuf,
    len: u64,
    modified: SystemTime,
}

fn open_meta(root: &Path, path: PathBuf) -> Option<Meta> {
    let canon_root = root.canonicalize().ok()?;
    let canon = path.canonicalize().ok()?;
    if !canon.starts_with(&canon_root) {
        return None;
    }
    let md = std::fs::metadata(&canon).ok()?;
    if !md.is_file() {
        return None;
    }
    Some(Meta {
        path: canon,
        len: md.len(),
        modified: md.modified().unwrap_or(UNIX_EPOCH),
    })
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
    let mtime = meta.modified.duration_since(UNIX_EPOCH).unwrap_or_default();
    let etag = format!("\"{:x}-{:x}\"", meta.len, mtime.as_nanos());
    let last_modified = httpdate::fmt_http_date(meta.modified);
    let fresh = match req.header("if-none-match") {
        Some(inm) => inm
            .split(',')
            .map(str::trim)
            .any(|t| t == "*" || t.trim_start_matches("W/") == etag),
        None => req
            .header("if-modified-since")
            .and_then(|v| httpdate::parse_http_date(v).ok())
            .is_some_and(|since| {
                since
                    .duration_since(UNIX_EPOCH)
                    .unwrap_or_default()
                    .as_secs()
                    >= mtime.as_secs()
            }),
    };
    let base = |status: StatusCode| {
        Response::new(status)
            .with_header(header::ETAG, formatted(etag.clone()))
            .with_header(header::LAST_MODIFIED, formatted(last_modified.clone()))
            .with_header(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"))
    };
    if fresh {
        return Ok(base(StatusCode::NOT_MODIFIED));
    }
    let if_range_ok = match req.header("if-range") {
        None => true,
        Some(v) if v.starts_with('"') || v.starts_with("W/") => v == etag,
        Some(v) => httpdate::parse_http_date(v).is_ok_and(|d| {
            d.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs() >= mtime.as_secs()
        }),
    };
    let range = match req.header("range") {
        Some(r) if if_range_ok => match parse_range(r, meta.len) {
            RangeSpec::Satisfiable(a, b) => Some((a, b)),
            RangeSpec::Unsatisfiable => {
                return Ok(base(StatusCode::RANGE_NOT_SATISFIABLE).with_header(
                    header::CONTENT_RANGE,
                    formatted(format!("bytes */{}", meta.len)),
                ));
            }
            RangeSpec::Ignore => None,
        },
        _ => None,
    };
    let (start, end) = range.unwrap_or((0, meta.len.saturating_sub(1)));
    let len = if meta.len == 0 { 0 } else { end - start + 1 };
    let mut resp = match range {
        Some(_) => base(StatusCode::PARTIAL_CONTENT).with_header(
            header::CONTENT_RANGE,
            formatted(format!("bytes {start}-{end}/{}", meta.len)),
        ),
        None => base(StatusCode::OK),
    };
    let ct = content_type(&meta.path);
    if len <= WHOLE_LIMIT {
        let path = meta.path.clone();
        let data = blocking(move || read_at(&path, start, len as usize)).await??;
        resp = Response::bytes(data)
            .with_status(resp.status())
            .with_headers_from(resp);
    } else {
        let path = meta.path.clone();
        resp = Response::streaming(move |mut w| async move {
            let mut pos = start;
            let stop = start + len;
            while pos < stop {
                let n = ((stop - pos) as usize).min(PIECE);
                let p = path.clone();
                let piece = blocking(move || read_at(&p, pos, n)).await??;
                if piece.is_empty() {
                    return Err(Error::new(Kind::Incomplete, "file shrank while serving it")
                        .during(Phase::ServeFile)
                        .at(path.display()));
                }
                pos += piece.len() as u64;
                w.write(piece).await?;
            }
            Ok(())
        })
        .with_status(resp.status())
        .with_headers_from(resp)
        .with_header(header::CONTENT_LENGTH, HeaderValue::from(len));
    }
    Ok(resp.with_content_type(HeaderValue::from_static(ct)))
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
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Result<T, Error> {
    tulip_executor::spawn_blocking(f).await.map_err(|e| {
        // A join error holds a panic payload, which is not `Sync`: keep its text.
        Error::new(Kind::Io, "the blocking file read failed")
            .with_cause(e.to_string())
            .during(Phase::ServeFile)
    })
}

fn read_at(path: &Path, start: u64, len: usize) -> Result<Bytes, Error> {
    let io = |e: std::io::Error| Error::io(e).during(Phase::ServeFile).at(path.display());
    let mut f = std::fs::File::open(path).map_err(io)?;
    f.seek(SeekFrom::Start(start)).map_err(io)?;
    let mut buf = Vec::with_capacity(len);
    f.take(len as u64).read_to_end(&mut buf).map_err(io)?;
    Ok(Bytes::from(buf))
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
            ("bytes=0-1,3-4", 10, Ignore),
            ("items=0-1", 10, Ignore),
            ("bytes=a-b", 10, Ignore),
        ];
        for (v, len, want) in t {
            assert_eq!(&parse_range(v, *len), want, "{v}");
        }
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
