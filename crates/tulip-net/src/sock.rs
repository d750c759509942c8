//! asyncio's low-level socket calls (`loop.sock_recv`, `sock_sendall`, `sock_connect`,
//! `sock_accept`, `sock_sendfile`) on raw non-blocking sockets registered with the reactor.
//!
//! asyncio passes a non-blocking `socket.socket` to methods of the loop; here the socket is a
//! [`tulip_reactor::Async`] of any descriptor type (a [`socket2::Socket`], a std socket), and
//! the calls are free functions. The executor never sees sockets, so they live in tulip-net.
//!
//! One shape differs: [`sock_connect`] takes the socket *before* it is registered and returns
//! it registered. Linux reports an unconnected TCP socket as hung up (`EPOLLHUP`), and the
//! reactor latches a hang-up for good (`source.rs`, rule 4), so a socket registered before its
//! connect would look closed forever.

use std::fs::File;
use std::io;
use std::net::SocketAddr;

use socket2::{SockAddr, SockRef, Socket};
use tulip_reactor::Async;

/// Send flags that keep a write to a vanished peer from raising SIGPIPE. macOS has no
/// `MSG_NOSIGNAL`: there a Rust program has SIGPIPE ignored by std before `main` runs, and
/// the write fails with `BrokenPipe` all the same.
#[cfg(not(target_vendor = "apple"))]
const NO_SIGPIPE: rustix::net::SendFlags = rustix::net::SendFlags::NOSIGNAL;
#[cfg(target_vendor = "apple")]
const NO_SIGPIPE: rustix::net::SendFlags = rustix::net::SendFlags::empty();

use std::os::fd::AsFd;

/// Receives up to `n` bytes (asyncio's `loop.sock_recv`); an empty vector means end of stream.
///
/// # Errors
///
/// The socket's error (`ConnectionReset`, ...).
///
/// # Cancel safety
///
/// Cancel-safe: nothing is received unless the future completes.
///
/// # Examples
///
/// ```
/// use socket2::{Domain, Socket, Type};
/// use tulip_net::{sock_recv, sock_sendall};
/// use tulip_reactor::Async;
///
/// # fn main() -> std::io::Result<()> {
/// tulip_reactor::block_on(async {
///     let (a, b) = Socket::pair(Domain::UNIX, Type::STREAM, None)?;
///     let (a, b) = (Async::new(a)?, Async::new(b)?);
///     sock_sendall(&a, b"ping").await?;
///     assert_eq!(sock_recv(&b, 1024).await?, b"ping");
///     Ok(())
/// })
/// # }
/// ```
pub async fn sock_recv<T: AsFd>(sock: &Async<T>, n: usize) -> io::Result<Vec<u8>> {
    let mut buf = vec![0; n];
    let got = sock_recv_into(sock, &mut buf).await?;
    buf.truncate(got);
    Ok(buf)
}

/// Receives into `buf` and returns how many bytes arrived (asyncio's `loop.sock_recv_into`);
/// `0` means end of stream (or an empty `buf`).
///
/// # Errors
///
/// The socket's error.
///
/// # Cancel safety
///
/// Cancel-safe: nothing is received unless the future completes.
pub async fn sock_recv_into<T: AsFd>(sock: &Async<T>, buf: &mut [u8]) -> io::Result<usize> {
    if buf.is_empty() {
        return Ok(0);
    }
    sock.read_with(|s| {
        rustix::net::recv(s, &mut *buf, rustix::net::RecvFlags::empty())
            .map(|(n, _)| n)
            .map_err(io::Error::from)
    })
    .await
}

