//! WebSocket churn: 1,000 connections echoing while clients vanish mid-frame.

use std::net::TcpListener;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::time::{Duration, Instant};

use futures_lite::AsyncWriteExt;
use tulip_executor::spawn;
use tulip_reactor::Async;
use tulip_ws::{ClientOptions, CloseCode, Message, ServerOptions};

use crate::report::{Report, Scale, rss_kib};

/// Decrements the live-connection count when a server connection ends, however it ends.
struct Live(Arc<AtomicUsize>);

impl Drop for Live {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Relaxed);
    }
}

/// 1,000 clients loop connect, echo a few messages, then either close properly or vanish
/// halfway through a frame; the server must end every connection and leak nothing.
pub fn churn(scale: Scale) -> Report {
    let clients = scale.count(1_000);
    let dur = scale.secs(30, 6);
    let mut r = Report::new("websocket");
    tulip_executor::run(async move {
        let listener = Async::new(TcpListener::bind("127.0.0.1:0").unwrap()).unwrap();
        let addr = listener.get_ref().local_addr().unwrap();
        let live = Arc::new(AtomicUsize::new(0));
        let server_errors = Arc::new(AtomicU64::new(0));
        let (live2, errs2) = (live.clone(), server_errors.clone());
        let acceptor = spawn(async move {
            while let Ok((s, _)) = listener.read_with(|l| l.accept()).await {
                live2.fetch_add(1, Relaxed);
                let guard = Live(live2.clone());
                let errs = errs2.clone();
                spawn(async move {
                    let _guard = guard;
                    let Ok(s) = Async::new(s) else { return };
                    let mut options = ServerOptions::default();
                    options.config.close_timeout = Duration::from_secs(2);
                    let Ok((mut ws, _)) = tulip_ws::accept(s, &options).await else {
                        errs.fetch_add(1, Relaxed);
                        return;
                    };
                    // Vanished peers end in an error here; that is the expected path.
                    while let Ok(m) = ws.receive().await {
                        let stop = match m {
                            Message::Text(_) | Message::Binary(_) => ws.send(m).await.is_err(),
                            Message::Close(_) => true,
                            _ => false,
                        };
                        if stop {
                            return;
                        }
                    }
                })
                .detach();
            }
        });
        let deadline = Instant::now() + dur;
        let echoed = Arc::new(AtomicU64::new(0));
        let vanished = Arc::new(AtomicU64::new(0));
        let mismatches = Arc::new(AtomicU64::new(0));
        let client_errors = Arc::new(AtomicU64::new(0));
        let mut samples = Vec::new();
        let tasks: Vec<_> = (0..clients)
            .map(|i| {
                let (echoed, vanished, mismatches, errors) = (
                    echoed.clone(),
                    vanished.clone(),
                    mismatches.clone(),
                    client_errors.clone(),
                );
                spawn(async move {
                    let mut round = 0u64;
                    while Instant::now() < deadline {
                        round += 1;
                        let Ok(stream) = crate::client::connect(addr).await else {
                            errors.fetch_add(1, Relaxed);
                            continue;
                        };
                        let url = format!("ws://{addr}/");
                        let Ok((mut ws, _)) =
                            tulip_ws::client_handshake(stream, &url, &ClientOptions::default())
                                .await
                        else {
                            errors.fetch_add(1, Relaxed);
                            continue;
                        };
                        for k in 0..4 {
                            let text = format!(
                                "client {i} round {round} message {k} {}",
                                "x".repeat(k * 100)
                            );
                            let ok = ws.send_text(&text).await.is_ok();
                            match ws.receive_text().await {
                                Ok(back) if ok && back == text => echoed.fetch_add(1, Relaxed),
                                Ok(_) => mismatches.fetch_add(1, Relaxed),
                                Err(_) => errors.fetch_add(1, Relaxed),
                            };
                        }
                        if (i as u64 + round) % 2 == 0 {
                            // Half a masked text frame announcing 100 bytes, then gone.
                            let _ = ws
                                .get_ref()
                                .write_all(&[0x81, 0x80 | 100, 1, 2, 3, 4, b'h'])
                                .await;
                            vanished.fetch_add(1, Relaxed);
                            drop(ws);
                        } else if ws.close(CloseCode::NORMAL, "bye").await.is_err() {
                            errors.fetch_add(1, Relaxed);
                        }
                    }
                })
            })
            .collect();
        while Instant::now() < deadline {
            tulip_reactor::sleep(dur / 10).await;
            samples.push(rss_kib().unwrap_or(0));
        }
        for t in tasks {
            let _ = t.await;
        }
        // Vanished peers are noticed when their socket closes; give the server a moment.
        let settle = Instant::now();
        while live.load(Relaxed) > 0 && settle.elapsed() < Duration::from_secs(10) {
            tulip_reactor::sleep(Duration::from_millis(50)).await;
        }
        drop(acceptor);
        r.value("clients", clients as f64);
        r.value("seconds", dur.as_secs_f64());
        r.value("messages_echoed", echoed.load(Relaxed) as f64);
        r.value("vanished_mid_frame", vanished.load(Relaxed) as f64);
        r.value("mismatches", mismatches.load(Relaxed) as f64);
        r.value("client_errors", client_errors.load(Relaxed) as f64);
        r.value(
            "server_handshake_errors",
            server_errors.load(Relaxed) as f64,
        );
        r.value("server_connections_left", live.load(Relaxed) as f64);
        r.text("rss_kib_samples", format!("{samples:?}"));
        r.check(mismatches.load(Relaxed) == 0, "every echo matches");
        r.check(
            client_errors.load(Relaxed) == 0,
            "clients that stay see no errors",
        );
        r.check(
            live.load(Relaxed) == 0,
            "the server ends every connection, vanished ones included",
        );
        r.check(
            vanished.load(Relaxed) > 0,
            "some clients vanished mid-frame",
        );
        r
    })
}
