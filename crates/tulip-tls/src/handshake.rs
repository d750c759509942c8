//! The handshake driver shared by both sides, its timeout, and the crypto provider.

use std::future::poll_fn;
use std::io;
use std::sync::Arc;
use std::time::Duration;

use futures_lite::io::{AsyncRead, AsyncWrite};
use rustls::crypto::CryptoProvider;

use crate::stream::TlsStream;

/// How long a handshake may take unless configured otherwise: long enough for a slow network,
/// short enough that a peer that never speaks cannot hold a server's connection slot for long.
pub const DEFAULT_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// The crypto provider every configuration built here uses: rustls's `ring` backend, which
/// compiles with the system C compiler alone (no cmake, no Go, no NASM, unlike aws-lc-rs).
pub(crate) fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A rustls configuration error as an `io::Error`.
pub(crate) fn tls_error(e: rustls::Error) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, e)
}

/// Runs the handshake to its end, under `limit` when given.
pub(crate) async fn handshake<IO>(
    mut stream: TlsStream<IO>,
    limit: Option<Duration>,
) -> io::Result<TlsStream<IO>>
where
    IO: AsyncRead + AsyncWrite + Unpin,
{
    {
        // Every failure, the transport's included, says it happened in the handshake.
        let drive = poll_fn(|cx| stream.poll_handshake(cx).map_err(handshake_error));
        match limit {
            None => drive.await?,
            Some(limit) => match tulip_reactor::timeout(limit, drive).await {
                Ok(result) => result?,
                Err(_elapsed) => {
                    return Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        format!("TLS handshake timed out after {limit:?}"),
                    ));
                }
            },
        }
    }
    Ok(stream)
}

fn handshake_error(e: io::Error) -> io::Error {
    io::Error::new(e.kind(), HandshakeFailed(e))
}

/// Says that an I/O error happened in the handshake, and keeps that error (with rustls's
/// error inside, for a protocol or certificate failure) as its source.
#[derive(Debug)]
struct HandshakeFailed(io::Error);

impl std::fmt::Display for HandshakeFailed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "TLS handshake failed: {}", self.0)
    }
}

impl std::error::Error for HandshakeFailed {
    /// rustls's error itself when it failed the handshake (so a walk over `source()` finds
    /// it), else the transport's error.
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self.0.get_ref() {
            Some(inner) if inner.is::<rustls::Error>() => Some(inner),
            _ => Some(&self.0),
        }
    }
}
