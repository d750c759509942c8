//! `tracing` spans of the server (feature `tracing`): `http.connection` (field `peer`) around a
//! connection's task, `http.request` (fields `http.method`, `http.path`, `http.status`,
//! `http.duration_us`) around each HTTP/1.1 request, its handler included. Without the feature
//! every function here is a no-op the compiler removes.

use std::future::Future;
use std::net::SocketAddr;
#[cfg(feature = "tracing")]
use std::time::Instant;

#[cfg(feature = "tracing")]
use http::Method;
use http::StatusCode;

/// A span, or nothing without the feature.
#[cfg(feature = "tracing")]
pub(crate) type Span = tracing::Span;
/// A span, or nothing without the feature.
#[cfg(not(feature = "tracing"))]
#[derive(Clone)]
pub(crate) struct Span;

/// A future running in a span, or the future itself without the feature.
#[cfg(feature = "tracing")]
pub(crate) type InSpan<F> = tracing::instrument::Instrumented<F>;
/// A future running in a span, or the future itself without the feature.
#[cfg(not(feature = "tracing"))]
pub(crate) type InSpan<F> = F;

/// The span of one served connection.
#[cfg(feature = "tracing")]
pub(crate) fn connection(peer: Option<SocketAddr>) -> Span {
    match peer {
        Some(p) => tracing::info_span!(target: "tulip_http::server", "http.connection", peer = %p),
        None => tracing::info_span!(target: "tulip_http::server", "http.connection", peer = "unix"),
    }
}

/// The span of one request; status and duration are recorded when the response is written.
#[cfg(feature = "tracing")]
pub(crate) fn request(method: &Method, path: &str) -> Span {
    tracing::info_span!(
        target: "tulip_http::server",
        "http.request",
        http.method = %method,
        http.path = path,
        http.status = tracing::field::Empty,
        http.duration_us = tracing::field::Empty,
    )
}

/// Runs `fut` inside `span` (entered around every poll).
#[cfg(feature = "tracing")]
pub(crate) fn instrument<F: Future>(fut: F, span: &Span) -> InSpan<F> {
    tracing::Instrument::instrument(fut, span.clone())
}

/// Records the response status on the current request span.
#[cfg(feature = "tracing")]
pub(crate) fn record_status(status: StatusCode) {
    tracing::Span::current().record("http.status", status.as_u16());
}

/// Records how long the request took, head read to response written.
#[cfg(feature = "tracing")]
pub(crate) fn record_duration(span: &Span, started: Instant) {
    let us = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
    span.record("http.duration_us", us);
}

#[cfg(not(feature = "tracing"))]
#[inline(always)]
pub(crate) fn connection(_peer: Option<SocketAddr>) -> Span {
    Span
}

#[cfg(not(feature = "tracing"))]
#[inline(always)]
pub(crate) fn instrument<F: Future>(fut: F, _span: &Span) -> InSpan<F> {
    fut
}

#[cfg(not(feature = "tracing"))]
#[inline(always)]
pub(crate) fn record_status(_status: StatusCode) {}
