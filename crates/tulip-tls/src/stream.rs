//! [`TlsStream`]: a rustls connection driven over an `AsyncRead + AsyncWrite` transport.
//!
//! The stream owns three things: the transport, the rustls [`Connection`], and a receive buffer
//! that ciphertext is read into before rustls sees it. The receive buffer exists because rustls
//! reads at most 4 KiB from a transport per `read_tls` call; a TCP socket then costs four system
//! calls per 16 KiB record. Reading up to [`RECV_BUF_LEN`] bytes per call and handing rustls
//! slices of it costs one memory copy and saves most of those calls (see `docs/BENCHMARKS.md`).
//! The buffer starts at [`RECV_BUF_START`], enough for a handshake flight with a usual
//! certificate chain, and grows to [`RECV_BUF_LEN`] the first time a read fills it: a
//! handshake, or a connection that only ever exchanges small messages, then zeroes and holds
//! 8 KiB instead of 32 KiB (two of them per handshake on loopback, both sides).
//!
//! Writes go the other way without an extra buffer: rustls encrypts plaintext into its own record
//! queue and `write_tls` hands the whole queue to the transport in one vectored write, so records
//! that pile up while the transport is full leave in one batch.

use std::fmt;
use std::io::{self, BufRead, Read, Write};
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use futures_lite::io::{AsyncBufRead, AsyncRead, AsyncWrite};
use rustls::pki_types::CertificateDer;
use rustls::{Connection, ProtocolVersion, SupportedCipherSuite};

/// Bytes of ciphertext read from the transport per read call, once a read has filled the
/// first, smaller buffer: two full TLS records.
pub(crate) const RECV_BUF_LEN: usize = 32 * 1024;

/// The receive buffer's first size: a ClientHello, or a server's whole first flight with a
/// certificate chain of a few KiB, fits in one read.
pub(crate) const RECV_BUF_START: usize = 8 * 1024;

/// A TLS connection over a transport `IO`, for either side.
///
/// It implements [`AsyncRead`], [`AsyncBufRead`] (lines and delimiters straight out of rustls's
/// plaintext buffer, no `BufReader` needed) and [`AsyncWrite`] over the plaintext. Made by
/// [`TlsConnector::connect`](crate::TlsConnector::connect) or
/// [`TlsAcceptor::accept`](crate::TlsAcceptor::accept) once the handshake has finished.
///
/// # Closing
///
/// [`poll_close`](AsyncWrite::poll_close) (`AsyncWriteExt::close`) sends the TLS `close_notify`
/// alert, flushes it, then closes the transport with its own `poll_close`. Like asyncio's
/// `write_eof`, it ends only the writing direction: reading keeps working until the peer closes
/// too. The alert is the end-of-stream signal TLS peers look for; a transport whose `poll_close`
/// only flushes (as `tulip_reactor::Async<TcpStream>`'s does) keeps the TCP connection open,
/// and `get_ref().get_ref().shutdown(Shutdown::Write)` sends a FIN as well.
///
/// Dropping the stream without closing it sends nothing, so the peer sees an unclean end of
/// stream; reads report that case as an error of kind `UnexpectedEof`, and a clean
/// `close_notify` as `Ok(0)`.
///
/// # Cancel safety
///
/// The `poll_*` methods keep all state in the stream, so dropping a read or write future
/// (`AsyncReadExt::read`, `AsyncWriteExt::write`) loses nothing: bytes a read did not return stay
/// buffered for the next read, and a write either took its bytes (and will send them) or did not.
/// `write_all` and `read_exact` are not cancel safe, as for any stream: they may have moved part
/// of the data when dropped.
pub struct TlsStream<IO> {
    pub(crate) io: IO,
    pub(crate) conn: Connection,
    recv: RecvBuf,
    /// The name this client sent as SNI; servers read theirs from the connection.
    client_sni: Option<String>,
    /// The transport reported end of stream.
    transport_eof: bool,
    /// rustls has been told about the transport's end of stream.
    eof_fed: bool,
    /// `close_notify` has been queued; further writes are refused.
    write_closed: bool,
    /// Why reading failed for good (a corrupt record, a fatal alert): every later read fails
    /// the same way once the plaintext that came before the failure has been returned.
    read_error: Option<rustls::Error>,
}

