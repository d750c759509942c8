//! [`ClientTimeout`] (aiohttp's `ClientTimeout`) and the deadlines a request derives from it.

use std::future::Future;
use std::time::{Duration, Instant};

use crate::error::{Error, TimeoutKind};

/// The client's timeouts, in the shape of aiohttp's `ClientTimeout`. `None` disables one.
///
/// | field | bounds | default |
/// |---|---|---|
/// | `total` | the whole request: connecting, redirects, sending, and reading the body to its end | 300 s |
/// | `connect` | getting a connection: waiting for a pool slot (`limit`, `limit_per_host`), then DNS, TCP connect and TLS handshake of a new one | 30 s |
/// | `sock_connect` | the TCP connect and TLS handshake of a new connection (with DNS and a proxy tunnel; no pool wait) | none |
/// | `sock_read` | the longest wait for the next bytes from the server; it also bounds a request write that makes no progress | 60 s |
///
/// Set them per client ([`ClientBuilder::timeout`](crate::ClientBuilder::timeout)) or per
/// request ([`RequestBuilder::timeouts`](crate::RequestBuilder::timeouts)). A timeout error
/// is [`Error::is_timeout`] and says which one fired ([`Error::timeout_kind`]).
///
/// Unlike aiohttp (whose only defaults are `total` and `sock_connect`), a stalled read fails
/// after a minute without waiting for `total`.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use tulip_http::{Client, ClientTimeout};
///
/// let client = Client::builder()
///     .timeout(ClientTimeout {
///         total: Some(Duration::from_secs(30)),
///         sock_read: Some(Duration::from_secs(5)),
///         ..ClientTimeout::default()
///     })
///     .build();
/// # drop(client);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientTimeout {
    /// The whole request, from the first connect to the last body byte.
    pub total: Option<Duration>,
    /// A pool slot plus DNS, TCP connect and TLS handshake.
    pub connect: Option<Duration>,
    /// TCP connect plus TLS handshake of a new connection.
    pub sock_connect: Option<Duration>,
    /// The next bytes from the server (and progress of each write).
    pub sock_read: Option<Duration>,
}

impl Default for ClientTimeout {
    fn default() -> ClientTimeout {
        ClientTimeout {
            total: Some(Duration::from_secs(300)),
            connect: Some(Duration::from_secs(30)),
            sock_connect: None,
            sock_read: Some(Duration::from_secs(60)),
        }
    }
}

impl ClientTimeout {
    /// No timeout at all (aiohttp's `ClientTimeout()` with every field `None`).
    pub const NONE: ClientTimeout = ClientTimeout {
        total: None,
        connect: None,
        sock_connect: None,
        sock_read: None,
    };
}

/// Runs `fut` until the total deadline, if any; the error says the total timeout fired.
///
/// A plain function around `or`, not an `async fn`: an `async fn` keeps `fut` both as its
/// argument and as the awaited value, so the future it returns was twice the size of `fut`
/// (and a request's future is moved a few times on its way to being polled). `fut` is
/// polled first: a result ready at the deadline wins.
pub(crate) fn until<T>(
    deadline: Option<Instant>,
    fut: impl Future<Output = Result<T, Error>>,
) -> impl Future<Output = Result<T, Error>> {
    let timer = deadline.map_or_else(tulip_reactor::Timer::never, tulip_reactor::Timer::at);
    futures_lite::future::or(fut, async move {
        timer.await;
        Err(Error::client_timeout(TimeoutKind::Total))
    })
}

/// The deadline for the next read: the `sock_read` timeout from now, capped by the total
/// deadline; `None` when neither is set.
pub(crate) fn read_deadline(read: Option<Duration>, total: Option<Instant>) -> Option<Instant> {
    let r = read.map(|d| Instant::now() + d);
    match (r, total) {
        (Some(r), Some(t)) => Some(r.min(t)),
        (r, t) => r.or(t),
    }
}

/// Names the timeout behind a read or write that hit a [`read_deadline`]: the total one once
/// it has passed, else `sock_read`.
pub(crate) fn label_read(e: Error, total: Option<Instant>) -> Error {
    if !e.is_timeout() {
        return e;
    }
    let which = if total.is_some_and(|t| Instant::now() >= t) {
        TimeoutKind::Total
    } else {
        TimeoutKind::SockRead
    };
    e.with_timeout_kind(which)
}

/// The earlier of two optional deadlines, and whether the second one is it.
pub(crate) fn earlier(a: Option<Instant>, b: Option<Instant>) -> (Option<Instant>, bool) {
    match (a, b) {
        (Some(a), Some(b)) if b < a => (Some(b), true),
        (Some(a), _) => (Some(a), false),
        (None, b) => (b, b.is_some()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_say_which_deadline_passed() {
        let past = Some(Instant::now() - Duration::from_millis(1));
        let future = Some(Instant::now() + Duration::from_secs(60));
        let t = || Error::timeout("read timed out");
        assert_eq!(
            label_read(t(), past).timeout_kind(),
            Some(TimeoutKind::Total)
        );
        assert_eq!(
            label_read(t(), future).timeout_kind(),
            Some(TimeoutKind::SockRead)
        );
        assert_eq!(
            label_read(t(), None).timeout_kind(),
            Some(TimeoutKind::SockRead)
        );
        let e = label_read(t(), None);
        assert!(e.to_string().contains("sock_read"), "{e}");
        // A label once given stays.
        assert_eq!(
            label_read(Error::client_timeout(TimeoutKind::Connect), past).timeout_kind(),
            Some(TimeoutKind::Connect)
        );
        let (a, b) = (past, future);
        assert_eq!(earlier(a, b), (a, false));
        assert_eq!(earlier(b, a), (a, true));
        assert_eq!(earlier(None, a), (a, true));
        assert_eq!(earlier(None, None), (None, false));
    }
}