/// Receives one datagram of up to `n` bytes and its sender (asyncio's `loop.sock_recvfrom`,
/// 3.11). A longer datagram is truncated to `n` bytes. The address is `None` for a sender
/// with no IP address (an unnamed or Unix-domain socket).
///
/// # Errors
///
/// The socket's error (`ConnectionRefused` after an ICMP port unreachable, ...).
///
/// # Cancel safety
///
/// Cancel-safe: nothing is received unless the future completes.
///
/// # Examples
///
/// ```
/// use socket2::{Domain, Socket, Type};
/// use tulip_net::{sock_recvfrom, sock_sendto};
/// use tulip_reactor::Async;
///
/// # fn main() -> std::io::Result<()> {
/// tulip_reactor::block_on(async {
///     let bind = |s: &Socket| s.bind(&"127.0.0.1:0".parse::<std::net::SocketAddr>().unwrap().into());
///     let (a, b) = (Socket::new(Domain::IPV4, Type::DGRAM, None)?, Socket::new(Domain::IPV4, Type::DGRAM, None)?);
///     bind(&a)?;
///     bind(&b)?;
///     let b_addr = b.local_addr()?.as_socket().unwrap();
///     let (a, b) = (Async::new(a)?, Async::new(b)?);
///     sock_sendto(&a, b"hi", b_addr).await?;
///     let (data, from) = sock_recvfrom(&b, 1500).await?;
///     assert_eq!(data, b"hi");
///     assert_eq!(from, a.get_ref().local_addr()?.as_socket());
///     Ok(())
/// })
/// # }
/// ```
pub async fn sock_recvfrom<T: AsFd>(
    sock: &Async<T>,
    n: usize,
) -> io::Result<(Vec<u8>, Option<SocketAddr>)> {
    let mut buf = vec![0; n];
    let (got, from) = sock_recvfrom_into(sock, &mut buf).await?;
    buf.truncate(got);
    Ok((buf, from))
}

/// Receives one datagram into `buf` (asyncio's `loop.sock_recvfrom_into`, 3.11): the bytes
/// stored and the sender, as [`sock_recvfrom`].
///
/// # Errors
///
/// The socket's error.
///
/// # Cancel safety
///
/// Cancel-safe: nothing is received unless the future completes.
pub async fn sock_recvfrom_into<T: AsFd>(
    sock: &Async<T>,
    buf: &mut [u8],
) -> io::Result<(usize, Option<SocketAddr>)> {
    sock.read_with(|s| {
        let (n, _, from) = rustix::net::recvfrom(s, &mut *buf, rustix::net::RecvFlags::empty())?;
        Ok((n, from.and_then(|a| SocketAddr::try_from(a).ok())))
    })
    .await
}

/// Sends `data` as one datagram to `addr` (asyncio's `loop.sock_sendto`, 3.11) and returns
/// the bytes sent.
///
/// # Errors
///
/// The socket's error (`EMSGSIZE` for a datagram too large, ...).
///
/// # Cancel safety
///
/// Cancel-safe: the datagram is sent whole or not at all.
pub async fn sock_sendto<T: AsFd>(
    sock: &Async<T>,
    data: &[u8],
    addr: SocketAddr,
) -> io::Result<usize> {
    sock.write_with(|s| rustix::net::sendto(s, data, NO_SIGPIPE, &addr).map_err(io::Error::from))
        .await
}

/// Sends all of `data` (asyncio's `loop.sock_sendall`), waiting whenever the socket's buffer is
/// full. `MSG_NOSIGNAL` is set (on Linux and the BSDs; macOS has no such flag, and std
/// ignores SIGPIPE before `main` there too), so a vanished peer is a `BrokenPipe` error.
///
/// # Errors
///
/// The socket's error (`BrokenPipe`, `ConnectionReset`); what was sent before it is not
/// reported, as in asyncio.
///
/// # Cancel safety
///
/// Not cancel-safe: a dropped future may have sent part of `data`.
pub async fn sock_sendall<T: AsFd>(sock: &Async<T>, data: &[u8]) -> io::Result<()> {
    let mut sent = 0;
    while sent < data.len() {
        sent += sock
            .write_with(|s| {
                rustix::net::send(s, &data[sent..], NO_SIGPIPE).map_err(io::Error::from)
            })
            .await?;
    }
    Ok(())
}