/// Ciphertext read from the transport and not yet handed to rustls: `buf[start..end]`.
struct RecvBuf {
    buf: Box<[u8]>,
    start: usize,
    end: usize,
    /// A read filled the buffer while it was smaller than [`RECV_BUF_LEN`]: it grows before
    /// the next read (it is empty then, so nothing needs to move).
    grow: bool,
}

impl RecvBuf {
    fn is_empty(&self) -> bool {
        self.start == self.end
    }
}

impl<IO> TlsStream<IO> {
    pub(crate) fn new(io: IO, conn: Connection, client_sni: Option<String>) -> TlsStream<IO> {
        TlsStream {
            io,
            conn,
            recv: RecvBuf {
                buf: vec![0; RECV_BUF_START].into_boxed_slice(),
                start: 0,
                end: 0,
                grow: false,
            },
            client_sni,
            transport_eof: false,
            eof_fed: false,
            write_closed: false,
            read_error: None,
        }
    }

    /// The protocol agreed by ALPN, e.g. `b"h2"`, or `None` when the peers agreed on none.
    pub fn alpn_protocol(&self) -> Option<&[u8]> {
        self.conn.alpn_protocol()
    }

    /// The SNI server name: the one a client sent, or the one a server received (if any).
    pub fn server_name(&self) -> Option<&str> {
        match &self.conn {
            Connection::Client(_) => self.client_sni.as_deref(),
            Connection::Server(s) => s.server_name(),
        }
    }

    /// The peer's certificate chain, leaf first: always present on a client, and on a server
    /// only when the client authenticated with a certificate.
    pub fn peer_certificates(&self) -> Option<&[CertificateDer<'static>]> {
        self.conn.peer_certificates()
    }

    /// The negotiated TLS version.
    pub fn protocol_version(&self) -> Option<ProtocolVersion> {
        self.conn.protocol_version()
    }

    /// The negotiated cipher suite.
    pub fn cipher_suite(&self) -> Option<SupportedCipherSuite> {
        self.conn.negotiated_cipher_suite()
    }

    /// Whether this is the server side of the connection.
    pub fn is_server(&self) -> bool {
        matches!(self.conn, Connection::Server(_))
    }

    /// The transport.
    pub fn get_ref(&self) -> &IO {
        &self.io
    }

    /// The transport, mutably. Reading or writing it directly corrupts the TLS session.
    pub fn get_mut(&mut self) -> &mut IO {
        &mut self.io
    }

    /// The rustls connection, for what this type does not wrap (e.g. exporting keying material).
    pub fn connection(&self) -> &Connection {
        &self.conn
    }

    /// The transport and the rustls connection. Ciphertext already read from the transport
    /// and not yet processed is lost, so only call this after the peer has closed.
    pub fn into_inner(self) -> (IO, Connection) {
        (self.io, self.conn)
    }
}

