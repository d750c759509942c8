//! `MaybeTlsStream`: the connection a URL client holds, plain TCP or TLS over TCP.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_lite::io::{AsyncRead, AsyncWrite};

use crate::TcpStream;

/// A TCP connection that is either plain or TLS: what a client that dials `http://` and
/// `https://` (or `ws://` and `wss://`) URLs holds. The TLS variant exists with the `tls`
/// feature; the enum is `#[non_exhaustive]`, so a `match` outside this crate keeps compiling
/// whichever features are on (use [`tcp`](MaybeTlsStream::tcp) and
/// [`is_tls`](MaybeTlsStream::is_tls) where they suffice).
///
/// # Examples
///
/// ```
/// use tulip_net::{MaybeTlsStream, TcpListener, TcpStream};
///
/// tulip_executor::run(async {
///     let listener = TcpListener::bind(([127, 0, 0, 1], 0).into()).await?;
///     let tcp = TcpStream::connect(listener.local_addr()?).await?;
///     let conn = MaybeTlsStream::Plain(tcp);
///     assert!(!conn.is_tls());
///     assert_eq!(conn.tcp().peer_addr()?, listener.local_addr()?);
///     Ok::<_, std::io::Error>(())
/// })?;
/// # Ok::<_, std::io::Error>(())
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum MaybeTlsStream {
    /// Plain TCP.
    Plain(TcpStream),
    /// TLS over TCP (boxed: a TLS session is large).
    #[cfg(feature = "tls")]
    Tls(Box<tulip_tls::TlsStream<TcpStream>>),
}

impl MaybeTlsStream {
    /// The TCP connection underneath (for addresses and socket options).
    pub fn tcp(&self) -> &TcpStream {
        match self {
            MaybeTlsStream::Plain(s) => s,
            #[cfg(feature = "tls")]
            MaybeTlsStream::Tls(s) => s.get_ref(),
        }
    }

    /// Whether the connection is encrypted.
    pub fn is_tls(&self) -> bool {
        !matches!(self, MaybeTlsStream::Plain(_))
    }
}

/// Forwards a poll method to whichever stream `self` holds.
macro_rules! forward {
    ($this:expr, |$s:ident| $call:expr) => {
        match $this.get_mut() {
            MaybeTlsStream::Plain($s) => {
                let $s = Pin::new($s);
                $call
            }
            #[cfg(feature = "tls")]
            MaybeTlsStream::Tls($s) => {
                let $s = Pin::new(&mut **$s);
                $call
            }
        }
    };
}

impl AsyncRead for MaybeTlsStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        forward!(self, |s| s.poll_read(cx, buf))
    }
}

impl AsyncWrite for MaybeTlsStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        forward!(self, |s| s.poll_write(cx, buf))
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        forward!(self, |s| s.poll_write_vectored(cx, bufs))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        forward!(self, |s| s.poll_flush(cx))
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        forward!(self, |s| s.poll_close(cx))
    }
}
