//! `multipart/form-data` bodies (RFC 7578) read as a stream of parts, and
//! [`Request::post`](crate::Request::post)'s whole-form reading (aiohttp's
//! `request.multipart()` and `request.post()`).
//!
//! The parser is sans-I/O ([`Parser`]): bytes go in with `feed`, events come out with `next`,
//! and it holds at most one part head plus a delimiter's length of data, so a part of any size
//! streams through in the pieces the connection reads. [`Multipart`] drives it from the
//! request [`Body`]. Malformed input answers 400 and a broken limit 413, each with a reason.

use std::borrow::Cow;
use std::fmt;

use bytes::{Buf, Bytes, BytesMut};

use super::body::Body;
use crate::error::{Error, Kind};

/// Limits for reading a multipart body; every field has a default.
///
/// The body as a whole is bounded by the route's body limit
/// ([`ServerConfig::max_body`](crate::ServerConfig::max_body) or
/// [`App::route_with_limit`](crate::App::route_with_limit)): raise that for uploads.
///
/// ```
/// let mut limits = tulip_http::MultipartLimits::default();
/// limits.max_parts = 10;
/// limits.max_field_size = 64 * 1024;
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct MultipartLimits {
    /// Most parts in one body. Default 1000; 413 beyond.
    pub max_parts: usize,
    /// Largest part read whole ([`Part::bytes`], [`Part::text`] and every field of
    /// [`Request::post`](crate::Request::post), files included). Default 1 MiB; 413 beyond.
    /// Streaming a part with [`Part::chunk`] is not bounded by it.
    pub max_field_size: u64,
    /// Longest part head (its header lines). Default 8 KiB; 413 beyond.
    pub max_head: usize,
}

impl Default for MultipartLimits {
    fn default() -> MultipartLimits {
        MultipartLimits {
            max_parts: 1000,
            max_field_size: 1 << 20,
            max_head: 8 * 1024,
        }
    }
}

fn bad(detail: &'static str) -> Error {
    Error::new(Kind::Decode, detail)
}

fn too_large(detail: &'static str) -> Error {
    Error::new(Kind::BodyTooLarge, detail)
}

/// The head of one part: its headers and what `Content-Disposition` says.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct PartHead {
    headers: Vec<(String, String)>,
    name: Option<String>,
    filename: Option<String>,
}