impl<IO: AsyncRead + AsyncWrite + Unpin> TlsStream<IO> {
    /// Drives the handshake until it has finished and its last flight has been written.
    pub(crate) fn poll_handshake(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        loop {
            ready!(self.poll_flush_tls(cx))?;
            if !self.conn.is_handshaking() {
                return Poll::Ready(Ok(()));
            }
            if !self.recv.is_empty() {
                self.feed(cx)?;
                continue;
            }
            if self.transport_eof {
                return Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "the peer closed the connection",
                )));
            }
            ready!(self.poll_fill(cx))?;
        }
    }

    /// Writes queued TLS records to the transport until the queue is empty.
    fn poll_flush_tls(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while self.conn.wants_write() {
            let mut sink = SyncIo {
                io: &mut self.io,
                cx,
            };
            match self.conn.write_tls(&mut sink) {
                Ok(0) => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Poll::Pending,
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
        Poll::Ready(Ok(()))
    }

    /// Reads ciphertext from the transport into the (empty) receive buffer.
    fn poll_fill(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        debug_assert!(self.recv.is_empty());
        if self.recv.grow {
            self.recv.grow = false;
            self.recv.buf = vec![0; RECV_BUF_LEN].into_boxed_slice();
        }
        let n = ready!(Pin::new(&mut self.io).poll_read(cx, &mut self.recv.buf))?;
        self.recv.start = 0;
        self.recv.end = n;
        self.recv.grow = n == self.recv.buf.len() && n < RECV_BUF_LEN;
        if n == 0 {
            self.transport_eof = true;
        }
        Poll::Ready(Ok(()))
    }

    /// Hands buffered ciphertext to rustls and processes it. Stops as soon as plaintext is
    /// ready, so that the caller drains it before rustls's 16 KiB plaintext queue overflows
    /// (which would fail the connection). That holds during the handshake too: a peer may send
    /// data right behind its last handshake message, in the same transport read.
    fn feed(&mut self, cx: &mut Context<'_>) -> io::Result<()> {
        while !self.recv.is_empty() {
            let mut slice = &self.recv.buf[self.recv.start..self.recv.end];
            let n = self.conn.read_tls(&mut slice)?;
            if n == 0 {
                // rustls reads nothing after `close_notify`; whatever follows it is ignored.
                self.recv.start = self.recv.end;
                break;
            }
            self.recv.start += n;
            let state = match self.conn.process_new_packets() {
                Ok(state) => state,
                Err(e) => {
                    // rustls has queued an alert that tells the peer why; send it if the
                    // transport takes it right now, without waiting for it. The real waker
                    // goes along: a no-op one would replace a waiting writer's registration.
                    let _ = self.poll_flush_tls(cx);
                    self.recv.start = self.recv.end;
                    self.read_error = Some(e);
                    return self.sticky_error().map_or(Ok(()), Err);
                }
            };
            if state.plaintext_bytes_to_read() > 0 {
                break;
            }
        }
        Ok(())
    }

    /// Tells rustls the transport has ended, so reads report a clean or an unclean end.
    fn feed_eof(&mut self) -> io::Result<()> {
        self.eof_fed = true;
        self.conn.read_tls(&mut &[][..])?;
        self.conn
            .process_new_packets()
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
        Ok(())
    }

    /// The recorded read failure, once no plaintext from before it is left to return.
    fn sticky_error(&mut self) -> Option<io::Error> {
        let error = self.read_error.as_ref()?;
        let pending = self
            .conn
            .reader()
            .fill_buf()
            .is_ok_and(|chunk| !chunk.is_empty());
        // rustls's own error is the payload, so callers can downcast to it.
        (!pending).then(|| io::Error::new(io::ErrorKind::InvalidData, error.clone()))
    }

    /// One step towards more plaintext: process buffered ciphertext, tell rustls about the
    /// transport's end, or read the transport.
    fn poll_more(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if !self.recv.is_empty() {
            return Poll::Ready(self.feed(cx));
        }
        if self.transport_eof {
            if self.eof_fed {
                return Poll::Ready(Err(io::ErrorKind::UnexpectedEof.into()));
            }
            return Poll::Ready(self.feed_eof());
        }
        // Records rustls queued on its own (a key update, an alert) leave with the next read;
        // the write side flushes them too, so a full transport is no reason to wait here.
        if self.conn.wants_write() {
            if let Poll::Ready(Err(e)) = self.poll_flush_tls(cx) {
                return Poll::Ready(Err(e));
            }
        }
        self.poll_fill(cx)
    }

    fn poll_read_plain(&mut self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        if buf.is_empty() {
            return Poll::Ready(Ok(0));
        }
        let mut filled = 0;
        loop {
            match self.conn.reader().read(&mut buf[filled..]) {
                // A clean close_notify: end of stream once everything before it was returned.
                Ok(0) => return Poll::Ready(Ok(filled)),
                Ok(n) => {
                    filled += n;
                    if filled == buf.len() {
                        return Poll::Ready(Ok(filled));
                    }
                    continue;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(_) if filled > 0 => return Poll::Ready(Ok(filled)),
                Err(e) => return Poll::Ready(Err(e)),
            }
            if let Some(e) = self.sticky_error() {
                // Hand out the bytes that came before the failure first; the next read fails.
                return Poll::Ready(if filled > 0 { Ok(filled) } else { Err(e) });
            }
            // Return what we have rather than pay for a read that would likely block.
            if filled > 0 && self.recv.is_empty() {
                return Poll::Ready(Ok(filled));
            }
            match self.poll_more(cx) {
                Poll::Ready(Ok(())) => {}
                Poll::Pending if filled > 0 => return Poll::Ready(Ok(filled)),
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Err(_)) if filled > 0 => return Poll::Ready(Ok(filled)),
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
            }
        }
    }

    /// Waits for plaintext and returns rustls's next plaintext chunk without copying it.
    fn poll_fill_plain(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<&[u8]>> {
        loop {
            match self.conn.reader().fill_buf() {
                Ok(_) => break,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Poll::Ready(Err(e)),
            }
            if let Some(e) = self.sticky_error() {
                return Poll::Ready(Err(e));
            }
            ready!(self.poll_more(cx))?;
        }
        // Empty at a clean close_notify, which is end of stream for `AsyncBufRead`.
        Poll::Ready(self.conn.reader().into_first_chunk())
    }

    fn poll_write_plain(
        &mut self,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        if self.write_closed {
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::BrokenPipe,
                "TLS stream already closed for writing",
            )));
        }
        if bufs.iter().all(|b| b.is_empty()) {
            return Poll::Ready(Ok(0));
        }
        // rustls refuses plaintext while its record queue is full; one flush makes room, so a
        // second attempt always takes bytes or the transport is pending.
        for _ in 0..2 {
            let n = self.conn.writer().write_vectored(bufs)?;
            match self.poll_flush_tls(cx) {
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Ready(Ok(())) if n == 0 => continue,
                Poll::Pending if n == 0 => return Poll::Pending,
                // The bytes are rustls's now and leave with the next write or flush.
                Poll::Ready(Ok(())) | Poll::Pending => return Poll::Ready(Ok(n)),
            }
        }
        Poll::Ready(Err(io::ErrorKind::WriteZero.into()))
    }

    fn poll_close_tls(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if !self.write_closed {
            self.conn.send_close_notify();
            self.write_closed = true;
        }
        ready!(self.poll_flush_tls(cx))?;
        Pin::new(&mut self.io).poll_close(cx)
    }
}

