//! Process benchmarks: spawn + wait of `true`, tulip-process beside tokio::process and
//! async-process (smol), each on its own single-thread loop.
//!
//! A spawn is dominated by the kernel (`fork`/`exec`, or `posix_spawn`'s `vfork`), the same
//! for everyone; what differs is the watching: tulip waits on a pidfd in the reactor, tokio
//! on a pidfd or SIGCHLD, async-process on its reaper.

use std::time::{Duration, Instant};

use crate::harness::{Bench, Config};

pub(crate) fn benches(cfg: &Config) -> Vec<Bench> {
    let n = cfg.size(200, 2_000);
    let mb = cfg.size(8, 32);
    vec![
        spawn_wait(n),
        spawn_wait_concurrent(n, 16),
        cat_round_trip(mb),
    ]
}

fn spawn_wait(n: usize) -> Bench {
    let mut b = Bench::new(
        "process_spawn_wait",
        format!("{n} × spawn `true` + wait, one at a time"),
    );
    b = b.with("tulip", move || {
        tulip_reactor::block_on(async {
            let t = Instant::now();
            for _ in 0..n {
                let status = tulip_process::Command::new("true")
                    .spawn()
                    .unwrap()
                    .wait()
                    .await;
                assert!(status.unwrap().success());
            }
            t.elapsed()
        })
    });
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    b = b.with("tokio", move || {
        rt.block_on(async {
            let t = Instant::now();
            for _ in 0..n {
                let status = tokio::process::Command::new("true")
                    .spawn()
                    .unwrap()
                    .wait()
                    .await;
                assert!(status.unwrap().success());
            }
            t.elapsed()
        })
    });
    b.with("async-process", move || {
        async_io::block_on(async {
            let t = Instant::now();
            for _ in 0..n {
                let status = async_process::Command::new("true")
                    .spawn()
                    .unwrap()
                    .status()
                    .await;
                assert!(status.unwrap().success());
            }
            t.elapsed()
        })
    })
}

/// `n` spawns with `width` children in flight at a time, all on one thread.
fn spawn_wait_concurrent(n: usize, width: usize) -> Bench {
    let name = format!("process_spawn_wait/in_flight={width}");
    let mut b = Bench::new(name, format!("{n} × spawn `true` + wait"));
    b = b.with("tulip", move || {
        tulip_reactor::block_on(in_flight(n, width, || async {
            let mut child = tulip_process::Command::new("true").spawn().unwrap();
            assert!(child.wait().await.unwrap().success());
        }))
    });
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    b = b.with("tokio", move || {
        rt.block_on(in_flight(n, width, || async {
            let mut child = tokio::process::Command::new("true").spawn().unwrap();
            assert!(child.wait().await.unwrap().success());
        }))
    });
    b.with("async-process", move || {
        async_io::block_on(in_flight(n, width, || async {
            let mut child = async_process::Command::new("true").spawn().unwrap();
            assert!(child.status().await.unwrap().success());
        }))
    })
}

/// Runs `n` futures from `make`, at most `width` at once, on the current task.
async fn in_flight<F: std::future::Future<Output = ()>>(
    n: usize,
    width: usize,
    make: impl Fn() -> F,
) -> Duration {
    let t = Instant::now();
    let mut started = 0;
    let mut running: Vec<std::pin::Pin<Box<F>>> = Vec::with_capacity(width);
    futures_lite::future::poll_fn(|cx| {
        loop {
            while running.len() < width && started < n {
                running.push(Box::pin(make()));
                started += 1;
            }
            let before = running.len();
            running.retain_mut(|f| f.as_mut().poll(cx).is_pending());
            if running.is_empty() && started == n {
                return std::task::Poll::Ready(());
            }
            if running.len() == before {
                return std::task::Poll::Pending;
            }
        }
    })
    .await;
    t.elapsed()
}

/// `mb` MiB written to `cat` and read back at the same time, in 64 KiB application chunks.
fn cat_round_trip(mb: usize) -> Bench {
    let len = mb << 20;
    let mut b = Bench::new(
        "process_cat_round_trip",
        format!("{mb} MiB through `cat` and back"),
    );
    b = b.with("tulip", move || {
        use futures_lite::{AsyncReadExt, AsyncWriteExt};
        tulip_reactor::block_on(async {
            let t = Instant::now();
            let mut child = tulip_process::Command::new("cat")
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::piped())
                .spawn()
                .unwrap();
            let (mut stdin, mut stdout) =
                (child.stdin.take().unwrap(), child.stdout.take().unwrap());
            let write = async move {
                let chunk = vec![7u8; 64 << 10];
                for _ in 0..len / chunk.len() {
                    stdin.write_all(&chunk).await.unwrap();
                }
            };
            let read = async move {
                let (mut buf, mut total) = (vec![0u8; 64 << 10], 0);
                while total < len {
                    total += stdout.read(&mut buf).await.unwrap();
                }
            };
            futures_lite::future::zip(write, read).await;
            child.wait().await.unwrap();
            t.elapsed()
        })
    });
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    b = b.with("tokio", move || {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        rt.block_on(async {
            let t = Instant::now();
            let mut child = tokio::process::Command::new("cat")
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::piped())
                .spawn()
                .unwrap();
            let (mut stdin, mut stdout) =
                (child.stdin.take().unwrap(), child.stdout.take().unwrap());
            let write = async move {
                let chunk = vec![7u8; 64 << 10];
                for _ in 0..len / chunk.len() {
                    stdin.write_all(&chunk).await.unwrap();
                }
            };
            let read = async move {
                let (mut buf, mut total) = (vec![0u8; 64 << 10], 0);
                while total < len {
                    total += stdout.read(&mut buf).await.unwrap();
                }
            };
            tokio::join!(write, read);
            child.wait().await.unwrap();
            t.elapsed()
        })
    });
    b.with("async-process", move || {
        use futures_lite::{AsyncReadExt, AsyncWriteExt};
        async_io::block_on(async {
            let t = Instant::now();
            let mut child = async_process::Command::new("cat")
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::piped())
                .spawn()
                .unwrap();
            let (mut stdin, mut stdout) =
                (child.stdin.take().unwrap(), child.stdout.take().unwrap());
            let write = async move {
                let chunk = vec![7u8; 64 << 10];
                for _ in 0..len / chunk.len() {
                    stdin.write_all(&chunk).await.unwrap();
                }
            };
            let read = async move {
                let (mut buf, mut total) = (vec![0u8; 64 << 10], 0);
                while total < len {
                    total += stdout.read(&mut buf).await.unwrap();
                }
            };
            futures_lite::future::zip(write, read).await;
            child.status().await.unwrap();
            t.elapsed()
        })
    })
}
