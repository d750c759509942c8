//! Responses: whole bodies, streamed bodies with backpressure, and `IntoResponse`.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

use bytes::Bytes;
use futures_lite::Stream;
use http::header::{HeaderName, HeaderValue};
use http::{HeaderMap, StatusCode};

use super::app::BoxFuture;
use crate::error::{Error, Kind};

/// A response body's stream of pieces, boxed.
pub(crate) type BoxStream = Pin<Box<dyn Stream<Item = Result<Bytes, Error>> + Send>>;

/// A response body.
pub(crate) enum ResponseBody {
    Empty,
    Full(Bytes),
    Stream(BoxStream),
    /// A file range: sendfile(2) on plain HTTP/1 sockets, read and written elsewhere.
    File(super::file_body::FileBody),
}

impl fmt::Debug for ResponseBody {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ResponseBody::Empty => f.write_str("Empty"),
            ResponseBody::Full(b) => write!(f, "Full({} bytes)", b.len()),
            ResponseBody::Stream(_) => f.write_str("Stream"),
            ResponseBody::File(b) => write!(f, "File({} bytes)", b.len),
        }
    }
}

/// An HTTP response (aiohttp's `web.Response` and, with [`Response::streaming`], its
/// `StreamResponse`).
///
/// # Examples
///
/// ```
/// use tulip_http::{HeaderValue, Response, StatusCode, header};
///
/// let r = Response::text("hi")
///     .with_status(StatusCode::CREATED)
///     .with_header(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
/// assert_eq!(r.status(), StatusCode::CREATED);
/// assert_eq!(r.headers()["cache-control"], "no-store");
///
/// // Names and values from strings are checked: an invalid one is an error, not dropped.
/// let user_input = "line\nbreak";
/// let err = Response::text("hi").try_with_header("x-note", user_input).unwrap_err();
/// assert!(err.is_user());
/// ```
#[derive(Debug)]
pub struct Response {
    status: StatusCode,
    headers: HeaderMap,
    /// Kept outside `headers` so the common case never allocates a header map.
    content_type: Option<HeaderValue>,
    pub(crate) body: ResponseBody,
    /// Close the connection after this response.
    pub(crate) close: bool,
    /// gzip: `Some(true)` asked for, `Some(false)` refused, `None` the server's default.
    #[cfg(feature = "gzip")]
    pub(crate) compress: Option<bool>,
}

impl Response {
    /// An empty response with `status`.
    pub fn new(status: StatusCode) -> Response {
        Response {
            status,
            headers: HeaderMap::new(),
            content_type: None,
            body: ResponseBody::Empty,
            close: false,
            #[cfg(feature = "gzip")]
            compress: None,
        }
    }

    /// A `text/plain; charset=utf-8` response.
    pub fn text(body: impl Into<Bytes>) -> Response {
        Response::bytes(body)
            .with_content_type(HeaderValue::from_static("text/plain; charset=utf-8"))
    }

    /// A `text/html; charset=utf-8` response.
    pub fn html(body: impl Into<Bytes>) -> Response {
        Response::bytes(body)
            .with_content_type(HeaderValue::from_static("text/html; charset=utf-8"))
    }

    /// A response with a body and no content type (`application/octet-stream` for clients).
    pub fn bytes(body: impl Into<Bytes>) -> Response {
        let mut r = Response::new(StatusCode::OK);
        r.body = ResponseBody::Full(body.into());
        r
    }

    /// A JSON response (`application/json`).
    #[cfg(feature = "json")]
    pub fn json<T: serde::Serialize + ?Sized>(value: &T) -> Response {
        match serde_json::to_vec(value) {
            Ok(v) => {
                Response::bytes(v).with_content_type(HeaderValue::from_static("application/json"))
            }
            Err(_) => Response::new(StatusCode::INTERNAL_SERVER_ERROR),
        }
    }

    /// A streamed (chunked) response whose body is `stream`.
    pub fn stream<S>(stream: S) -> Response
    where
        S: Stream<Item = Result<Bytes, Error>> + Send + 'static,
    {
        let mut r = Response::new(StatusCode::OK);
        r.body = ResponseBody::Stream(Box::pin(stream));
        r
    }

    /// A streamed response written by `f` through a [`BodyWriter`], with backpressure: each
    /// `write` waits until the connection took the previous piece (aiohttp's
    /// `StreamResponse.write` + `drain`).
    ///
    /// ```
    /// use tulip_http::Response;
    /// let r = Response::streaming(|mut w| async move {
    ///     for i in 0..3 {
    ///         w.write(format!("line {i}\n")).await?;
    ///     }
    ///     Ok(())
    /// });
    /// # let _ = r;
    /// ```
    pub fn streaming<F, Fut>(f: F) -> Response
    where
        F: FnOnce(BodyWriter) -> Fut,
        Fut: Future<Output = Result<(), Error>> + Send + 'static,
    {
        let slot = Arc::new(Mutex::new(Handoff::default()));
        let fut = f(BodyWriter { slot: slot.clone() });
        Response::stream(Producer {
            fut: Some(Box::pin(fut)),
            slot,
        })
    }

