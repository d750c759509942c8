//! STARTTLS: upgrading a live plain connection to TLS (asyncio's `StreamWriter.start_tls`
//! and `loop.start_tls`), for line protocols such as SMTP, IMAP and XMPP that negotiate
//! encryption in the clear first. Enabled by the `tls` feature.

use std::fmt;
use std::io;

use futures_lite::io::{AsyncRead, AsyncWrite};
use tulip_tls::{TlsAcceptor, TlsConnector, TlsStream};

use crate::split::OwnedWriteHalf;
use crate::stream::{StreamReader, StreamWriter, TlsStreamReader, TlsStreamWriter};
use crate::{OwnedReadHalf, TcpStream};

/// Which side of the handshake to run, and with what configuration.
#[derive(Clone)]
pub enum StartTls {
    /// The client side: `server_name` is sent as SNI and checked against the certificate.
    Client {
        /// The client configuration (roots, ALPN, handshake timeout).
        connector: TlsConnector,
        /// The name the server's certificate must carry.
        server_name: String,
    },
    /// The server side.
    Server(TlsAcceptor),
}

impl StartTls {
    /// The client side of the handshake, checking the server's certificate for `server_name`.
    pub fn client(connector: TlsConnector, server_name: impl Into<String>) -> StartTls {
        StartTls::Client {
            connector,
            server_name: server_name.into(),
        }
    }

    /// The server side of the handshake.
    pub fn server(acceptor: TlsAcceptor) -> StartTls {
        StartTls::Server(acceptor)
    }

    /// Runs the handshake over `io` (under the connector's or acceptor's timeout).
    pub(crate) async fn handshake<IO>(&self, io: IO) -> io::Result<TlsStream<IO>>
    where
        IO: AsyncRead + AsyncWrite + Unpin,
    {
        match self {
            StartTls::Client {
                connector,
                server_name,
            } => connector.connect(server_name, io).await,
            StartTls::Server(acceptor) => acceptor.accept(io).await,
        }
    }
}

impl fmt::Debug for StartTls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StartTls::Client { server_name, .. } => f
                .debug_struct("StartTls::Client")
                .field("server_name", server_name)
                .finish_non_exhaustive(),
            StartTls::Server(_) => f.debug_struct("StartTls::Server").finish_non_exhaustive(),
        }
    }
}

/// The error for plaintext that arrived after the upgrade was agreed and before the
/// handshake: it cannot be TLS the peer sent in reply, so it is either a peer that did not
/// wait or an injection attempt (CVE-2011-0411); RFC 3207 says to discard it.
pub(crate) fn pipelined_plaintext(n: usize) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!(
            "{n} bytes of plaintext arrived after STARTTLS and before the TLS handshake; \
             refusing to upgrade (the peer must wait for the go-ahead before its handshake)"
        ),
    )
}

impl StreamWriter<OwnedWriteHalf<TcpStream>> {
    /// Upgrades this connection to TLS (asyncio's `StreamWriter.start_tls`, 3.11): writes out
    /// the queue, runs the handshake as `tls` says, and returns the TLS reader and writer,
    /// which keep the reader's limit, the writer's water marks and the peer address.
    ///
    /// Rust cannot change the pair's type in place, so both halves go in and a TLS pair comes
    /// out. Call it once the protocol agreed (SMTP: after `220 Ready to start TLS`).
    ///
    /// # Errors
    ///
    /// A write error while draining; `InvalidData` when the reader holds bytes that arrived
    /// after the go-ahead (a peer that did not wait, or an injection attempt: RFC 3207 says to
    /// discard them, and the upgrade refuses); `InvalidInput` for halves of two different
    /// connections; and the handshake's errors (`InvalidData` with rustls's reason,
    /// `TimedOut`, `UnexpectedEof`).
    ///
    /// # Cancel safety
    ///
    /// Not cancel-safe: the halves moved into the future, and a handshake dropped half way
    /// leaves no usable connection.
    ///
    /// # Examples
    ///
    /// See the `starttls` example and chapter 5 of the guide.
    pub async fn start_tls(
        mut self,
        reader: StreamReader<OwnedReadHalf<TcpStream>>,
        tls: StartTls,
    ) -> io::Result<(TlsStreamReader, TlsStreamWriter)> {
        self.drain().await?;
        if !reader.buffer().is_empty() {
            return Err(pipelined_plaintext(reader.buffer().len()));
        }
        let limit = reader.limit();
        let (w, peer, high, low) = self.into_parts();
        let tcp = reader.into_inner().reunite(w).map_err(|_| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                "start_tls: the reader and the writer belong to different connections",
            )
        })?;
        let (r, w) = tls.handshake(tcp).await?.split();
        let mut writer = StreamWriter::new(w).with_peer(peer);
        writer.set_write_buffer_limits(high, Some(low));
        Ok((StreamReader::with_limit(r, limit), writer))
    }
}