/// Connects `sock` to `addr` and returns it registered with the reactor (asyncio's
/// `loop.sock_connect`). The socket is switched to non-blocking mode first.
///
/// It takes the socket unregistered (unlike asyncio): Linux reports an unconnected TCP
/// socket as hung up, and the reactor latches a hang-up for good, so a socket registered
/// before its connect would look closed forever.
///
/// # Errors
///
/// The connect error (`ConnectionRefused`, ...), or a registration error.
///
/// # Cancel safety
///
/// Dropping the future closes the half-open socket.
///
/// # Examples
///
/// ```
/// use socket2::{Domain, Socket, Type};
/// use tulip_net::{sock_accept, sock_connect, sock_recv, sock_sendall};
/// use tulip_reactor::Async;
///
/// # fn main() -> std::io::Result<()> {
/// tulip_reactor::block_on(async {
///     let listener = Socket::new(Domain::IPV4, Type::STREAM, None)?;
///     listener.bind(&"127.0.0.1:0".parse::<std::net::SocketAddr>().unwrap().into())?;
///     listener.listen(8)?;
///     let addr = listener.local_addr()?;
///     let listener = Async::new(listener)?;
///
///     let client = Socket::new(Domain::IPV4, Type::STREAM, None)?;
///     let client = sock_connect(client, &addr).await?;
///     let (server, _peer) = sock_accept(&listener).await?;
///     sock_sendall(&client, b"hello").await?;
///     assert_eq!(sock_recv(&server, 16).await?, b"hello");
///     Ok(())
/// })
/// # }
/// ```
pub async fn sock_connect(sock: Socket, addr: &SockAddr) -> io::Result<Async<Socket>> {
    sock.set_nonblocking(true)?;
    match sock.connect(addr) {
        Ok(()) => {}
        Err(e) if e.raw_os_error() == Some(rustix::io::Errno::INPROGRESS.raw_os_error()) => {}
        Err(e) => return Err(e),
    }
    let sock = Async::new_nonblocking(sock)?;
    // A fresh source starts out optimistically writable: ask the socket whether the
    // handshake finished, and wait for the next edge while it is still connecting.
    sock.write_with(|s| match s.take_error()? {
        Some(e) => Err(e),
        None => match s.peer_addr() {
            Ok(_) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotConnected => {
                Err(io::ErrorKind::WouldBlock.into())
            }
            Err(e) => Err(e),
        },
    })
    .await?;
    Ok(sock)
}

/// Accepts a connection on a listening socket (asyncio's `loop.sock_accept`): the new socket,
/// non-blocking, close-on-exec and registered with the reactor, and the peer's address.
///
/// # Errors
///
/// The accept error (`EMFILE` when out of descriptors, ...).
///
/// # Cancel safety
///
/// Cancel-safe: a connection is only taken from the queue when the future completes.
pub async fn sock_accept<T: AsFd>(listener: &Async<T>) -> io::Result<(Async<Socket>, SockAddr)> {
    let (sock, addr) = listener.read_with(|l| SockRef::from(l).accept()).await?;
    sock.set_nonblocking(true)?;
    Ok((Async::new_nonblocking(sock)?, addr))
}

/// Sends `count` bytes of `file` from `offset` (to its end if `None`) with sendfile(2)
/// (asyncio's `loop.sock_sendfile`) and returns the bytes sent. Where the kernel cannot
/// (a pipe or other non-regular file), it falls back to reading the file on the blocking
/// pool and writing to the socket; that path needs a tulip runtime. The file's own position is
/// not used or moved, except by the fallback on an unseekable file, which reads from it.
///
/// # Errors
///
/// A socket error, or a read error from the file.
///
/// # Cancel safety
///
/// Not cancel-safe: a dropped future may have sent part of the range.
pub async fn sock_sendfile<T: AsFd>(
    sock: &Async<T>,
    file: &File,
    offset: u64,
    count: Option<u64>,
) -> io::Result<u64> {
    crate::sendfile::send_file(&mut crate::sendfile::AsyncFd(sock), file, offset, count).await
}
