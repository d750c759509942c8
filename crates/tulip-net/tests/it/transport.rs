//! Transports and protocols: echo, flow control order, half-close, abort, pause_reading.

use std::io;
use std::sync::atomic::AtomicUsize;
use std::sync::atomic::Ordering::SeqCst;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_lite::{AsyncReadExt, AsyncWriteExt};
use tulip_net::{Protocol, TcpListener, TcpStream, Transport, create_connection, create_server};

use crate::{localhost, run, until};

/// Protocol events, as recorded by [`Recorder`].
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Ev {
    Made,
    Data(usize),
    Eof,
    Pause,
    Resume,
    Lost(Option<io::ErrorKind>),
}

type Log = Arc<Mutex<Vec<Ev>>>;

/// A one-shot action a test runs inside a callback.
pub(crate) type Hook = Box<dyn FnOnce(&Transport) + Send>;

/// Records events; optional behaviours are set by the test.
pub(crate) struct Recorder {
    pub(crate) log: Log,
    pub(crate) t: Option<Transport>,
    pub(crate) echo: bool,
    pub(crate) keep_open_on_eof: bool,
    pub(crate) on_made: Option<Hook>,
    pub(crate) on_resume: Option<Hook>,
    pub(crate) on_eof: Option<Hook>,
}

impl Recorder {
    pub(crate) fn new(log: &Log) -> Recorder {
        Recorder {
            log: log.clone(),
            t: None,
            echo: false,
            keep_open_on_eof: false,
            on_made: None,
            on_resume: None,
            on_eof: None,
        }
    }

    fn push(&self, e: Ev) {
        self.log.lock().unwrap().push(e);
    }
}

impl Protocol for Recorder {
    fn connection_made(&mut self, t: Transport) {
        self.push(Ev::Made);
        if let Some(f) = self.on_made.take() {
            f(&t);
        }
        self.t = Some(t);
    }

    fn data_received(&mut self, data: &[u8]) {
        self.push(Ev::Data(data.len()));
        if self.echo {
            self.t.as_ref().unwrap().write(data);
        }
    }

    fn eof_received(&mut self) -> bool {
        self.push(Ev::Eof);
        if let Some(f) = self.on_eof.take() {
            f(self.t.as_ref().unwrap());
        }
        self.keep_open_on_eof
    }

    fn connection_lost(&mut self, error: Option<io::Error>) {
        self.push(Ev::Lost(error.map(|e| e.kind())));
    }

    fn pause_writing(&mut self) {
        self.push(Ev::Pause);
    }

    fn resume_writing(&mut self) {
        self.push(Ev::Resume);
        if let Some(f) = self.on_resume.take() {
            f(self.t.as_ref().unwrap());
        }
    }
}

fn without_data(log: &Log) -> Vec<Ev> {
    log.lock()
        .unwrap()
        .iter()
        .filter(|e| !matches!(e, Ev::Data(_)))
        .cloned()
        .collect()
}

#[test]
fn echo_server_over_a_raw_client() {
    run(async {
        let log = Log::default();
        let l2 = log.clone();
        let server = create_server(
            move || {
                let mut r = Recorder::new(&l2);
                r.echo = true;
                r
            },
            localhost(),
        )
        .unwrap();
        let mut c = TcpStream::connect(server.local_addr().unwrap())
            .await
            .unwrap();
        let msg = vec![3u8; 100_000];
        let (rd, wr) = c.split();
        let write = async move {
            let mut wr = wr;
            wr.write_all(&msg).await.unwrap();
            wr.close().await.unwrap();
            msg.len()
        };
        let read = async move {
            let mut rd = rd;
            let mut back = Vec::new();
            rd.read_to_end(&mut back).await.unwrap();
            back
        };
        let (sent, back) = futures_lite::future::zip(write, read).await;
        // The echo came back whole, then EOF (the protocol closed after our FIN).
        assert_eq!(back.len(), sent);
        assert!(back.iter().all(|&b| b == 3));
        server.close();
        server.wait_closed().await;
        assert_eq!(without_data(&log), [Ev::Made, Ev::Eof, Ev::Lost(None)]);
    });
}

#[test]
fn flow_control_pauses_then_resumes_in_order_with_a_slow_reader() {
    run(async {
        let l = TcpListener::bind(localhost()).await.unwrap();
        let log = Log::default();
        // How much the kernel takes before the transport must queue depends on the machine's
        // socket buffer settings (several MiB with autotuning): write 1 MiB at a time until
        // the queue crosses `high`, bounded, and count what was written.
        let written = Arc::new(AtomicUsize::new(0));
        let w = written.clone();
        let mut p = Recorder::new(&log);
        p.on_made = Some(Box::new(move |t: &Transport| {
            t.set_write_buffer_limits(Some(64 * 1024), Some(16 * 1024));
            assert_eq!(t.write_buffer_limits(), (16 * 1024, 64 * 1024));
            let chunk = vec![1u8; 1024 * 1024];
            while t.write_buffer_size() <= 64 * 1024 {
                assert!(
                    w.load(SeqCst) < 512 * 1024 * 1024,
                    "the kernel took 512 MiB from a peer that does not read"
                );
                t.write(&chunk);
                w.fetch_add(chunk.len(), SeqCst);
            }
        }));
        p.on_resume = Some(Box::new(|t: &Transport| {
            assert!(t.write_buffer_size() <= 16 * 1024);
            t.close();
        }));
        let port = l.local_addr().unwrap().port();
        let transport = create_connection(move || p, "127.0.0.1", port)
            .await
            .unwrap();
        let (mut peer, _) = l.accept().await.unwrap();
        // The peer does not read: the writer must pause, not grow or block.
        until("the writer pausing", || {
            without_data(&log).contains(&Ev::Pause)
        })
        .await;
        assert_eq!(without_data(&log), [Ev::Made, Ev::Pause]);
        assert!(transport.write_buffer_size() > 0);
        let mut got = Vec::new();
        peer.read_to_end(&mut got).await.unwrap();
        assert_eq!(got.len(), written.load(SeqCst));
        transport.wait_closed().await;
        assert_eq!(
            without_data(&log),
            [Ev::Made, Ev::Pause, Ev::Resume, Ev::Lost(None)]
        );
    });
}