impl PartHead {
    fn parse(raw: &[u8], max_headers: usize) -> Result<PartHead, Error> {
        let mut slots = vec![httparse::EMPTY_HEADER; max_headers];
        let headers = match httparse::parse_headers(raw, &mut slots) {
            Ok(httparse::Status::Complete((_, h))) => h,
            Ok(httparse::Status::Partial) => return Err(bad("multipart: incomplete part head")),
            Err(httparse::Error::TooManyHeaders) => {
                return Err(too_large("multipart: too many part headers"));
            }
            Err(e) => return Err(bad("multipart: malformed part head").with_cause(e)),
        };
        let mut head = PartHead::default();
        for h in headers.iter() {
            let value = String::from_utf8_lossy(h.value).into_owned();
            if h.name.eq_ignore_ascii_case("content-disposition") {
                let (name, filename) = disposition(&value)?;
                head.name = name;
                head.filename = filename;
            }
            head.headers.push((h.name.to_string(), value));
        }
        Ok(head)
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Reads `form-data; name="a"; filename="b.txt"` (quoted or token values, `filename*` with
/// RFC 5987 `UTF-8''` encoding preferred over `filename`).
fn disposition(value: &str) -> Result<(Option<String>, Option<String>), Error> {
    let mut rest = value.trim_start();
    let end = rest.find(';').unwrap_or(rest.len());
    let kind = rest[..end].trim();
    if kind.is_empty() {
        return Err(bad("multipart: empty Content-Disposition"));
    }
    rest = &rest[end..];
    let (mut name, mut filename, mut filename_star) = (None, None, None);
    while let Some(r) = rest.strip_prefix(';') {
        let r = r.trim_start();
        let Some(eq) = r.find('=') else {
            // A parameter without a value: skip to the next one.
            rest = r.find(';').map_or("", |i| &r[i..]);
            continue;
        };
        let key = r[..eq].trim().to_ascii_lowercase();
        let after = &r[eq + 1..];
        let (val, next) = if let Some(q) = after.strip_prefix('"') {
            let mut out = String::new();
            let mut chars = q.char_indices();
            let mut end = None;
            while let Some((i, c)) = chars.next() {
                match c {
                    '\\' => {
                        if let Some((_, c)) = chars.next() {
                            out.push(c);
                        }
                    }
                    '"' => {
                        end = Some(i + 1);
                        break;
                    }
                    c => out.push(c),
                }
            }
            let end = end.ok_or_else(|| bad("multipart: unterminated quoted parameter"))?;
            (out, &q[end..])
        } else {
            let e = after.find(';').unwrap_or(after.len());
            (after[..e].trim().to_string(), &after[e..])
        };
        match key.as_str() {
            "name" => name = Some(val),
            // Browsers escape `"`, CR and LF as %22, %0D, %0A, and aiohttp's client escapes
            // every non-ASCII byte the same way.
            "filename" => filename = Some(percent_decoded(val)),
            "filename*" => filename_star = decode_ext_value(&val),
            _ => {}
        }
        rest = next.trim_start();
    }
    Ok((name, filename_star.or(filename)))
}

/// `v` with percent-escapes decoded, or as it is when that would not be UTF-8.
fn percent_decoded(v: String) -> String {
    if !v.contains('%') {
        return v;
    }
    match percent_encoding::percent_decode_str(&v).decode_utf8() {
        Ok(d) => d.into_owned(),
        Err(_) => v,
    }
}

/// RFC 5987 `charset'lang'percent-encoded`; only UTF-8 (and ASCII) are decoded.
fn decode_ext_value(v: &str) -> Option<String> {
    let mut it = v.splitn(3, '\'');
    let charset = it.next()?;
    let _lang = it.next()?;
    let value = it.next()?;
    if !charset.eq_ignore_ascii_case("utf-8") && !charset.eq_ignore_ascii_case("us-ascii") {
        return None;
    }
    percent_encoding::percent_decode_str(value)
        .decode_utf8()
        .ok()
        .map(Cow::into_owned)
}

/// What the parser found next.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Event {
    /// A new part begins.
    Head(PartHead),
    /// A piece of the current part's content.
    Data(Bytes),
    /// The current part ended.
    PartEnd,
    /// The closing delimiter: no more parts.
    End,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Before the first delimiter (the preamble is skipped).
    Preamble,
    /// Right after a delimiter: `--` ends the body, else padding and CRLF start a part.
    AfterDelimiter,
    Head,
    Content,
    Done,
}

/// The sans-I/O multipart parser.
pub(crate) struct Parser {
    /// `\r\n--boundary`.
    delim: Box<[u8]>,
    buf: BytesMut,
    state: State,
    eof: bool,
    parts: usize,
    limits: MultipartLimits,
}

impl fmt::Debug for Parser {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Parser")
            .field("state", &self.state)
            .field("parts", &self.parts)
            .finish()
    }
}

/// Header lines a part may have.
const MAX_PART_HEADERS: usize = 16;

impl Parser {
    pub(crate) fn new(boundary: &str, limits: MultipartLimits) -> Parser {
        let mut delim = Vec::with_capacity(boundary.len() + 4);
        delim.extend_from_slice(b"\r\n--");
        delim.extend_from_slice(boundary.as_bytes());
        let mut buf = BytesMut::new();
        // The first delimiter may start the body: a virtual CRLF lets one search find it.
        buf.extend_from_slice(b"\r\n");
        Parser {
            delim: delim.into(),
            buf,
            state: State::Preamble,
            eof: false,
            parts: 0,
            limits,
        }
    }

    pub(crate) fn feed(&mut self, data: &[u8]) {
        if self.state != State::Done {
            self.buf.extend_from_slice(data);
        }
    }

    pub(crate) fn feed_eof(&mut self) {
        self.eof = true;
    }

    fn find_delim(&self) -> Option<usize> {
        memchr::memmem::find(&self.buf, &self.delim)
    }

