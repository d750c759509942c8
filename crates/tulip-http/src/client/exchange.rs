//! One request, end to end: redirects around retries around a single round trip.

use std::future::Future;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_lite::{StreamExt, future};
use http::header::{self, HeaderMap, HeaderValue};
use http::{Method, StatusCode, Uri, Version};

use super::body::{Decompress, ReqBody};
use super::pool::{ClientStream, Key, PoolConn};
use super::request::RequestBuilder;
use super::response::{BodyState, ClientResponse};
use super::url::Target;
use super::{Client, Timeouts};
use crate::error::{Error, Kind, Phase};
use crate::proto::client::{encode_request_head, keeps_alive, parse_response, response_framing};
use crate::proto::conn::Conn;
use crate::proto::decode::Decoder;
use crate::proto::encode::Encoder;

/// Runs `fut` until the total deadline, if any.
pub(crate) async fn until<T>(
    deadline: Option<Instant>,
    fut: impl Future<Output = Result<T, Error>>,
) -> Result<T, Error> {
    match deadline {
        None => fut.await,
        Some(d) => match tulip_reactor::timeout_at(d, fut).await {
            Ok(r) => r,
            Err(_) => Err(Error::timeout("request exceeded its total timeout")),
        },
    }
}

/// The deadline for the next read: the read timeout from now, capped by the total deadline;
/// `None` when neither is set.
pub(crate) fn read_deadline(read: Option<Duration>, total: Option<Instant>) -> Option<Instant> {
    let r = read.map(|d| Instant::now() + d);
    match (r, total) {
        (Some(r), Some(t)) => Some(r.min(t)),
        (r, t) => r.or(t),
    }
}

pub(crate) async fn send(rb: RequestBuilder) -> Result<ClientResponse, Error> {
    let RequestBuilder {
        client,
        mut method,
        target,
        mut headers,
        mut query,
        body,
        timeouts,
        max_redirects,
    } = rb;
    let mut target = target?;
    let total = timeouts.total.map(|d| Instant::now() + d);
    let mut history: Vec<(StatusCode, Uri)> = Vec::new();
    let mut body = Some(body);
    loop {
        let this_body = body
            .as_ref()
            .and_then(ReqBody::replay)
            .or_else(|| body.take())
            .unwrap_or(ReqBody::Empty);
        let mut resp = until(
            total,
            exchange(
                &client, &method, &target, &headers, &query, this_body, timeouts, total,
            ),
        )
        .await
        .map_err(|e| e.at(&target.uri))?;
        let status = resp.status();
        let location = match status.as_u16() {
            301 | 302 | 303 | 307 | 308 => resp
                .headers()
                .get(header::LOCATION)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned),
            _ => None,
        };
        let Some(location) = location else {
            return Ok(resp.finish(target.uri, history));
        };
        if max_redirects == 0 {
            return Ok(resp.finish(target.uri, history));
        }
        if history.len() >= max_redirects {
            return Err(Error::new(Kind::Redirect, "redirect limit reached")
                .during(Phase::Redirect)
                .at(&target.uri));
        }
        let keep_method = matches!(status.as_u16(), 307 | 308);
        if keep_method && !body.as_ref().is_some_and(ReqBody::is_replayable) {
            // A streamed body is gone; the caller gets the redirect to act on.
            return Ok(resp.finish(target.uri, history));
        }
        let next = target
            .join(&location)
            .map_err(|e| e.during(Phase::Redirect).at(&target.uri))?;
        if !keep_method && method != Method::HEAD {
            method = Method::GET;
            body = Some(ReqBody::Empty);
            for h in [
                header::CONTENT_TYPE,
                header::CONTENT_LENGTH,
                header::TRANSFER_ENCODING,
            ] {
                headers.remove(h);
            }
        }
        if next.origin() != target.origin() {
            for h in [
                header::AUTHORIZATION,
                header::COOKIE,
                header::PROXY_AUTHORIZATION,
            ] {
                headers.remove(h);
            }
        }
        // Read a small redirect body to the end so its connection goes back to the pool.
        let _ = until(total, resp.drain(64 * 1024)).await;
        history.push((status, target.uri.clone()));
        query.clear();
        target = next;
    }
}

