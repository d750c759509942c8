//! TLS for tulip: rustls client and server sessions over any async byte stream.
//!
//! [`TlsConnector`] and [`TlsAcceptor`] run a handshake over any transport that implements
//! `futures_io::AsyncRead + AsyncWrite + Unpin` (a `tulip_reactor::Async<TcpStream>`, a Unix
//! socket, an in-memory pipe) and hand back a [`TlsStream`] that reads and writes plaintext.
//! They cover what asyncio's `ssl=` argument covers: SNI (and a certificate per SNI name on
//! servers), ALPN, optional client certificates (mutual TLS), the Mozilla roots from
//! `webpki-roots`, the operating system's trust store (`rustls-native-certs`), a custom root
//! store, a loudly named switch that turns certificate verification off for test servers, PEM loading for certificates and keys (through
//! `rustls-pki-types`, see [`pem`]), and a handshake timeout (10 s by default, reported as
//! `io::ErrorKind::TimedOut`). Every error is a `std::io::Error` whose message carries rustls's
//! reason.
//!
//! The crypto provider is rustls's `ring` backend: it builds with the system C compiler
//! alone, where the `aws-lc-rs` default would need cmake (and NASM or Go on some targets).
//! [`rustls`] and [`pki_types`] are re-exported for callers that build their own configuration.
//!
//! A [`TlsStream`] sends `close_notify` when closed, then closes the transport, while reading
//! goes on (asyncio's `write_eof`), and [`TlsStream::split`] gives read and
//! write halves for two tasks.
//!
//! # Examples
//!
//! A server and a client in one process over loopback TCP, with a certificate made on the spot:
//!
//! ```
//! use std::net::{TcpListener, TcpStream};
//! use futures_lite::io::{AsyncReadExt, AsyncWriteExt};
//! use tulip_reactor::Async;
//! use tulip_tls::{Identity, TlsAcceptor, TlsConnector, pem};
//!
//! # fn main() -> std::io::Result<()> {
//! let cert = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
//! let (cert_pem, key_pem) = (cert.cert.pem(), cert.signing_key.serialize_pem());
//!
//! let acceptor = TlsAcceptor::builder(Identity::from_pem(cert_pem.as_bytes(), key_pem.as_bytes())?)
//!     .alpn_protocols(["echo/1"])
//!     .build()?;
//! let connector = TlsConnector::builder()
//!     .root_store(pem::root_store_from_pem(cert_pem.as_bytes())?)
//!     .alpn_protocols(["echo/1"])
//!     .build()?;
//!
//! let listener = TcpListener::bind("127.0.0.1:0")?;
//! let addr = listener.local_addr()?;
//! let server = std::thread::spawn(move || {
//!     tulip_reactor::block_on(async {
//!         let (tcp, _) = listener.accept()?;
//!         let mut tls = acceptor.accept(Async::new(tcp)?).await?;
//!         let mut buf = [0; 5];
//!         tls.read_exact(&mut buf).await?;
//!         tls.write_all(&buf).await?;
//!         tls.close().await
//!     })
//! });
//!
//! tulip_reactor::block_on(async {
//!     let tcp = Async::new(TcpStream::connect(addr)?)?;
//!     let mut tls = connector.connect("localhost", tcp).await?;
//!     assert_eq!(tls.alpn_protocol(), Some(&b"echo/1"[..]));
//!     tls.write_all(b"hello").await?;
//!     let mut echoed = Vec::new();
//!     tls.read_to_end(&mut echoed).await?; // Ends cleanly at the server's close_notify.
//!     assert_eq!(echoed, b"hello");
//!     Ok::<_, std::io::Error>(())
//! })?;
//! server.join().unwrap()
//! # }
//! ```

#![forbid(unsafe_code)]
#![warn(
    missing_docs,
    missing_debug_implementations,
    rust_2018_idioms,
    unreachable_pub
)]

mod acceptor;
mod connector;
mod handshake;
mod insecure;
pub mod pem;
mod sni;
mod split;
mod stream;

pub use acceptor::{TlsAcceptor, TlsAcceptorBuilder};
pub use connector::{TlsConnector, TlsConnectorBuilder};
pub use handshake::DEFAULT_HANDSHAKE_TIMEOUT;
pub use pem::Identity;
pub use split::{ReadHalf, ReuniteError, WriteHalf};
pub use stream::TlsStream;

pub use rustls;
pub use rustls::pki_types;