    /// The next event, or `Ok(None)` when more input is needed.
    pub(crate) fn next(&mut self) -> Result<Option<Event>, Error> {
        loop {
            match self.state {
                State::Done => return Ok(Some(Event::End)),
                State::Preamble => match self.find_delim() {
                    Some(i) => {
                        self.buf.advance(i + self.delim.len());
                        self.state = State::AfterDelimiter;
                    }
                    None => {
                        if self.eof {
                            return Err(bad("multipart: no boundary delimiter in the body"));
                        }
                        // Keep what could be the start of a delimiter.
                        let keep = self.delim.len() - 1;
                        if self.buf.len() > keep {
                            self.buf.advance(self.buf.len() - keep);
                        }
                        return Ok(None);
                    }
                },
                State::AfterDelimiter => {
                    if self.buf.len() < 2 {
                        return self.need_more("multipart: body ends inside a delimiter");
                    }
                    if self.buf.starts_with(b"--") {
                        self.state = State::Done;
                        self.buf = BytesMut::new();
                        return Ok(Some(Event::End));
                    }
                    let pad = self
                        .buf
                        .iter()
                        .take_while(|&&b| b == b' ' || b == b'\t')
                        .count();
                    if self.buf.len() < pad + 2 {
                        if pad > 64 {
                            return Err(bad("multipart: garbage after a delimiter"));
                        }
                        return self.need_more("multipart: body ends inside a delimiter");
                    }
                    if &self.buf[pad..pad + 2] != b"\r\n" {
                        return Err(bad("multipart: delimiter not followed by CRLF"));
                    }
                    self.buf.advance(pad + 2);
                    self.parts += 1;
                    if self.parts > self.limits.max_parts {
                        return Err(too_large("multipart: more parts than the limit"));
                    }
                    self.state = State::Head;
                }
                State::Head => {
                    let end = if self.buf.starts_with(b"\r\n") {
                        Some(2)
                    } else {
                        memchr::memmem::find(&self.buf, b"\r\n\r\n").map(|i| i + 4)
                    };
                    let Some(end) = end else {
                        if self.buf.len() > self.limits.max_head {
                            return Err(too_large("multipart: part head longer than the limit"));
                        }
                        return self.need_more("multipart: body ends inside a part head");
                    };
                    if end > self.limits.max_head {
                        return Err(too_large("multipart: part head longer than the limit"));
                    }
                    let head = PartHead::parse(&self.buf[..end], MAX_PART_HEADERS)?;
                    self.buf.advance(end);
                    self.state = State::Content;
                    return Ok(Some(Event::Head(head)));
                }
                State::Content => {
                    if let Some(i) = self.find_delim() {
                        if i > 0 {
                            return Ok(Some(Event::Data(self.buf.split_to(i).freeze())));
                        }
                        self.buf.advance(self.delim.len());
                        self.state = State::AfterDelimiter;
                        return Ok(Some(Event::PartEnd));
                    }
                    // Everything but a possible delimiter prefix at the end is content.
                    let keep = self.delim.len() - 1;
                    if self.buf.len() > keep {
                        let n = self.buf.len() - keep;
                        return Ok(Some(Event::Data(self.buf.split_to(n).freeze())));
                    }
                    return self.need_more("multipart: body ends inside a part");
                }
            }
        }
    }

