//! [`UdpSocket`].

use std::fmt;
use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::task::{Context, Poll};

use socket2::{Domain, Protocol, SockRef, Socket, Type};
use tulip_reactor::Async;

/// A UDP socket (asyncio's datagram endpoint without the protocol).
///
/// # Examples
///
/// ```
/// use tulip_net::UdpSocket;
///
/// # fn main() -> std::io::Result<()> {
/// tulip_reactor::block_on(async {
///     let a = UdpSocket::bind("127.0.0.1:0".parse().unwrap())?;
///     let b = UdpSocket::bind("127.0.0.1:0".parse().unwrap())?;
///     a.send_to(b"ping", b.local_addr()?).await?;
///     let mut buf = [0; 16];
///     let (n, from) = b.recv_from(&mut buf).await?;
///     assert_eq!((&buf[..n], from), (&b"ping"[..], a.local_addr()?));
///     Ok(())
/// })
/// # }
/// ```
pub struct UdpSocket {
    io: Async<std::net::UdpSocket>,
}

impl UdpSocket {
    /// Binds to `addr` (port 0 picks a free port).
    ///
    /// # Errors
    ///
    /// `AddrInUse`, `PermissionDenied` and the like.
    pub fn bind(addr: SocketAddr) -> io::Result<UdpSocket> {
        Self::bind_with(addr, false, false)
    }

    /// Binds with `SO_REUSEADDR` / `SO_REUSEPORT` (for multicast receivers sharing a port).
    ///
    /// # Errors
    ///
    /// `AddrInUse`, `PermissionDenied` and the like; `Unsupported` for `reuse_port` where the
    /// platform has no `SO_REUSEPORT` (illumos).
    pub fn bind_with(
        addr: SocketAddr,
        reuse_address: bool,
        reuse_port: bool,
    ) -> io::Result<UdpSocket> {
        let sock = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
        if reuse_address {
            sock.set_reuse_address(true)?;
        }
        if reuse_port {
            crate::tcp::set_reuse_port(&sock)?;
        }
        sock.set_nonblocking(true)?;
        sock.bind(&addr.into())?;
        Ok(UdpSocket {
            io: Async::new_nonblocking(std::net::UdpSocket::from(sock))?,
        })
    }

    /// Wraps a standard-library socket.
    ///
    /// # Errors
    ///
    /// If the socket cannot be registered with the reactor.
    pub fn from_std(socket: std::net::UdpSocket) -> io::Result<UdpSocket> {
        Ok(UdpSocket {
            io: Async::new(socket)?,
        })
    }

    /// The reactor handle, for custom non-blocking operations.
    pub fn as_async(&self) -> &Async<std::net::UdpSocket> {
        &self.io
    }