    /// A server-sent events response (`text/event-stream`); `f` sends events through an
    /// [`EventSender`].
    pub fn sse<F, Fut>(f: F) -> Response
    where
        F: FnOnce(EventSender) -> Fut,
        Fut: Future<Output = Result<(), Error>> + Send + 'static,
    {
        Response::streaming(|w| f(EventSender { w }))
            .with_content_type(HeaderValue::from_static("text/event-stream"))
            .with_header(
                http::header::CACHE_CONTROL,
                HeaderValue::from_static("no-cache"),
            )
    }

    /// The status code.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// Sets the status code.
    pub fn set_status(&mut self, status: StatusCode) {
        self.status = status;
    }

    /// Returns the response with `status`.
    pub fn with_status(mut self, status: StatusCode) -> Response {
        self.status = status;
        self
    }

    /// The headers (without `content-type`, which [`content_type`](Response::content_type) holds).
    pub fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    /// The headers, mutably.
    pub fn headers_mut(&mut self) -> &mut HeaderMap {
        &mut self.headers
    }

    /// Appends a header (`content-type` replaces the content type instead).
    ///
    /// Takes the typed name and value, which cannot be invalid: constants such as
    /// [`header::CACHE_CONTROL`](crate::header::CACHE_CONTROL) and
    /// [`HeaderValue::from_static`](crate::HeaderValue::from_static). For names or values
    /// built from strings at run time use [`try_with_header`](Response::try_with_header).
    pub fn with_header(mut self, name: HeaderName, value: HeaderValue) -> Response {
        if name == http::header::CONTENT_TYPE {
            self.content_type = Some(value);
        } else {
            self.headers.append(name, value);
        }
        self
    }

    /// Appends a header given as strings (or any type the `http` crate converts from),
    /// checking the name and the value.
    ///
    /// # Errors
    ///
    /// [`Error::is_user`] for a name or a value that is not valid in HTTP (a newline, a
    /// space in the name...); the `http` crate's error is its [`source`](std::error::Error::source).
    pub fn try_with_header<K, V>(self, name: K, value: V) -> Result<Response, Error>
    where
        HeaderName: TryFrom<K>,
        <HeaderName as TryFrom<K>>::Error: Into<http::Error>,
        HeaderValue: TryFrom<V>,
        <HeaderValue as TryFrom<V>>::Error: Into<http::Error>,
    {
        let (name, value) = crate::error::header_pair(name, value)?;
        Ok(self.with_header(name, value))
    }

    /// The content type, if set.
    pub fn content_type(&self) -> Option<&HeaderValue> {
        self.content_type.as_ref()
    }

    /// Returns the response with a content type.
    pub fn with_content_type(mut self, value: HeaderValue) -> Response {
        self.content_type = Some(value);
        self
    }

    /// Asks the server to close the connection after this response.
    pub fn with_close(mut self) -> Response {
        self.close = true;
        self
    }

    /// Compresses this response with gzip when the client accepts it (aiohttp's
    /// `enable_compression()`), whatever its content type. HEAD answers, bodies shorter than
    /// [`ServerConfig::compression_min_size`](crate::ServerConfig::compression_min_size),
    /// 1xx/204/304/206 answers and bodies that already have a `Content-Encoding` still go out
    /// as they are. Streamed bodies are compressed piece by piece and each piece is flushed.
    ///
    /// ```
    /// let mut r = tulip_http::Response::text("a long text ".repeat(200));
    /// r.enable_compression();
    /// ```
    #[cfg(feature = "gzip")]
    pub fn enable_compression(&mut self) {
        self.compress = Some(true);
    }

    /// Never compresses this response, even when
    /// [`ServerConfig::compression`](crate::ServerConfig::compression) is on.
    #[cfg(feature = "gzip")]
    pub fn disable_compression(&mut self) {
        self.compress = Some(false);
    }

    /// Returns the response with compression enabled; see
    /// [`enable_compression`](Response::enable_compression).
    #[cfg(feature = "gzip")]
    pub fn with_compression(mut self) -> Response {
        self.compress = Some(true);
        self
    }

    /// The body's length, when it is known before it is sent.
    pub(crate) fn body_len(&self) -> Option<usize> {
        match &self.body {
            ResponseBody::Empty => Some(0),
            ResponseBody::Full(b) => Some(b.len()),
            ResponseBody::File(b) => usize::try_from(b.len).ok(),
            ResponseBody::Stream(_) => None,
        }
    }

    /// The whole body, when it is not streamed.
    pub fn body_bytes(&self) -> Option<&Bytes> {
        match &self.body {
            ResponseBody::Full(b) => Some(b),
            _ => None,
        }
    }
}

#[derive(Debug, Default)]
struct Handoff {
    chunk: Option<Bytes>,
    /// The connection's waker, woken when a piece is ready.
    reader: Option<Waker>,
    /// The writer's waker, woken when the piece was taken.
    writer: Option<Waker>,
}

/// Writes a streamed response body; see [`Response::streaming`].
#[derive(Debug)]
pub struct BodyWriter {
    slot: Arc<Mutex<Handoff>>,
}