    fn need_more(&self, at_eof: &'static str) -> Result<Option<Event>, Error> {
        if self.eof { Err(bad(at_eof)) } else { Ok(None) }
    }
}

/// The `boundary` parameter of a `multipart/*` content type.
pub(crate) fn boundary(content_type: &str) -> Result<String, Error> {
    let (mime, params) = content_type.split_once(';').unwrap_or((content_type, ""));
    if !mime.trim().to_ascii_lowercase().starts_with("multipart/") {
        return Err(bad(
            "the request is not multipart (send Content-Type: multipart/form-data)",
        ));
    }
    for p in params.split(';') {
        let Some((k, v)) = p.split_once('=') else {
            continue;
        };
        if k.trim().eq_ignore_ascii_case("boundary") {
            let v = v.trim();
            let v = v
                .strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .unwrap_or(v);
            if v.is_empty() || v.len() > 70 {
                return Err(bad("multipart: the boundary must be 1 to 70 characters"));
            }
            return Ok(v.to_string());
        }
    }
    Err(bad("multipart: the content type has no boundary"))
}

/// A streaming `multipart/form-data` reader (aiohttp's `MultipartReader`), from
/// [`Request::multipart`](crate::Request::multipart).
///
/// Parts come one at a time from [`next_part`](Multipart::next_part); whatever the handler
/// did not read of a part is skipped when it asks for the next.
///
/// # Examples
///
/// ```
/// use tulip_http::{Request, Response};
///
/// async fn upload(mut req: Request) -> Result<Response, tulip_http::Error> {
///     let mut form = req.multipart()?;
///     let mut report = String::new();
///     while let Some(mut part) = form.next_part().await? {
///         let name = part.name().unwrap_or("").to_string();
///         if let Some(file) = part.filename() {
///             let file = file.to_string();
///             // Stream the file piece by piece: it is never held whole.
///             let mut size = 0;
///             while let Some(piece) = part.chunk().await? {
///                 size += piece.len();
///             }
///             report += &format!("{name}: {file} ({size} bytes)\n");
///         } else {
///             report += &format!("{name} = {}\n", part.text().await?);
///         }
///     }
///     Ok(Response::text(report))
/// }
/// # let _ = tulip_http::App::new().post("/upload", upload);
/// ```
pub struct Multipart {
    body: Body,
    parser: Parser,
    /// The current part has not reached its end yet.
    in_part: bool,
}

impl fmt::Debug for Multipart {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Multipart")
            .field("parser", &self.parser)
            .finish()
    }
}

impl Multipart {
    pub(crate) fn new(body: Body, boundary: &str) -> Multipart {
        Multipart {
            body,
            parser: Parser::new(boundary, MultipartLimits::default()),
            in_part: false,
        }
    }

    /// Replaces the default [`MultipartLimits`].
    pub fn with_limits(mut self, limits: MultipartLimits) -> Multipart {
        self.parser.limits = limits;
        self
    }

    async fn event(&mut self) -> Result<Event, Error> {
        loop {
            if let Some(ev) = self.parser.next()? {
                return Ok(ev);
            }
            match self.body.chunk().await {
                Some(Ok(piece)) => self.parser.feed(&piece),
                Some(Err(e)) => return Err(e),
                None => self.parser.feed_eof(),
            }
        }
    }

    /// The next part, or `None` after the last one. The rest of the previous part, if any,
    /// is read and dropped first.
    ///
    /// # Errors
    ///
    /// A malformed body ([`Error::is_decode`], answered 400) or a broken limit
    /// ([`Error::is_body_too_large`], answered 413), each naming the reason; the body's own
    /// errors (timeouts, a closed connection).
    ///
    /// # Cancel safety
    ///
    /// Not cancel-safe: a part head read before cancellation is lost.
    pub async fn next_part(&mut self) -> Result<Option<Part<'_>>, Error> {
        loop {
            match self.event().await? {
                Event::Head(head) => {
                    self.in_part = true;
                    return Ok(Some(Part { mp: self, head }));
                }
                Event::Data(_) => {}
                Event::PartEnd => self.in_part = false,
                Event::End => return Ok(None),
            }
        }
    }
}

/// One part of a multipart body (aiohttp's `BodyPartReader`): headers, `name`, `filename`,
/// content type, and content read piece by piece, whole, or as text.
pub struct Part<'a> {
    mp: &'a mut Multipart,
    head: PartHead,
}

impl fmt::Debug for Part<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Part")
            .field("name", &self.head.name)
            .field("filename", &self.head.filename)
            .finish()
    }
}

