//! [`ClientResponse`]: status, headers, and a body that streams from the connection.

use std::fmt;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use futures_lite::{Stream, future};
use http::header::{self, HeaderMap};
use http::{StatusCode, Uri, Version};

use super::Client;
use super::body::Decompress;
use super::pool::{ConnPermit, Key, PoolConn};
use super::timeout::{label_read, read_deadline};
use crate::error::{Error, Kind, Phase};
use crate::proto::decode::{Decoded, Decoder};

/// The body side of a response: the connection it streams from, until the end.
pub(crate) struct BodyState {
    client: Client,
    key: Key,
    /// Held until the body ends or the response is dropped.
    slot: Option<ConnPermit>,
    conn: Option<Box<PoolConn>>,
    decoder: Decoder,
    decompress: Option<Decompress>,
    keep_alive: bool,
    read_timeout: Option<Duration>,
    total: Option<Instant>,
    /// Bytes returned by `chunk` but not yet by `read(n)`.
    leftover: Bytes,
    finished: bool,
    /// The body of an HTTP/2 response (then `conn` is `None`).
    h2: Option<h2::RecvStream>,
}

impl BodyState {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        client: Client,
        key: Key,
        slot: ConnPermit,
        conn: Box<PoolConn>,
        decoder: Decoder,
        decompress: Option<Decompress>,
        keep_alive: bool,
        read_timeout: Option<Duration>,
        total: Option<Instant>,
    ) -> BodyState {
        BodyState {
            client,
            key,
            slot: Some(slot),
            conn: Some(conn),
            decoder,
            decompress,
            keep_alive,
            read_timeout,
            total,
            leftover: Bytes::new(),
            finished: false,
            h2: None,
        }
    }

    /// The body of an HTTP/2 response: a stream of its connection, which stays shared.
    pub(crate) fn h2(
        client: Client,
        key: Key,
        slot: ConnPermit,
        recv: h2::RecvStream,
        decompress: Option<Decompress>,
        read_timeout: Option<Duration>,
        total: Option<Instant>,
    ) -> BodyState {
        BodyState {
            client,
            key,
            slot: Some(slot),
            conn: None,
            decoder: Decoder::Length(0),
            decompress,
            keep_alive: false,
            read_timeout,
            total,
            leftover: Bytes::new(),
            finished: false,
            h2: Some(recv),
        }
    }

    /// The next piece of the body as sent (before decompression), or `None` at the end.
    async fn next_raw(&mut self) -> Result<Option<Bytes>, Error> {
        if let Some(recv) = self.h2.as_mut() {
            let deadline = read_deadline(self.read_timeout, self.total);
            return match crate::h2::client::next_data(recv, deadline).await {
                Ok(Some(b)) => Ok(Some(b)),
                Ok(None) => {
                    self.h2 = None;
                    self.slot = None;
                    Ok(None)
                }
                Err(e) => {
                    self.h2 = None;
                    Err(self.fail(label_read(e, self.total)))
                }
            };
        }
        loop {
            let Some(pc) = self.conn.as_mut() else {
                return Ok(None);
            };
            let step = match self.decoder.decode(&mut pc.conn.rb) {
                Ok(s) => s,
                Err(e) => return Err(self.fail(e)),
            };
            match step {
                Decoded::Data(b) => return Ok(Some(b)),
                Decoded::Done => {
                    self.end(true);
                    return Ok(None);
                }
                Decoded::NeedMore => {
                    let deadline = read_deadline(self.read_timeout, self.total);
                    let conn = &mut pc.conn;
                    let n = match future::poll_fn(|cx| conn.poll_read_more(cx, deadline)).await {
                        Ok(n) => n,
                        Err(e) => return Err(self.fail(label_read(e, self.total))),
                    };
                    if n == 0 {
                        // The peer closed: the end for close-delimited bodies, an error otherwise.
                        match self.decoder.decode_eof() {
                            Ok(_) => {
                                self.end(false);
                                return Ok(None);
                            }
                            Err(e) => return Err(self.fail(e)),
                        }
                    }
                }
            }
        }
    }

    /// The body ended; the connection goes back to the pool when it can carry another request.
    fn end(&mut self, reusable: bool) {
        if let Some(pc) = self.conn.take() {
            if reusable && self.keep_alive {
                self.client.inner.pool.checkin(self.key.clone(), pc);
            }
        }
        self.slot = None;
    }

    fn fail(&mut self, e: Error) -> Error {
        self.conn = None;
        self.slot = None;
        e
    }

    /// The next piece of the decoded body.
    async fn next(&mut self) -> Result<Option<Bytes>, Error> {
        if !self.leftover.is_empty() {
            return Ok(Some(std::mem::take(&mut self.leftover)));
        }
        loop {
            if self.finished {
                return Ok(None);
            }
            match self.next_raw().await? {
                Some(raw) => match &mut self.decompress {
                    None => return Ok(Some(raw)),
                    Some(d) => {
                        let out = d.feed(&raw).map_err(|e| self.fail(e))?;
                        if !out.is_empty() {
                            return Ok(Some(out));
                        }
                    }
                },
                None => {
                    self.finished = true;
                    if let Some(d) = &mut self.decompress {
                        let out = d.finish()?;
                        if !out.is_empty() {
                            return Ok(Some(out));
                        }
                    }
                    return Ok(None);
                }
            }
        }
    }
}