fn idempotent(m: &Method) -> bool {
    matches!(
        *m,
        Method::GET | Method::HEAD | Method::PUT | Method::DELETE | Method::OPTIONS | Method::TRACE
    )
}

/// A failed round trip, and whether it failed before any response byte on a reused
/// connection (the signature of a keep-alive connection the server had closed).
struct Failed {
    error: Error,
    stale: bool,
}

#[allow(clippy::too_many_arguments)]
async fn exchange(
    client: &Client,
    method: &Method,
    target: &Target,
    headers: &HeaderMap,
    query: &[(String, String)],
    body: ReqBody,
    timeouts: Timeouts,
    total: Option<Instant>,
) -> Result<ClientResponse, Error> {
    let inner = &client.inner;
    let key: Key = (target.https, target.host.clone(), target.port);
    let slot = inner.pool.slot(&key).await;
    let mut retry_body = if idempotent(method) {
        body.replay()
    } else {
        None
    };
    let mut body = Some(body);
    let mut h2_gone = 0;
    // The HTTP/2 connection in the pool was opened for this very request.
    let mut fresh_h2 = false;
    loop {
        if let Some(send) = inner.pool.h2_get(&key) {
            let uri = h2_uri(target, query)?;
            match crate::h2::client::round_trip(
                send,
                method,
                uri,
                &inner.config.default_headers,
                headers,
                &mut body,
                timeouts,
                total,
            )
            .await
            {
                Ok((head, recv)) => {
                    if !fresh_h2 {
                        inner.pool.stat(|s| s.reuses += 1);
                    }
                    let decompress = decompressor(client, &head.headers);
                    let state = BodyState::h2(
                        client.clone(),
                        key,
                        slot,
                        recv,
                        decompress,
                        timeouts.read,
                        total,
                    );
                    return Ok(ClientResponse::new(
                        head.status,
                        Version::HTTP_2,
                        head.headers,
                        state,
                    ));
                }
                // The connection is closed or going away before this request was sent.
                Err(None) => {
                    inner.pool.h2_remove(&key);
                    fresh_h2 = false;
                    h2_gone += 1;
                    if h2_gone > 2 {
                        return Err(Error::new(
                            Kind::Io,
                            "HTTP/2 connections kept closing before the request was sent",
                        ));
                    }
                    continue;
                }
                Err(Some(e)) => return Err(e),
            }
        }
        let pc = match inner.pool.checkout(&key).await {
            Some(pc) => pc,
            None => match connect(client, target, timeouts).await? {
                Connected::H1(pc) => pc,
                Connected::H2(send) => {
                    inner.pool.h2_put(key.clone(), send);
                    fresh_h2 = true;
                    continue;
                }
            },
        };
        let this_body = body.take().unwrap_or(ReqBody::Empty);
        match round_trip(
            client, pc, method, target, headers, query, this_body, timeouts, total,
        )
        .await
        {
            Ok((pc, head)) => {
                let limit = u64::MAX;
                let decoder = response_framing(method, &head, limit)
                    .map_err(|e| e.during(Phase::ReadResponseHead))?;
                let keep_alive = keeps_alive(&head)
                    && !matches!(decoder, Decoder::Eof { .. })
                    && head.status != StatusCode::SWITCHING_PROTOCOLS;
                let decompress = decompressor(client, &head.headers);
                let state = BodyState::new(
                    client.clone(),
                    key,
                    slot,
                    pc,
                    decoder,
                    decompress,
                    keep_alive,
                    timeouts.read,
                    total,
                );
                return Ok(ClientResponse::new(
                    head.status,
                    head.version,
                    head.headers,
                    state,
                ));
            }
            Err(f) if f.stale && retry_body.is_some() => {
                inner.pool.stat(|s| s.retries += 1);
                body = retry_body.take();
            }
            Err(f) => return Err(f.error),
        }
    }
}

/// A new connection: HTTP/1.1 for the pool, or HTTP/2 to share.
enum Connected {
    H1(PoolConn),
    H2(h2::client::SendRequest<Bytes>),
}

