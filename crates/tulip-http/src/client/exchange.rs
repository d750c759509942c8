//! One request, end to end: redirects around retries around a single round trip.

use std::borrow::Cow;
use std::time::Instant;

use bytes::Bytes;
use futures_lite::{StreamExt, future};
use http::header::{self, HeaderMap, HeaderValue};
use http::{Method, StatusCode, Uri, Version};

use super::body::{Decompress, ReqBody};
use super::connector::{Connected, connect};
use super::pool::{ClientStream, PoolConn};
use super::proxy::{RequestProxy, route_for};
use super::request::RequestBuilder;
use super::response::{BodyState, ClientResponse};
use super::timeout::label_read;
pub(crate) use super::timeout::{read_deadline, until};
use super::url::Target;
use super::{Client, ClientTimeout as Timeouts, CookieJar};
use crate::error::{Error, Kind, Phase, TimeoutKind};
use crate::proto::client::{
    HeadExtras, Seen, encode_request_head, keeps_alive, response_framing, take_response,
};
use crate::proto::conn::Conn;
use crate::proto::decode::Decoder;
use crate::proto::encode::Encoder;

/// Takes the builder apart and builds the request's future from the parts. An `async` block,
/// not an `async fn`: an `async fn` moves each argument from the future's captures into a local
/// of its own at the first poll, so the future would hold every part twice (~600 bytes) and
/// copy them once more per request. The block uses its captures in place.
pub(crate) fn send(
    rb: RequestBuilder,
) -> impl std::future::Future<Output = Result<ClientResponse, Error>> + Send {
    let RequestBuilder {
        client,
        mut method,
        mut target,
        mut headers,
        mut query,
        body,
        timeouts,
        max_redirects,
        proxy,
        auth,
        cookies,
        raise_for_status,
    } = rb;
    let mut body = Some(body);
    async move {
        // Borrowed, not moved out: the target lives in the future's captures only.
        let target = match &mut target {
            Ok(t) => t,
            Err(_) => return Err(target.expect_err("matched as an error")),
        };
        let total = timeouts.total.map(|d| Instant::now() + d);
        let cfg = &client.inner.config;
        // Credentials: an explicit Authorization header, else the request's, else the URL's,
        // else the client's.
        if auth.is_some() && target.auth.is_some() {
            return Err(Error::new(
                Kind::User,
                "credentials both in the URL and given with auth(); pick one",
            )
            .at(&target.uri));
        }
        if !headers.contains_key(header::AUTHORIZATION) {
            let chosen = auth.as_ref().or(target.auth.as_ref()).or(cfg.auth.as_ref());
            if let Some(a) = chosen {
                let v = a.header_value().map_err(|e| e.at(&target.uri))?;
                headers.insert(header::AUTHORIZATION, v);
            }
        }
        // This request's own cookies (Cookie headers and `cookie()` pairs), on one line with the
        // jar's; dropped, like Authorization, once a redirect leaves the origin.
        let mut own_cookies = own_cookie_line(&mut headers, &cookies);
        let jar = &cfg.cookie_jar;
        let mut history: Vec<(StatusCode, Uri)> = Vec::new();
        loop {
            cookie_header(&mut headers, jar, target, own_cookies.as_deref());
            let this_body = body
                .as_ref()
                .and_then(ReqBody::replay)
                .or_else(|| body.take())
                .unwrap_or(ReqBody::Empty);
            let mut resp = until(
                total,
                exchange(
                    &client, &method, target, &headers, &query, this_body, timeouts, total, &proxy,
                ),
            )
            .await
            .map_err(|e| e.at(&target.uri))?;
            jar.store_response(&target.host, target.uri.path(), resp.headers());
            let status = resp.status();
            let location = match status.as_u16() {
                301 | 302 | 303 | 307 | 308 => resp
                    .headers()
                    .get(header::LOCATION)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned),
                _ => None,
            };
            let Some(location) = location.filter(|_| max_redirects > 0) else {
                // The common end: no future for the check, so the response is not moved into one
                // and out again.
                resp.finish(std::mem::take(&mut target.uri), history);
                if passes(&resp, raise_for_status) {
                    return Ok(resp);
                }
                // Boxed, like the redirect's drain below: rare, and as large as the exchange.
                return Err(Box::pin(status_error(resp, total)).await);
            };
            if history.len() >= max_redirects {
                return Err(Error::new(Kind::Redirect, "redirect limit reached")
                    .during(Phase::Redirect)
                    .at(&target.uri));
            }
            let keep_method = matches!(status.as_u16(), 307 | 308);
            if keep_method && !body.as_ref().is_some_and(ReqBody::is_replayable) {
                // A streamed body is gone; the caller gets the redirect to act on.
                resp.finish(std::mem::take(&mut target.uri), history);
                if passes(&resp, raise_for_status) {
                    return Ok(resp);
                }
                return Err(Box::pin(status_error(resp, total)).await);
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
                own_cookies = None;
            }
            // Credentials written into the Location itself are meant for it.
            if let Some(a) = &next.auth {
                if !headers.contains_key(header::AUTHORIZATION) {
                    let v = a.header_value().map_err(|e| e.at(&next.uri))?;
                    headers.insert(header::AUTHORIZATION, v);
                }
            }
            // Read a small redirect body to the end so its connection goes back to the pool.
            // Boxed: only a redirect pays for this future, which would otherwise double the size
            // of every request's.
            let _ = Box::pin(until(total, resp.drain(64 * 1024))).await;
            query.clear();
            let left = std::mem::replace(target, next);
            history.push((status, left.uri));
        }
    }
}