/// A response: status and headers at once, the body on demand (aiohttp's `ClientResponse`).
///
/// The body streams from the connection: [`chunk`](Self::chunk), [`read`](Self::read) and
/// [`bytes_stream`](Self::bytes_stream) never hold more than one chunk; [`bytes`](Self::bytes),
/// [`text`](Self::text) and [`json`](Self::json) collect it, up to the client's
/// `max_body_size`. gzip/deflate bodies arrive decoded. Reading to the end returns the
/// connection to the pool; dropping the response earlier closes it.
pub struct ClientResponse {
    status: StatusCode,
    version: Version,
    headers: HeaderMap,
    /// The reason phrase when it is not the canonical one of `status`.
    reason: Option<Box<str>>,
    url: Uri,
    history: Vec<(StatusCode, Uri)>,
    body: BodyState,
}

impl ClientResponse {
    pub(crate) fn new(
        status: StatusCode,
        version: Version,
        headers: HeaderMap,
        body: BodyState,
    ) -> ClientResponse {
        ClientResponse {
            status,
            version,
            headers,
            reason: None,
            url: Uri::default(),
            history: Vec::new(),
            body,
        }
    }

    /// Keeps a reason phrase that is not the canonical one (in place: a response is large,
    /// and every move copies it).
    pub(crate) fn set_reason(&mut self, reason: Option<Box<str>>) {
        self.reason = reason;
    }

    /// The reason phrase the server sent (`"Not Found"`; aiohttp's `reason`): the canonical
    /// one of the status when the server sent that or none (HTTP/2 has none).
    pub fn reason(&self) -> &str {
        self.reason
            .as_deref()
            .or_else(|| self.status.canonical_reason())
            .unwrap_or("")
    }

    /// An [`Error::is_status`] error for a 4xx or 5xx response (aiohttp's
    /// `raise_for_status()`): the status, reason, headers and URL are in the error. The
    /// response stays as it was: read its body for the server's explanation.
    ///
    /// # Errors
    ///
    /// [`Error::is_status`] when the status is 400 or above.
    pub fn raise_for_status(&self) -> Result<(), Error> {
        if self.status.as_u16() >= 400 {
            Err(self.status_error())
        } else {
            Ok(())
        }
    }

    pub(crate) fn status_error(&self) -> Error {
        Error::status_error(
            self.status,
            self.reason(),
            self.headers.clone(),
            self.url.clone(),
        )
    }

    /// Records the final URL and the redirects that led to it (in place, as `set_reason`).
    pub(crate) fn finish(&mut self, url: Uri, history: Vec<(StatusCode, Uri)>) {
        self.url = url;
        self.history = history;
    }

    /// The status code.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The HTTP version the server answered with.
    pub fn version(&self) -> Version {
        self.version
    }

    /// The response headers.
    pub fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    /// The final URL, after redirects.
    pub fn url(&self) -> &Uri {
        &self.url
    }

    /// The redirects followed to get here: each response's status and the URL that gave it.
    pub fn history(&self) -> &[(StatusCode, Uri)] {
        &self.history
    }

    /// The `Content-Length` the server announced, if any (before decompression).
    pub fn content_length(&self) -> Option<u64> {
        self.headers
            .get(header::CONTENT_LENGTH)?
            .to_str()
            .ok()?
            .parse()
            .ok()
    }

    /// The next chunk of the body, or `None` at its end.
    ///
    /// # Errors
    ///
    /// Timeouts, a connection that closed mid-body, malformed chunking, corrupt compression.
    ///
    /// # Cancel safety
    ///
    /// Not cancel-safe: bytes read into a dropped call's chunk are lost, and the connection
    /// is then not reused.
    pub async fn chunk(&mut self) -> Result<Option<Bytes>, Error> {
        let next = self.body.next().await;
        next.map_err(|e| self.body_error(e))
    }

    /// Says where a body error happened.
    fn body_error(&self, e: Error) -> Error {
        e.during(Phase::ReadResponseBody).at(&self.url)
    }

    /// Up to `n` bytes of the body (fewer at its end; empty once it is over).
    ///
    /// # Errors
    ///
    /// As [`chunk`](Self::chunk).
    ///
    /// # Cancel safety
    ///
    /// Not cancel-safe, as [`chunk`](Self::chunk).
    pub async fn read(&mut self, n: usize) -> Result<Bytes, Error> {
        let mut piece = match self.chunk().await? {
            Some(b) => b,
            None => return Ok(Bytes::new()),
        };
        if piece.len() > n {
            self.body.leftover = piece.split_off(n);
        }
        Ok(piece)
    }