impl Part<'_> {
    /// The form field name (`Content-Disposition: form-data; name="..."`).
    pub fn name(&self) -> Option<&str> {
        self.head.name.as_deref()
    }

    /// The file name, for a file field: `filename*` (RFC 5987) if present, else `filename` with
    /// percent-escapes decoded (browsers send `"`, CR and LF as `%22`, `%0D`, `%0A`; aiohttp's
    /// client escapes all non-ASCII). Never use it as a path without sanitising it.
    pub fn filename(&self) -> Option<&str> {
        self.head.filename.as_deref()
    }

    /// The part's `Content-Type`, if it has one (RFC 7578 says `text/plain` then).
    pub fn content_type(&self) -> Option<&str> {
        self.head.header("content-type")
    }

    /// A header of the part (case-insensitive name).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.head.header(name)
    }

    /// Every header of the part, in order.
    pub fn headers(&self) -> impl Iterator<Item = (&str, &str)> + '_ {
        self.head
            .headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// The next piece of the part's content; `None` at its end.
    ///
    /// # Cancel safety
    ///
    /// Not cancel-safe: a piece read before cancellation is lost.
    pub async fn chunk(&mut self) -> Result<Option<Bytes>, Error> {
        if !self.mp.in_part {
            return Ok(None);
        }
        match self.mp.event().await? {
            Event::Data(b) => Ok(Some(b)),
            Event::PartEnd => {
                self.mp.in_part = false;
                Ok(None)
            }
            // The parser emits data or the part's end inside a part, never a head.
            Event::Head(_) | Event::End => {
                self.mp.in_part = false;
                Err(bad("multipart: part ended without its delimiter"))
            }
        }
    }

    /// Reads the whole part, bounded by [`MultipartLimits::max_field_size`] (413 beyond).
    ///
    /// # Cancel safety
    ///
    /// Not cancel-safe: pieces read before cancellation are lost.
    pub async fn bytes(&mut self) -> Result<Bytes, Error> {
        let limit = self.mp.parser.limits.max_field_size;
        let mut all = BytesMut::new();
        while let Some(piece) = self.chunk().await? {
            if (all.len() + piece.len()) as u64 > limit {
                return Err(too_large("multipart: a field is larger than the limit"));
            }
            if all.is_empty() && piece.len() as u64 >= limit.min(1 << 16) {
                all.reserve(piece.len());
            }
            all.extend_from_slice(&piece);
        }
        Ok(all.freeze())
    }

    /// Reads the whole part as UTF-8 text (400 when it is not).
    ///
    /// # Cancel safety
    ///
    /// Not cancel-safe, like [`bytes`](Part::bytes).
    pub async fn text(&mut self) -> Result<String, Error> {
        let b = self.bytes().await?;
        String::from_utf8(b.to_vec())
            .map_err(|e| bad("multipart: a field is not UTF-8").with_cause(e))
    }

    /// Streams the part into `w` piece by piece (e.g. a `std::fs::File`; writes to a local
    /// disk are short, as in aiohttp's upload example) and returns the number of bytes.
    /// Nothing beyond one piece is held in memory.
    ///
    /// # Cancel safety
    ///
    /// Not cancel-safe: pieces already written stay written.
    pub async fn write_to(&mut self, mut w: impl std::io::Write) -> Result<u64, Error> {
        let mut n = 0u64;
        while let Some(piece) = self.chunk().await? {
            w.write_all(&piece).map_err(Error::io)?;
            n += piece.len() as u64;
        }
        w.flush().map_err(Error::io)?;
        Ok(n)
    }
}

/// A file sent in a form (a part with a `filename`), read whole by
/// [`Request::post`](crate::Request::post).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FormFile {
    /// The client's file name (do not use it as a path unsanitised).
    pub filename: String,
    /// The part's content type, if any.
    pub content_type: Option<String>,
    /// The content.
    pub data: Bytes,
}

/// One form field's value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FormValue {
    /// A text field.
    Text(String),
    /// A file field.
    File(FormFile),
}

/// A whole form from [`Request::post`](crate::Request::post) (aiohttp's `MultiDict`): fields in
/// the order sent; a name may repeat.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Form {
    fields: Vec<(String, FormValue)>,
}

