//! Unix sockets: streams, listeners, datagrams, servers and transports.

use futures_lite::{AsyncReadExt, AsyncWriteExt};
use tulip_net::{
    Protocol, Transport, UnixDatagram, UnixListener, UnixStream, create_unix_connection,
    create_unix_server, open_unix_connection, start_unix_server,
};

use crate::{run, temp_sock};

#[test]
fn stream_connect_accept_and_addresses() {
    run(async {
        let path = temp_sock("stream");
        let l = UnixListener::bind(&path).unwrap();
        assert_eq!(l.local_addr().unwrap().as_pathname(), Some(path.as_path()));
        let mut c = UnixStream::connect(&path).await.unwrap();
        let (mut s, _) = l.accept().await.unwrap();
        c.write_all(b"over unix").await.unwrap();
        c.close().await.unwrap();
        let mut got = String::new();
        s.read_to_string(&mut got).await.unwrap();
        assert_eq!(got, "over unix");
        assert_eq!(c.peer_addr().unwrap().as_pathname(), Some(path.as_path()));
        let _ = std::fs::remove_file(&path);
    });
}

#[test]
fn connecting_to_a_missing_path_fails() {
    run(async {
        let err = UnixStream::connect(temp_sock("missing")).await.unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::NotFound);
    });
}

#[test]
fn pair_halves_and_datagrams() {
    run(async {
        let (a, mut b) = UnixStream::pair().unwrap();
        let (mut ar, mut aw) = a.into_split();
        aw.write_all(b"x").await.unwrap();
        let mut one = [0u8; 1];
        b.read_exact(&mut one).await.unwrap();
        b.write_all(b"y").await.unwrap();
        ar.read_exact(&mut one).await.unwrap();
        assert_eq!(&one, b"y");

        let (d1, d2) = UnixDatagram::pair().unwrap();
        d1.send(b"dgram").await.unwrap();
        let mut buf = [0u8; 16];
        let n = d2.recv(&mut buf).await.unwrap();
        assert_eq!(&buf[..n], b"dgram");

        let path = temp_sock("dgram");
        let bound = UnixDatagram::bind(&path).unwrap();
        let un = UnixDatagram::unbound().unwrap();
        un.send_to(b"to path", &path).await.unwrap();
        let (n, _) = bound.recv_from(&mut buf).await.unwrap();
        assert_eq!(&buf[..n], b"to path");
        let _ = std::fs::remove_file(&path);
    });
}

#[test]
fn stream_server_over_unix() {
    run(async {
        let path = temp_sock("server");
        let server = start_unix_server(
            |mut r, mut w| async move {
                let line = r.read_line().await.unwrap();
                w.write(&line.to_ascii_uppercase());
                let _ = w.wait_closed().await;
            },
            &path,
        )
        .unwrap();
        let (mut r, mut w) = open_unix_connection(&path).await.unwrap();
        w.write(b"shout\n");
        w.drain().await.unwrap();
        assert_eq!(r.read_line().await.unwrap(), b"SHOUT\n");
        assert!(server.local_addr().is_none());
        assert_eq!(server.local_addrs().len(), 1);
        server.close();
        server.wait_closed().await;
        let _ = std::fs::remove_file(&path);
    });
}

struct Echo(Option<Transport>);

impl Protocol for Echo {
    fn connection_made(&mut self, t: Transport) {
        self.0 = Some(t);
    }
    fn data_received(&mut self, data: &[u8]) {
        self.0.as_ref().unwrap().write(data);
    }
}

/// Collects what arrives, and reports it when the connection ends.
struct Collect(Vec<u8>, Option<std::sync::mpsc::Sender<Vec<u8>>>);

impl Protocol for Collect {
    fn connection_made(&mut self, t: Transport) {
        t.write(b"ping over a unix transport");
        t.write_eof();
    }
    fn data_received(&mut self, data: &[u8]) {
        self.0.extend_from_slice(data);
    }
    fn connection_lost(&mut self, _: Option<std::io::Error>) {
        let _ = self.1.take().unwrap().send(std::mem::take(&mut self.0));
    }
}

#[test]
fn protocol_server_and_connection_over_unix() {
    run(async {
        let path = temp_sock("proto");
        let server = create_unix_server(|| Echo(None), &path).unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        let t = create_unix_connection(move || Collect(Vec::new(), Some(tx)), &path)
            .await
            .unwrap();
        t.wait_closed().await;
        assert_eq!(rx.recv().unwrap(), b"ping over a unix transport");
        server.close();
        server.wait_closed().await;
        let _ = std::fs::remove_file(&path);
    });
}