    /// Reads the body to its end and discards up to `max` bytes of it, so the connection can
    /// be reused; gives up (closing the connection) past `max`.
    pub(crate) async fn drain(&mut self, max: usize) -> Result<(), Error> {
        let mut seen = 0;
        while let Some(b) = self.body.next_raw().await? {
            seen += b.len();
            if seen > max {
                self.body.fail(Error::new(
                    Kind::BodyTooLarge,
                    "redirect body too large to drain",
                ));
                break;
            }
        }
        Ok(())
    }

    /// The whole body.
    ///
    /// # Errors
    ///
    /// As [`chunk`](Self::chunk), and [`Error::is_body_too_large`] past the client's
    /// `max_body_size`.
    ///
    /// # Cancel safety
    ///
    /// Not cancel-safe: the response is consumed.
    pub async fn bytes(mut self) -> Result<Bytes, Error> {
        let max = self.body.client.inner.config.max_body;
        if self.content_length().is_some_and(|n| n > max) && self.body.decompress.is_none() {
            return Err(self.body_error(Error::new(
                Kind::BodyTooLarge,
                "Content-Length exceeds max_body_size",
            )));
        }
        // A body that arrives in one piece is returned as that piece, without a copy.
        let mut first: Option<Bytes> = None;
        let mut out = BytesMut::new();
        let mut total: u64 = 0;
        while let Some(b) = self.chunk().await? {
            total += b.len() as u64;
            if total > max {
                return Err(
                    self.body_error(Error::new(Kind::BodyTooLarge, "body exceeds max_body_size"))
                );
            }
            match first.take() {
                None if out.is_empty() => first = Some(b),
                Some(f) => {
                    out.extend_from_slice(&f);
                    out.extend_from_slice(&b);
                }
                None => out.extend_from_slice(&b),
            }
        }
        Ok(first.unwrap_or_else(|| out.freeze()))
    }

    /// The body as text, decoded with the `charset` of `Content-Type` (UTF-8 when absent;
    /// ISO-8859-1 and US-ASCII are understood too).
    ///
    /// # Errors
    ///
    /// As [`bytes`](Self::bytes), and [`Error::is_decode`] for invalid text or an unknown
    /// charset.
    ///
    /// # Cancel safety
    ///
    /// Not cancel-safe: the response is consumed.
    pub async fn text(self) -> Result<String, Error> {
        let url = self.url.clone();
        let charset = self
            .headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|ct| {
                ct.split(';')
                    .skip(1)
                    .find_map(|p| p.trim().strip_prefix("charset="))
            })
            .map(|c| c.trim_matches('"').to_ascii_lowercase())
            .unwrap_or_else(|| "utf-8".into());
        let body = self.bytes().await?;
        match charset.as_str() {
            "utf-8" | "utf8" => String::from_utf8(body.to_vec()).map_err(|e| {
                Error::new(Kind::Decode, "body is not valid UTF-8")
                    .with_cause(e)
                    .during(Phase::ReadResponseBody)
                    .at(url)
            }),
            "iso-8859-1" | "latin1" | "latin-1" | "us-ascii" | "ascii" => {
                Ok(body.iter().map(|&b| b as char).collect())
            }
            _ => Err(Error::new(Kind::Decode, "unsupported charset")
                .during(Phase::ReadResponseBody)
                .at(url)),
        }
    }

    /// The body parsed as JSON.
    ///
    /// # Errors
    ///
    /// As [`bytes`](Self::bytes), and [`Error::is_decode`] for invalid JSON.
    ///
    /// # Cancel safety
    ///
    /// Not cancel-safe: the response is consumed.
    #[cfg(feature = "json")]
    pub async fn json<T: serde::de::DeserializeOwned>(self) -> Result<T, Error> {
        let url = self.url.clone();
        let body = self.bytes().await?;
        serde_json::from_slice(&body).map_err(|e| {
            Error::new(Kind::Decode, "body is not the expected JSON")
                .with_cause(e)
                .during(Phase::ReadResponseBody)
                .at(url)
        })
    }

    /// The body as a stream of chunks.
    pub fn bytes_stream(self) -> impl Stream<Item = Result<Bytes, Error>> + Send {
        futures_lite::stream::unfold(Some(self), |state| async move {
            let mut resp = state?;
            match resp.chunk().await {
                Ok(Some(b)) => Some((Ok(b), Some(resp))),
                Ok(None) => None,
                Err(e) => Some((Err(e), None)),
            }
        })
    }
}

impl fmt::Debug for ClientResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientResponse")
            .field("status", &self.status)
            .field("version", &self.version)
            .field("url", &self.url)
            .field("headers", &self.headers)
            .finish_non_exhaustive()
    }
}