#[test]
fn eof_received_true_keeps_the_write_side_open() {
    run(async {
        let log = Log::default();
        let l2 = log.clone();
        let server = create_server(
            move || {
                let mut r = Recorder::new(&l2);
                r.keep_open_on_eof = true;
                r.on_eof = Some(Box::new(|t: &Transport| {
                    t.write(b"bye");
                    t.write_eof();
                }));
                r
            },
            localhost(),
        )
        .unwrap();
        let mut c = TcpStream::connect(server.local_addr().unwrap())
            .await
            .unwrap();
        c.write_all(b"hello").await.unwrap();
        c.shutdown(std::net::Shutdown::Write).unwrap();
        let mut got = Vec::new();
        c.read_to_end(&mut got).await.unwrap();
        assert_eq!(got, b"bye");
        server.close();
        server.wait_closed().await;
        assert_eq!(without_data(&log), [Ev::Made, Ev::Eof, Ev::Lost(None)]);
    });
}

#[test]
fn abort_drops_queued_data_and_reports_no_error() {
    run(async {
        let l = TcpListener::bind(localhost()).await.unwrap();
        let log = Log::default();
        let mut p = Recorder::new(&log);
        p.on_made = Some(Box::new(|t: &Transport| {
            t.write(&vec![0u8; 8 * 1024 * 1024]);
            t.abort();
            assert!(t.is_closing());
            t.write(b"dropped");
        }));
        let port = l.local_addr().unwrap().port();
        let t = create_connection(move || p, "127.0.0.1", port)
            .await
            .unwrap();
        let (mut peer, _) = l.accept().await.unwrap();
        t.wait_closed().await;
        assert_eq!(t.write_buffer_size(), 0);
        let mut sink = Vec::new();
        let _ = peer.read_to_end(&mut sink).await;
        assert!(sink.len() < 8 * 1024 * 1024);
        let evs = without_data(&log);
        assert_eq!(evs.first(), Some(&Ev::Made));
        assert_eq!(evs.last(), Some(&Ev::Lost(None)));
    });
}

#[test]
fn pause_reading_stops_data_until_resumed() {
    run(async {
        let l = TcpListener::bind(localhost()).await.unwrap();
        let log = Log::default();
        let mut p = Recorder::new(&log);
        p.on_made = Some(Box::new(|t: &Transport| t.pause_reading()));
        let port = l.local_addr().unwrap().port();
        let t = create_connection(move || p, "127.0.0.1", port)
            .await
            .unwrap();
        let (mut peer, _) = l.accept().await.unwrap();
        peer.write_all(b"data").await.unwrap();
        // An absence is the subject: for 50 ms, no data may reach the paused protocol.
        tulip_reactor::sleep(Duration::from_millis(50)).await;
        assert!(!t.is_reading());
        assert_eq!(*log.lock().unwrap(), [Ev::Made]);
        t.resume_reading();
        until("data after resume_reading", || {
            log.lock().unwrap().len() > 1
        })
        .await;
        assert_eq!(*log.lock().unwrap(), [Ev::Made, Ev::Data(4)]);
        assert!(
            matches!(t.peer_addr().unwrap(), tulip_net::Address::Ip(a) if a == l.local_addr().unwrap())
        );
        t.close();
        t.wait_closed().await;
    });
}

#[test]
fn writes_from_another_task_reach_the_peer() {
    run(async {
        let l = TcpListener::bind(localhost()).await.unwrap();
        let log = Log::default();
        let p = Recorder::new(&log);
        let port = l.local_addr().unwrap().port();
        let t = create_connection(move || p, "127.0.0.1", port)
            .await
            .unwrap();
        let (mut peer, _) = l.accept().await.unwrap();
        let t2 = t.clone();
        tulip_executor::spawn(async move {
            for i in 0..100u8 {
                t2.write(&[i; 1000]);
            }
            t2.close();
        })
        .await
        .unwrap();
        let mut got = Vec::new();
        peer.read_to_end(&mut got).await.unwrap();
        assert_eq!(got.len(), 100_000);
        assert!(
            got.chunks(1000)
                .enumerate()
                .all(|(i, c)| c.iter().all(|&b| b == i as u8))
        );
        t.wait_closed().await;
    });
}