/// A blocking-style view of the transport for rustls: `Pending` becomes `WouldBlock`.
struct SyncIo<'a, 'b, IO> {
    io: &'a mut IO,
    cx: &'a mut Context<'b>,
}

impl<IO: AsyncWrite + Unpin> Write for SyncIo<'_, '_, IO> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match Pin::new(&mut *self.io).poll_write(self.cx, buf) {
            Poll::Ready(r) => r,
            Poll::Pending => Err(io::ErrorKind::WouldBlock.into()),
        }
    }

    fn write_vectored(&mut self, bufs: &[io::IoSlice<'_>]) -> io::Result<usize> {
        match Pin::new(&mut *self.io).poll_write_vectored(self.cx, bufs) {
            Poll::Ready(r) => r,
            Poll::Pending => Err(io::ErrorKind::WouldBlock.into()),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match Pin::new(&mut *self.io).poll_flush(self.cx) {
            Poll::Ready(r) => r,
            Poll::Pending => Err(io::ErrorKind::WouldBlock.into()),
        }
    }
}

impl<IO: AsyncRead + AsyncWrite + Unpin> AsyncRead for TlsStream<IO> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        self.get_mut().poll_read_plain(cx, buf)
    }
}

/// Reads straight out of rustls's plaintext buffer, without the copy a `BufReader` would add.
impl<IO: AsyncRead + AsyncWrite + Unpin> AsyncBufRead for TlsStream<IO> {
    fn poll_fill_buf(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<&[u8]>> {
        self.get_mut().poll_fill_plain(cx)
    }

    fn consume(self: Pin<&mut Self>, amt: usize) {
        self.get_mut().conn.reader().consume(amt);
    }
}

impl<IO: AsyncRead + AsyncWrite + Unpin> AsyncWrite for TlsStream<IO> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.get_mut()
            .poll_write_plain(cx, &[io::IoSlice::new(buf)])
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.get_mut().poll_write_plain(cx, bufs)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_flush_tls(cx))?;
        Pin::new(&mut this.io).poll_flush(cx)
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.get_mut().poll_close_tls(cx)
    }
}

impl<IO: fmt::Debug> fmt::Debug for TlsStream<IO> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsStream")
            .field("io", &self.io)
            .field("side", &if self.is_server() { "server" } else { "client" })
            .field("server_name", &self.server_name())
            .field("alpn", &self.alpn_protocol().map(String::from_utf8_lossy))
            .field("version", &self.protocol_version())
            .field("write_closed", &self.write_closed)
            .finish_non_exhaustive()
    }
}