/// Takes the `Cookie` headers out of `headers` and joins them with the request's own
/// cookies into one line.
fn own_cookie_line(headers: &mut HeaderMap, cookies: &[(String, String)]) -> Option<String> {
    let mut line = String::new();
    for v in headers.get_all(header::COOKIE) {
        if let Ok(v) = v.to_str() {
            if !line.is_empty() {
                line.push_str("; ");
            }
            line.push_str(v);
        }
    }
    headers.remove(header::COOKIE);
    for (name, value) in cookies {
        if !line.is_empty() {
            line.push_str("; ");
        }
        line.push_str(name);
        line.push('=');
        line.push_str(value);
    }
    (!line.is_empty()).then_some(line)
}

/// Sets the `Cookie` header of one hop: the request's own cookies, then the jar's for this
/// URL (one header line, as RFC 6265 §5.4 asks).
fn cookie_header(headers: &mut HeaderMap, jar: &CookieJar, target: &Target, own: Option<&str>) {
    let from_jar = jar.header_for(&target.host, target.uri.path(), target.https);
    let line = match (own, from_jar) {
        (None, None) => {
            headers.remove(header::COOKIE);
            return;
        }
        (Some(o), None) => o.to_owned(),
        (None, Some(j)) => j,
        (Some(o), Some(j)) => format!("{o}; {j}"),
    };
    match HeaderValue::try_from(line) {
        Ok(v) => {
            headers.insert(header::COOKIE, v);
        }
        Err(_) => {
            // A cookie with bytes a header cannot carry came in through `cookie()`: the
            // header is left out rather than sent broken.
            headers.remove(header::COOKIE);
        }
    }
}

/// Whether `resp` is final as it is: not a 4xx or 5xx that the request asked to raise for.
fn passes(resp: &ClientResponse, raise_for_status: bool) -> bool {
    !raise_for_status || resp.status().as_u16() < 400
}

/// The status error of a response that did not pass. Its body is read (up to 64 KiB) so the
/// connection goes back to the pool.
async fn status_error(mut resp: ClientResponse, total: Option<Instant>) -> Error {
    let err = resp.status_error();
    let _ = until(total, resp.drain(64 * 1024)).await;
    err
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
    proxy: &RequestProxy,
) -> Result<ClientResponse, Error> {
    let inner = &client.inner;
    // Chosen per hop: a redirect to a host in NO_PROXY leaves the proxy behind.
    let route = route_for(client, proxy, target);
    let key = inner
        .pool
        .key(target.https, &target.host, target.port, route.key());
    // `connect` covers the wait for a pool slot and the opening of a new connection.
    let connect_deadline = timeouts.connect.map(|d| Instant::now() + d);
    let slot = match connect_deadline {
        None => inner.pool.slot(&key).await,
        Some(at) => tulip_reactor::timeout_at(at, inner.pool.slot(&key))
            .await
            .map_err(|_| {
                Error::timeout("no pool slot within the connect timeout")
                    .with_timeout_kind(TimeoutKind::Connect)
                    .at(target.host_port())
            })?,
    };
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
        if matches!(body, Some(ReqBody::Form(_))) {
            let form = body.take().unwrap_or(ReqBody::Empty);
            body = Some(form.prepare().await?);
        }
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
                        timeouts.sock_read,
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
            // Boxed: opening a connection (resolution, proxy tunnel, TLS handshake) has by
            // far the largest future of a request, and a pooled connection never needs it.
            None => {
                match Box::pin(connect(client, target, &route, timeouts, connect_deadline)).await? {
                    Connected::H1(pc) => pc,
                    Connected::H2(send) => {
                        inner.pool.h2_put(key.clone(), send);
                        fresh_h2 = true;
                        continue;
                    }
                }
            }
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
                // The head says whether it has a Content-Encoding to look up.
                let decompress = if head.seen.has(Seen::CONTENT_ENCODING) {
                    decompressor(client, &head.headers)
                } else {
                    None
                };
                let state = BodyState::new(
                    client.clone(),
                    key,
                    slot,
                    pc,
                    decoder,
                    decompress,
                    keep_alive,
                    timeouts.sock_read,
                    total,
                );
                let mut resp = ClientResponse::new(head.status, head.version, head.headers, state);
                resp.set_reason(head.reason);
                return Ok(resp);
            }
            Err(f) if f.stale && retry_body.is_some() => {
                inner.pool.stat(|s| s.retries += 1);
                body = retry_body.take();
            }
            Err(f) => return Err(f.error),
        }
    }
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

