//! UDP: sockets and datagram endpoints.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tulip_net::{DatagramProtocol, DatagramTransport, UdpSocket, create_datagram_endpoint};

use crate::{localhost, run};

#[test]
fn udp_echo_with_sockets() {
    run(async {
        let server = UdpSocket::bind(localhost()).unwrap();
        let addr = server.local_addr().unwrap();
        let echo = tulip_executor::spawn(async move {
            let mut buf = [0u8; 2048];
            for _ in 0..10 {
                let (n, from) = server.recv_from(&mut buf).await.unwrap();
                server.send_to(&buf[..n], from).await.unwrap();
            }
        });
        let client = UdpSocket::bind(localhost()).unwrap();
        client.connect(addr).unwrap();
        assert_eq!(client.peer_addr().unwrap(), addr);
        let mut buf = [0u8; 2048];
        for i in 0..10u8 {
            client.send(&[i; 100]).await.unwrap();
            let n = client.recv(&mut buf).await.unwrap();
            assert_eq!(&buf[..n], &[i; 100]);
        }
        echo.await.unwrap();
    });
}

#[test]
fn udp_options() {
    run(async {
        let s = UdpSocket::bind(localhost()).unwrap();
        s.set_broadcast(true).unwrap();
        assert!(s.broadcast().unwrap());
        s.set_ttl(7).unwrap();
        assert_eq!(s.ttl().unwrap(), 7);
        s.set_multicast_loop_v4(true).unwrap();
        s.set_multicast_ttl_v4(1).unwrap();
        s.set_recv_buffer_size(1 << 16).unwrap();
        s.set_send_buffer_size(1 << 16).unwrap();
        let m = UdpSocket::bind_with("0.0.0.0:0".parse().unwrap(), true, true).unwrap();
        m.join_multicast_v4("239.255.0.1".parse().unwrap(), "127.0.0.1".parse().unwrap())
            .unwrap();
        m.leave_multicast_v4("239.255.0.1".parse().unwrap(), "127.0.0.1".parse().unwrap())
            .unwrap();
    });
}

struct Echo(Option<DatagramTransport>, Arc<Mutex<Vec<String>>>);

impl DatagramProtocol for Echo {
    fn connection_made(&mut self, t: DatagramTransport) {
        self.1.lock().unwrap().push("made".into());
        self.0 = Some(t);
    }
    fn datagram_received(&mut self, data: &[u8], from: SocketAddr) {
        self.0.as_ref().unwrap().send_to(data, Some(from));
    }
    fn error_received(&mut self, error: std::io::Error) {
        self.1
            .lock()
            .unwrap()
            .push(format!("error {:?}", error.kind()));
    }
    fn connection_lost(&mut self, error: Option<std::io::Error>) {
        self.1
            .lock()
            .unwrap()
            .push(format!("lost {:?}", error.map(|e| e.kind())));
    }
}

#[test]
fn datagram_endpoint_echoes_and_closes() {
    run(async {
        let log = Arc::new(Mutex::new(Vec::new()));
        let l2 = log.clone();
        let t = create_datagram_endpoint(move || Echo(None, l2), Some(localhost()), None).unwrap();
        let client = UdpSocket::bind(localhost()).unwrap();
        let mut buf = [0u8; 65536];
        for size in [0usize, 1, 1000, 60_000] {
            let msg = vec![9u8; size];
            client.send_to(&msg, t.local_addr().unwrap()).await.unwrap();
            let (n, from) = client.recv_from(&mut buf).await.unwrap();
            assert_eq!(n, size);
            assert_eq!(from, t.local_addr().unwrap());
        }
        t.close();
        t.wait_closed().await;
        assert!(t.is_closing());
        assert_eq!(*log.lock().unwrap(), ["made", "lost None"]);
    });
}

#[test]
fn connected_endpoint_reports_refused_sends_as_errors() {
    run(async {
        // A port with nothing listening: the ICMP unreachable surfaces as ConnectionRefused.
        let dead = UdpSocket::bind(localhost()).unwrap();
        let dead_addr = dead.local_addr().unwrap();
        drop(dead);
        let log = Arc::new(Mutex::new(Vec::new()));
        let l2 = log.clone();
        let t = create_datagram_endpoint(move || Echo(None, l2), None, Some(dead_addr)).unwrap();
        assert_eq!(t.peer_addr().unwrap(), dead_addr);
        for _ in 0..20 {
            t.send_to(b"anyone?", None);
            // Resend pacing, bounded: the ICMP error comes back asynchronously and the loop
            // stops as soon as the protocol logged it.
            tulip_reactor::sleep(Duration::from_millis(10)).await;
            if log.lock().unwrap().len() > 1 {
                break;
            }
        }
        assert_eq!(log.lock().unwrap()[1], "error ConnectionRefused");
        t.abort();
        t.wait_closed().await;
    });
}