    /// The bound address.
    ///
    /// # Errors
    ///
    /// If the kernel cannot report it.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.io.get_ref().local_addr()
    }

    /// The connected peer's address.
    ///
    /// # Errors
    ///
    /// `NotConnected` if not connected.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.io.get_ref().peer_addr()
    }

    /// Sets the default destination and filters incoming datagrams to that peer.
    ///
    /// # Errors
    ///
    /// Any `connect` error.
    pub fn connect(&self, addr: SocketAddr) -> io::Result<()> {
        self.io.get_ref().connect(addr)
    }

    /// Sends one datagram to `addr`.
    ///
    /// # Errors
    ///
    /// Any `sendto` error (a datagram larger than the path allows gives `EMSGSIZE`).
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe: the datagram is either sent whole or not at all.
    pub async fn send_to(&self, buf: &[u8], addr: SocketAddr) -> io::Result<usize> {
        self.io.write_with(|s| s.send_to(buf, addr)).await
    }

    /// Receives one datagram and its sender; excess bytes beyond `buf` are discarded.
    ///
    /// # Errors
    ///
    /// Any `recvfrom` error; a previous send to a closed port may report `ConnectionRefused`.
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe: a datagram is consumed only by the poll that returns it.
    pub async fn recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        self.io.read_with(|s| s.recv_from(buf)).await
    }

    /// Sends one datagram to the connected peer.
    ///
    /// # Errors
    ///
    /// `NotConnected` if not connected, or any `send` error.
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe.
    pub async fn send(&self, buf: &[u8]) -> io::Result<usize> {
        self.io.write_with(|s| s.send(buf)).await
    }

    /// Receives one datagram from the connected peer.
    ///
    /// # Errors
    ///
    /// Any `recv` error.
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe.
    pub async fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.io.read_with(|s| s.recv(buf)).await
    }

    /// Polls for a datagram (the poll form of [`UdpSocket::recv_from`]).
    pub fn poll_recv_from(
        &self,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<(usize, SocketAddr)>> {
        self.io.poll_read_with(cx, |s| s.recv_from(buf))
    }

    /// Polls to send a datagram (the poll form of [`UdpSocket::send_to`]).
    pub fn poll_send_to(
        &self,
        cx: &mut Context<'_>,
        buf: &[u8],
        addr: SocketAddr,
    ) -> Poll<io::Result<usize>> {
        self.io.poll_write_with(cx, |s| s.send_to(buf, addr))
    }

    /// Tries to send without waiting (`WouldBlock` when the socket buffer is full).
    ///
    /// # Errors
    ///
    /// `WouldBlock` or any `sendto` error.
    pub fn try_send_to(&self, buf: &[u8], addr: SocketAddr) -> io::Result<usize> {
        self.io.get_ref().send_to(buf, addr)
    }

    /// `SO_BROADCAST`: allows sending to broadcast addresses.
    ///
    /// # Errors
    ///
    /// Any `setsockopt` error.
    pub fn set_broadcast(&self, on: bool) -> io::Result<()> {
        self.io.get_ref().set_broadcast(on)
    }

    /// Whether `SO_BROADCAST` is set.
    ///
    /// # Errors
    ///
    /// Any `getsockopt` error.
    pub fn broadcast(&self) -> io::Result<bool> {
        self.io.get_ref().broadcast()
    }

    /// Sets the IP time-to-live.
    ///
    /// # Errors
    ///
    /// Any `setsockopt` error.
    pub fn set_ttl(&self, ttl: u32) -> io::Result<()> {
        self.io.get_ref().set_ttl(ttl)
    }

    /// The IP time-to-live.
    ///
    /// # Errors
    ///
    /// Any `getsockopt` error.
    pub fn ttl(&self) -> io::Result<u32> {
        self.io.get_ref().ttl()
    }

    /// Joins an IPv4 multicast group on `interface` (`0.0.0.0` lets the kernel choose).
    ///
    /// # Errors
    ///
    /// Any `setsockopt` error.
    pub fn join_multicast_v4(&self, group: Ipv4Addr, interface: Ipv4Addr) -> io::Result<()> {
        self.io.get_ref().join_multicast_v4(&group, &interface)
    }

    /// Leaves an IPv4 multicast group.
    ///
    /// # Errors
    ///
    /// Any `setsockopt` error.
    pub fn leave_multicast_v4(&self, group: Ipv4Addr, interface: Ipv4Addr) -> io::Result<()> {
        self.io.get_ref().leave_multicast_v4(&group, &interface)
    }

    /// Joins an IPv6 multicast group on interface index `interface` (0: any).
    ///
    /// # Errors
    ///
    /// Any `setsockopt` error.
    pub fn join_multicast_v6(&self, group: Ipv6Addr, interface: u32) -> io::Result<()> {
        self.io.get_ref().join_multicast_v6(&group, interface)
    }

    /// Leaves an IPv6 multicast group.
    ///
    /// # Errors
    ///
    /// Any `setsockopt` error.
    pub fn leave_multicast_v6(&self, group: Ipv6Addr, interface: u32) -> io::Result<()> {
        self.io.get_ref().leave_multicast_v6(&group, interface)
    }

    /// Whether multicast datagrams sent are looped back to local receivers (IPv4).
    ///
    /// # Errors
    ///
    /// Any `setsockopt` error.
    pub fn set_multicast_loop_v4(&self, on: bool) -> io::Result<()> {
        self.io.get_ref().set_multicast_loop_v4(on)
    }

    /// The TTL of outgoing IPv4 multicast datagrams.
    ///
    /// # Errors
    ///
    /// Any `setsockopt` error.
    pub fn set_multicast_ttl_v4(&self, ttl: u32) -> io::Result<()> {
        self.io.get_ref().set_multicast_ttl_v4(ttl)
    }

    /// Sets the kernel receive buffer size (`SO_RCVBUF`).
    ///
    /// # Errors
    ///
    /// Any `setsockopt` error.
    pub fn set_recv_buffer_size(&self, size: usize) -> io::Result<()> {
        SockRef::from(self.io.get_ref()).set_recv_buffer_size(size)
    }

    /// Sets the kernel send buffer size (`SO_SNDBUF`).
    ///
    /// # Errors
    ///
    /// Any `setsockopt` error.
    pub fn set_send_buffer_size(&self, size: usize) -> io::Result<()> {
        SockRef::from(self.io.get_ref()).set_send_buffer_size(size)
    }

    /// Takes the pending socket error (`SO_ERROR`), if any.
    ///
    /// # Errors
    ///
    /// Any `getsockopt` error.
    pub fn take_error(&self) -> io::Result<Option<io::Error>> {
        self.io.get_ref().take_error()
    }
}

impl fmt::Debug for UdpSocket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("UdpSocket");
        if let Ok(a) = self.local_addr() {
            d.field("local", &a);
        }
        d.field("fd", &self.io.as_raw_fd()).finish()
    }
}

impl AsFd for UdpSocket {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.io.as_fd()
    }
}

impl AsRawFd for UdpSocket {
    fn as_raw_fd(&self) -> RawFd {
        self.io.as_raw_fd()
    }
}