/// gzip/deflate decoding for a response, when the client asks for it.
fn decompressor(client: &Client, headers: &HeaderMap) -> Option<Decompress> {
    if !client.inner.config.decompress {
        return None;
    }
    headers
        .get(header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .and_then(Decompress::for_encoding)
}

/// The absolute URI an HTTP/2 request carries (`:scheme`, `:authority`, `:path`).
fn h2_uri(target: &Target, query: &[(String, String)]) -> Result<Uri, Error> {
    let scheme = if target.https { "https" } else { "http" };
    format!(
        "{scheme}://{}{}",
        target.host_header(),
        target.request_target(query)
    )
    .parse()
    .map_err(|_| Error::new(Kind::User, "URL not valid for an HTTP/2 request"))
}

/// The TLS connector for `https://`, offering `h2` then `http/1.1` when HTTP/2 is on and the
/// connector does not choose its own ALPN protocols.
#[cfg(feature = "tls")]
fn tls_connector(client: &Client) -> tulip_tls::TlsConnector {
    let cfg = &client.inner.config;
    let tls = cfg
        .tls
        .get_or_init(tulip_tls::TlsConnector::with_webpki_roots);
    if !cfg.http2 || !tls.config().alpn_protocols.is_empty() {
        return tls.clone();
    }
    let mut rustls = (**tls.config()).clone();
    rustls.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    tulip_tls::TlsConnector::new(std::sync::Arc::new(rustls))
}

/// Resolves, connects and (for https) runs the TLS handshake, each step under what is left of
/// the connect timeout; a failure says which step failed and for which `host:port`.
async fn connect(client: &Client, target: &Target, timeouts: Timeouts) -> Result<Connected, Error> {
    let inner = &client.inner;
    let place = target.host_port();
    let deadline = timeouts.connect.map(tulip_net::ConnectDeadline::after);
    let addrs = tulip_net::ConnectDeadline::within(
        deadline,
        tulip_net::lookup_host(&target.host, target.port),
    )
    .await
    .map_err(|e| Error::connect(e, Phase::Resolve).at(&place))?;
    let mut tcp = tulip_net::ConnectDeadline::within(
        deadline,
        tulip_net::happy_eyeballs(
            addrs,
            tulip_net::HAPPY_EYEBALLS_DELAY,
            tulip_net::TcpStream::connect,
        ),
    )
    .await
    .map_err(|e| Error::connect(e, Phase::Connect).at(&place))?;
    // The pool closes connections by dropping them: debug mode's unclosed check is not for it.
    tcp.untrack();
    let _ = tcp.set_nodelay(true);
    let transport = if target.https {
        #[cfg(feature = "tls")]
        {
            let tls = tls_connector(client);
            let stream =
                tulip_net::ConnectDeadline::within(deadline, tls.connect(&target.host, tcp))
                    .await
                    .map_err(|e| Error::connect(e, Phase::TlsHandshake).at(&place))?;
            ClientStream::Tls(Box::new(stream))
        }
        #[cfg(not(feature = "tls"))]
        {
            drop(tcp);
            return Err(
                Error::new(Kind::User, "https:// needs tulip-http's `tls` feature").at(&target.uri),
            );
        }
    } else {
        ClientStream::Plain(tcp)
    };
    inner.pool.stat(|s| s.connects += 1);
    let h2 = match &transport {
        ClientStream::Plain(_) => inner.config.http2_prior_knowledge,
        #[cfg(feature = "tls")]
        ClientStream::Tls(t) => t.alpn_protocol() == Some(b"h2"),
        #[allow(unreachable_patterns)]
        _ => false,
    };
    if h2 {
        let handshake = crate::h2::client::handshake(transport);
        return match timeouts.connect {
            Some(d) => match tulip_reactor::timeout(d, handshake).await {
                Ok(r) => r.map(Connected::H2),
                Err(_) => Err(Error::timeout("HTTP/2 handshake timed out")
                    .during(Phase::Connect)
                    .at(&place)),
            },
            None => handshake.await.map(Connected::H2),
        };
    }
    // A request write that makes no progress fails after the read timeout; none when unset.
    Ok(Connected::H1(PoolConn::new(Conn::new(
        transport,
        timeouts.read,
    ))))
}

#[allow(clippy::too_many_arguments)]
async fn round_trip(
    client: &Client,
    mut pc: PoolConn,
    method: &Method,
    target: &Target,
    headers: &HeaderMap,
    query: &[(String, String)],
    body: ReqBody,
    timeouts: Timeouts,
    total: Option<Instant>,
) -> Result<(PoolConn, crate::proto::client::ResponseHead), Failed> {
    let cfg = &client.inner.config;
    let reused = pc.reused;
    // Before any response byte, a failure on a reused connection is "stale".
    let early = |error: Error| Failed {
        error,
        stale: reused,
    };
    let late = |error: Error| Failed {
        error,
        stale: false,
    };
    let sending_early = |e: Error| early(e.during(Phase::SendRequest));
    let sending_late = |e: Error| late(e.during(Phase::SendRequest));
    let head_early = |e: Error| early(e.during(Phase::ReadResponseHead));
    let head_late = |e: Error| late(e.during(Phase::ReadResponseHead));

    let mut all = cfg.default_headers.clone();
    for name in headers.keys() {
        all.remove(name);
    }
    for (name, value) in headers {
        all.append(name.clone(), value.clone());
    }
    let mut encoder = match &body {
        ReqBody::Empty if matches!(*method, Method::POST | Method::PUT | Method::PATCH) => {
            all.insert(header::CONTENT_LENGTH, HeaderValue::from_static("0"));
            Encoder::Length(0)
        }
        ReqBody::Empty => Encoder::Length(0),
        ReqBody::Bytes(b) => {
            all.insert(header::CONTENT_LENGTH, HeaderValue::from(b.len()));
            Encoder::Length(b.len() as u64)
        }
        ReqBody::Stream(_) => {
            all.remove(header::CONTENT_LENGTH);
            all.insert(
                header::TRANSFER_ENCODING,
                HeaderValue::from_static("chunked"),
            );
            Encoder::Chunked
        }
    };
    let target_str = target.request_target(query);
    encode_request_head(
        method,
        &target_str,
        &target.host_header(),
        &all,
        pc.conn.wb.vec(),
    );

    match body {
        ReqBody::Empty => {}
        ReqBody::Bytes(b) => encoder.encode(b, &mut pc.conn.wb).map_err(sending_late)?,
        ReqBody::Stream(mut s) => {
            flush(&mut pc.conn).await.map_err(sending_early)?;
            while let Some(chunk) = s.next().await {
                let chunk = chunk.map_err(|e| {
                    sending_late(
                        Error::new(Kind::Io, "the request body stream failed").with_cause(e),
                    )
                })?;
                encoder
                    .encode(chunk, &mut pc.conn.wb)
                    .map_err(sending_late)?;
                flush(&mut pc.conn).await.map_err(sending_late)?;
            }
            encoder.finish(&mut pc.conn.wb).map_err(sending_late)?;
        }
    }
    flush(&mut pc.conn).await.map_err(sending_early)?;

    // Read the head, skipping interim 1xx responses (but not 101).
    loop {
        match parse_response(pc.conn.rb.bytes(), cfg.max_head) {
            Ok(Some(head)) => {
                pc.conn.rb.advance(head.len);
                if head.status.is_informational() && head.status != StatusCode::SWITCHING_PROTOCOLS
                {
                    continue;
                }
                return Ok((pc, head));
            }
            Ok(None) => {}
            Err(e) => return Err(head_late(e)),
        }
        let got_any = !pc.conn.rb.is_empty();
        let deadline = read_deadline(timeouts.read, total);
        let conn = &mut pc.conn;
        match future::poll_fn(|cx| conn.poll_read_more(cx, deadline)).await {
            Ok(0) if got_any => {
                return Err(head_late(Error::incomplete(
                    "connection closed inside the response head",
                )));
            }
            Ok(0) => {
                return Err(head_early(Error::incomplete(
                    "connection closed before the response",
                )));
            }
            Ok(_) => {}
            Err(e) if e.is_timeout() => return Err(head_late(e)),
            Err(e) if got_any => return Err(head_late(e)),
            Err(e) => return Err(head_early(e)),
        }
    }
}

async fn flush(conn: &mut Conn<ClientStream>) -> Result<(), Error> {
    future::poll_fn(|cx| conn.poll_flush(cx)).await
}

#[allow(dead_code)]
fn _assert_send() {
    fn is_send<T: Send>(_: &T) {}
    let c = Client::new();
    is_send(&c.get("http://x/").send());
    is_send(&Bytes::new());
}
