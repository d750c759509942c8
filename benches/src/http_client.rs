//! HTTP client benchmark: requests/s against one local keep-alive server with 64 requests in
//! flight, tulip's `Client` beside hyper-util's pooled client on tokio.
//!
//! Both clients talk to the same server: a hyper 1.x server on its own two-thread tokio
//! runtime, started once. Each sample sends the same number of `GET /` requests from 64
//! concurrent tasks and reads every body.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use crate::harness::{Bench, Config};

const CONCURRENCY: usize = 64;

pub(crate) fn benches(cfg: &Config) -> Vec<Bench> {
    let requests = cfg.size(6_400, 32_000);
    let addr = server();
    let url = format!("http://{addr}/");

    let tulip_rt = tulip_executor::runtime::Builder::new()
        .worker_threads(2)
        .build()
        .expect("tulip runtime");
    let tulip_client = tulip_http::Client::builder()
        .max_idle_per_host(CONCURRENCY)
        .build();
    let tokio_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let hyper_client = {
        let _g = tokio_rt.enter();
        hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
            .pool_max_idle_per_host(CONCURRENCY)
            .build_http::<http_body_util::Empty<hyper::body::Bytes>>()
    };

    let u1 = url.clone();
    let bench = Bench::new(
        "http_client_get_64",
        format!("{requests} keep-alive GETs, 64 in flight"),
    )
    .with("tulip", move || {
        let (client, url) = (tulip_client.clone(), u1.clone());
        tulip_rt.block_on(async move {
            let t = Instant::now();
            let tasks: Vec<_> = (0..CONCURRENCY)
                .map(|_| {
                    let (client, url) = (client.clone(), url.clone());
                    tulip_executor::spawn(async move {
                        for _ in 0..requests / CONCURRENCY {
                            let body = client
                                .get(&url)
                                .send()
                                .await
                                .unwrap()
                                .bytes()
                                .await
                                .unwrap();
                            assert_eq!(body.len(), 13);
                        }
                    })
                })
                .collect();
            for t in tasks {
                t.await.unwrap();
            }
            t.elapsed()
        })
    })
    .with("hyper-util", move || {
        let (client, uri) = (hyper_client.clone(), url.parse::<hyper::Uri>().unwrap());
        tokio_rt.block_on(async move {
            use http_body_util::BodyExt;
            let t = Instant::now();
            let tasks: Vec<_> = (0..CONCURRENCY)
                .map(|_| {
                    let (client, uri) = (client.clone(), uri.clone());
                    tokio::spawn(async move {
                        for _ in 0..requests / CONCURRENCY {
                            let resp = client.get(uri.clone()).await.unwrap();
                            let body = resp.into_body().collect().await.unwrap().to_bytes();
                            assert_eq!(body.len(), 13);
                        }
                    })
                })
                .collect();
            for t in tasks {
                t.await.unwrap();
            }
            t.elapsed()
        })
    });
    vec![bench]
}

/// One hyper server for every sample, on its own runtime thread.
fn server() -> SocketAddr {
    static ADDR: OnceLock<SocketAddr> = OnceLock::new();
    *ADDR.get_or_init(|| {
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                tx.send(listener.local_addr().unwrap()).unwrap();
                loop {
                    let Ok((stream, _)) = listener.accept().await else {
                        continue;
                    };
                    let _ = stream.set_nodelay(true);
                    tokio::spawn(async move {
                        let svc = hyper::service::service_fn(|_req| async {
                            Ok::<_, Infallible>(hyper::Response::new(http_body_util::Full::new(
                                hyper::body::Bytes::from_static(b"Hello, World!"),
                            )))
                        });
                        let _ = hyper::server::conn::http1::Builder::new()
                            .serve_connection(hyper_util::rt::TokioIo::new(stream), svc)
                            .await;
                    });
                }
            });
        });
        rx.recv_timeout(Duration::from_secs(10))
            .expect("bench server did not start")
    })
}