impl BodyWriter {
    /// Sends one piece, waiting until the connection has taken the previous one.
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe in that a cancelled call sends nothing it did not already hand over.
    pub async fn write(&mut self, data: impl Into<Bytes>) -> Result<(), Error> {
        let mut data = Some(data.into());
        futures_lite::future::poll_fn(|cx| {
            let mut s = self
                .slot
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if s.chunk.is_some() {
                s.writer = Some(cx.waker().clone());
                return Poll::Pending;
            }
            if let Some(d) = data.take() {
                s.chunk = Some(d);
                if let Some(r) = s.reader.take() {
                    r.wake();
                }
            }
            Poll::Ready(Ok(()))
        })
        .await
    }
}

/// Sends server-sent events; see [`Response::sse`].
#[derive(Debug)]
pub struct EventSender {
    w: BodyWriter,
}

impl EventSender {
    /// Sends one event with `data` (split over several `data:` lines if it has newlines) and
    /// an optional event name.
    ///
    /// # Cancel safety
    ///
    /// As [`BodyWriter::write`].
    pub async fn send(&mut self, event: Option<&str>, data: &str) -> Result<(), Error> {
        let mut out = String::with_capacity(data.len() + 16);
        if let Some(e) = event {
            if e.contains(['\n', '\r']) {
                return Err(Error::new(Kind::User, "event name with a newline"));
            }
            out.push_str("event: ");
            out.push_str(e);
            out.push('\n');
        }
        for line in data.split('\n') {
            out.push_str("data: ");
            out.push_str(line.trim_end_matches('\r'));
            out.push('\n');
        }
        out.push('\n');
        self.w.write(out).await
    }
}

/// Drives a `streaming` producer from the connection's side.
struct Producer {
    fut: Option<BoxFuture<Result<(), Error>>>,
    slot: Arc<Mutex<Handoff>>,
}

impl Stream for Producer {
    type Item = Result<Bytes, Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        loop {
            {
                let mut s = self
                    .slot
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                if let Some(chunk) = s.chunk.take() {
                    if let Some(w) = s.writer.take() {
                        w.wake();
                    }
                    return Poll::Ready(Some(Ok(chunk)));
                }
                s.reader = Some(cx.waker().clone());
            }
            let Some(fut) = self.fut.as_mut() else {
                return Poll::Ready(None);
            };
            match fut.as_mut().poll(cx) {
                Poll::Ready(res) => {
                    self.fut = None;
                    if let Err(e) = res {
                        return Poll::Ready(Some(Err(e)));
                    }
                    // Loop once more to pass on a last piece written just before returning.
                }
                Poll::Pending => {
                    let s = self
                        .slot
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner);
                    if s.chunk.is_none() {
                        return Poll::Pending;
                    }
                }
            }
        }
    }
}

/// Anything a handler may return.
pub trait IntoResponse {
    /// Converts into a response.
    fn into_response(self) -> Response;
}

impl IntoResponse for Response {
    fn into_response(self) -> Response {
        self
    }
}

impl IntoResponse for &'static str {
    fn into_response(self) -> Response {
        Response::text(self)
    }
}

impl IntoResponse for String {
    fn into_response(self) -> Response {
        Response::text(self)
    }
}

impl IntoResponse for Bytes {
    fn into_response(self) -> Response {
        Response::bytes(self)
    }
}

impl IntoResponse for Vec<u8> {
    fn into_response(self) -> Response {
        Response::bytes(self)
    }
}

impl IntoResponse for StatusCode {
    fn into_response(self) -> Response {
        let reason = self.canonical_reason().unwrap_or("");
        Response::text(format!("{} {reason}", self.as_u16())).with_status(self)
    }
}

impl<T: IntoResponse> IntoResponse for (StatusCode, T) {
    fn into_response(self) -> Response {
        self.1.into_response().with_status(self.0)
    }
}

impl<T: IntoResponse, E: IntoResponse> IntoResponse for Result<T, E> {
    fn into_response(self) -> Response {
        match self {
            Ok(t) => t.into_response(),
            Err(e) => e.into_response(),
        }
    }
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        let status = self.status();
        let mut r = match self.client_reason() {
            // A bad request says what was wrong with it.
            Some(reason) => {
                let text = status.canonical_reason().unwrap_or("");
                Response::text(format!("{} {text}: {reason}", status.as_u16())).with_status(status)
            }
            None => status.into_response(),
        };
        if self.is_parse() || self.is_body_too_large() || self.is_timeout() {
            r.close = true;
        }
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streaming_passes_pieces_in_order() {
        let r = Response::streaming(|mut w| async move {
            w.write("a").await?;
            w.write("b").await?;
            Ok(())
        });
        let ResponseBody::Stream(mut s) = r.body else {
            panic!("not a stream")
        };
        let got: Vec<Bytes> = futures_lite::future::block_on(async {
            let mut v = Vec::new();
            while let Some(p) = futures_lite::StreamExt::next(&mut s).await {
                v.push(p.unwrap());
            }
            v
        });
        assert_eq!(
            got,
            vec![Bytes::from_static(b"a"), Bytes::from_static(b"b")]
        );
    }
}