#[allow(clippy::too_many_arguments)]
async fn round_trip(
    client: &Client,
    mut pc: Box<PoolConn>,
    method: &Method,
    target: &Target,
    headers: &HeaderMap,
    query: &[(String, String)],
    body: ReqBody,
    timeouts: Timeouts,
    total: Option<Instant>,
) -> Result<(Box<PoolConn>, crate::proto::client::ResponseHead), Failed> {
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
    let sending_early = |e: Error| early(label_read(e, total).during(Phase::SendRequest));
    let sending_late = |e: Error| late(label_read(e, total).during(Phase::SendRequest));
    let head_early = |e: Error| early(label_read(e, total).during(Phase::ReadResponseHead));
    let head_late = |e: Error| late(label_read(e, total).during(Phase::ReadResponseHead));

    let mut extras = HeadExtras::default();
    let mut encoder = match &body {
        ReqBody::Empty if matches!(*method, Method::POST | Method::PUT | Method::PATCH) => {
            extras.content_length = Some(0);
            Encoder::Length(0)
        }
        ReqBody::Empty => Encoder::Length(0),
        ReqBody::Bytes(b) => {
            extras.content_length = Some(b.len() as u64);
            Encoder::Length(b.len() as u64)
        }
        ReqBody::Stream(_) => {
            extras.chunked = true;
            Encoder::Chunked
        }
        ReqBody::Sized(n, _) => {
            extras.no_transfer_encoding = true;
            extras.content_length = Some(*n);
            Encoder::Length(*n)
        }
        // `exchange` prepares forms before they reach a connection.
        ReqBody::Form(_) => {
            return Err(late(Error::new(
                Kind::User,
                "a multipart form reached the connection unprepared",
            )));
        }
    };
    let host = target.host_header();
    let target_str = match &pc.forward {
        // To a forward proxy: the absolute URL, and the proxy's credentials.
        Some(auth) => {
            extras.proxy_authorization = auth.as_ref();
            Cow::Owned(format!("http://{host}{}", target.request_target(query)))
        }
        None => target.request_target(query),
    };
    encode_request_head(
        method,
        &target_str,
        &host,
        &cfg.default_headers,
        headers,
        &extras,
        pc.conn.wb.vec(),
    );

    match body {
        ReqBody::Empty | ReqBody::Form(_) => {}
        ReqBody::Bytes(b) => encoder.encode(b, &mut pc.conn.wb).map_err(sending_late)?,
        ReqBody::Stream(mut s) | ReqBody::Sized(_, mut s) => {
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
        // Nothing to parse yet on a fresh exchange: read first.
        let parsed = if pc.conn.rb.is_empty() {
            Ok(None)
        } else {
            take_response(&mut pc.conn.rb, cfg.max_head)
        };
        match parsed {
            Ok(Some(head)) => {
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
        let deadline = read_deadline(timeouts.sock_read, total);
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

#[cfg(test)]
mod tests {
    /// A request's future is moved a few times before it is first polled (into the caller's
    /// future, into a task), so its size is paid per request. It was 17 KiB while it held
    /// the connection opener inline and `until` held its future twice, and 3,376 bytes
    /// while `send` was an `async fn` holding each of its arguments twice.
    #[test]
    fn request_future_stays_small() {
        let c = crate::Client::new();
        let f = c.get("http://127.0.0.1:1/").send();
        let size = std::mem::size_of_val(&f);
        assert!(size <= 3 * 1024, "the request future is {size} bytes");
    }

    /// A response is moved about five times on its way out of `send` (out of the exchange,
    /// through the timeout, into the caller's variable). It was 888 bytes while it held its
    /// pooled connection and a gzip decoder's state inline, and those copies were 12% of the
    /// client's instructions per request; both are boxed now.
    #[test]
    fn response_stays_small() {
        let size = std::mem::size_of::<crate::ClientResponse>();
        assert!(size <= 512, "a ClientResponse is {size} bytes");
    }
}