impl Form {
    /// The first text field named `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.fields.iter().find_map(|(k, v)| match v {
            FormValue::Text(t) if k == name => Some(t.as_str()),
            _ => None,
        })
    }

    /// Every text value of `name`, in order.
    pub fn get_all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.fields.iter().filter_map(move |(k, v)| match v {
            FormValue::Text(t) if k == name => Some(t.as_str()),
            _ => None,
        })
    }

    /// The first file field named `name`.
    pub fn file(&self, name: &str) -> Option<&FormFile> {
        self.fields.iter().find_map(|(k, v)| match v {
            FormValue::File(f) if k == name => Some(f),
            _ => None,
        })
    }

    /// Every field, in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &FormValue)> + '_ {
        self.fields.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// How many fields.
    pub fn len(&self) -> usize {
        self.fields.len()
    }

    /// No fields.
    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }

    pub(crate) fn from_pairs(pairs: Vec<(String, String)>) -> Form {
        Form {
            fields: pairs
                .into_iter()
                .map(|(k, v)| (k, FormValue::Text(v)))
                .collect(),
        }
    }

    /// Reads every part of `mp` whole.
    pub(crate) async fn read_multipart(mut mp: Multipart) -> Result<Form, Error> {
        let mut fields = Vec::new();
        while let Some(mut part) = mp.next_part().await? {
            let name = part.name().unwrap_or("").to_string();
            let value = match part.filename() {
                Some(filename) => {
                    let filename = filename.to_string();
                    let content_type = part.content_type().map(str::to_string);
                    FormValue::File(FormFile {
                        filename,
                        content_type,
                        data: part.bytes().await?,
                    })
                }
                None => FormValue::Text(part.text().await?),
            };
            fields.push((name, value));
        }
        Ok(Form { fields })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs the parser over `input` fed in pieces of `split` bytes; returns
    /// (head, content) per part.
    pub(crate) fn parse_all(
        input: &[u8],
        boundary: &str,
        split: usize,
    ) -> Result<Vec<(PartHead, Vec<u8>)>, Error> {
        let mut p = Parser::new(boundary, MultipartLimits::default());
        let mut out: Vec<(PartHead, Vec<u8>)> = Vec::new();
        let mut pieces = input.chunks(split.max(1));
        loop {
            match p.next()? {
                Some(Event::Head(h)) => out.push((h, Vec::new())),
                Some(Event::Data(d)) => out.last_mut().expect("data in a part").1.extend(&d),
                Some(Event::PartEnd) => {}
                Some(Event::End) => return Ok(out),
                None => match pieces.next() {
                    Some(piece) => p.feed(piece),
                    None => p.feed_eof(),
                },
            }
        }
    }

    const BODY: &[u8] = b"preamble\r\n--XyZ\r\n\
Content-Disposition: form-data; name=\"title\"\r\n\r\n\
Hello\r\n--XyZ\r\n\
Content-Disposition: form-data; name=\"file\"; filename=\"a b.txt\"\r\n\
Content-Type: text/plain\r\n\r\n\
line1\r\n--XyY-near-miss\r\n\r\n--XyZ--\r\nepilogue";

    #[test]
    fn parses_fields_and_files_in_any_split() {
        for split in 1..BODY.len() + 1 {
            let parts = parse_all(BODY, "XyZ", split).unwrap();
            assert_eq!(parts.len(), 2, "split {split}");
            assert_eq!(parts[0].0.name.as_deref(), Some("title"));
            assert_eq!(parts[0].1, b"Hello");
            assert_eq!(parts[1].0.filename.as_deref(), Some("a b.txt"));
            assert_eq!(parts[1].0.header("content-type"), Some("text/plain"));
            assert_eq!(parts[1].1, b"line1\r\n--XyY-near-miss\r\n");
        }
    }

    #[test]
    fn body_may_start_with_the_delimiter_and_parts_may_be_empty() {
        let body = b"--b\r\n\r\n\r\n--b\r\nX-A: 1\r\n\r\n\r\n--b--";
        let parts = parse_all(body, "b", 3).unwrap();
        assert_eq!(parts.len(), 2);
        assert!(parts[0].1.is_empty() && parts[1].1.is_empty());
        assert_eq!(parts[1].0.header("x-a"), Some("1"));
    }

    #[test]
    fn malformed_bodies_are_400_with_a_reason() {
        let cases: &[(&[u8], &str)] = &[
            (b"no delimiter here", "no boundary delimiter"),
            (
                b"--b\r\nContent-Disposition: form-data\r\n\r\nabc",
                "ends inside a part",
            ),
            (b"--b\r\nBad Header\r\n\r\n--b--", "malformed part head"),
            (b"--bXX", "not followed by CRLF"),
            (
                b"--b\r\nContent-Disposition: form-data; name=\"x\r\n\r\n--b--",
                "unterminated",
            ),
        ];
        for (body, reason) in cases {
            let e = parse_all(body, "b", 2).unwrap_err();
            assert!(e.is_decode(), "{e:?}");
            assert_eq!(e.status(), http::StatusCode::BAD_REQUEST);
            assert!(e.to_string().contains(reason), "{e} lacks {reason}");
        }
    }

    #[test]
    fn limits_are_413() {
        let mut body = Vec::new();
        for _ in 0..3 {
            body.extend_from_slice(b"--b\r\n\r\nx\r\n");
        }
        body.extend_from_slice(b"--b--");
        let limits = MultipartLimits {
            max_parts: 2,
            ..MultipartLimits::default()
        };
        let mut p = Parser::new("b", limits);
        p.feed(&body);
        p.feed_eof();
        let e = loop {
            match p.next() {
                Ok(Some(Event::End)) => panic!("three parts passed a limit of two"),
                Ok(_) => {}
                Err(e) => break e,
            }
        };
        assert!(e.is_body_too_large() && e.to_string().contains("more parts"));

        let long_head = format!("--b\r\nX: {}\r\n\r\n--b--", "a".repeat(9000));
        let e = parse_all(long_head.as_bytes(), "b", 100).unwrap_err();
        assert!(e.is_body_too_large() && e.to_string().contains("part head"));
    }

    #[test]
    fn disposition_parameters() {
        let (n, f) = disposition("form-data; name=\"a;b\"; filename=\"x\\\"y.txt\"").unwrap();
        assert_eq!(n.as_deref(), Some("a;b"));
        assert_eq!(f.as_deref(), Some("x\"y.txt"));
        let (n, f) = disposition(
            "form-data; name=up; filename=\"plain\"; filename*=UTF-8''%C3%A9t%C3%A9.txt",
        )
        .unwrap();
        assert_eq!(n.as_deref(), Some("up"));
        assert_eq!(f.as_deref(), Some("été.txt"));
        let (_, f) = disposition("form-data; name=a; filename=\"r%C3%A9%22s.pdf\"").unwrap();
        assert_eq!(f.as_deref(), Some("ré\"s.pdf"));
    }

    #[test]
    fn boundary_from_content_type() {
        assert_eq!(
            boundary("multipart/form-data; boundary=----abc").unwrap(),
            "----abc"
        );
        assert_eq!(
            boundary("Multipart/Form-Data; charset=utf-8; boundary=\"a b\"").unwrap(),
            "a b"
        );
        assert!(boundary("text/plain").unwrap_err().is_decode());
        assert!(boundary("multipart/form-data").unwrap_err().is_decode());
    }

    mod prop {
        use proptest::prelude::*;

        use super::parse_all;

        fn encode(parts: &[(String, Vec<u8>)], boundary: &str) -> Vec<u8> {
            let mut out = Vec::new();
            for (name, data) in parts {
                out.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
                out.extend_from_slice(
                    format!("Content-Disposition: form-data; name=\"{name}\"\r\n\r\n").as_bytes(),
                );
                out.extend_from_slice(data);
                out.extend_from_slice(b"\r\n");
            }
            out.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
            out
        }

        proptest! {
            /// Any content that does not contain the delimiter comes back intact, however
            /// the body is split into pieces.
            #[test]
            fn round_trip(
                parts in prop::collection::vec(
                    ("[a-z]{1,8}", prop::collection::vec(
                        prop::sample::select(vec![b'a', b'-', b'\r', b'\n', b'B', 0u8, 0xff]),
                        0..200,
                    )),
                    0..6,
                ),
                split in 1usize..64,
            ) {
                let boundary = "--BB";
                let delim = format!("\r\n--{boundary}");
                for (_, d) in &parts {
                    let mut with_crlf = b"\r\n".to_vec();
                    with_crlf.extend_from_slice(d);
                    prop_assume!(!with_crlf.windows(delim.len()).any(|w| w == delim.as_bytes()));
                }
                let body = encode(&parts, boundary);
                let got = parse_all(&body, boundary, split).unwrap();
                prop_assert_eq!(got.len(), parts.len());
                for ((head, data), (name, want)) in got.iter().zip(&parts) {
                    prop_assert_eq!(head.name.as_deref(), Some(name.as_str()));
                    prop_assert_eq!(data, want);
                }
            }

            /// Arbitrary bytes never panic the parser.
            #[test]
            fn never_panics(body in prop::collection::vec(any::<u8>(), 0..300), split in 1usize..32) {
                let _ = parse_all(&body, "b", split);
            }
        }
    }
}
