//! Compat futures and streams whose tokio runtime went away: an error, never a panic or a hang.
//!
//! tokio fails a socket's pending read after its runtime shuts down, but panics in a timer's
//! poll; `CompatWith` checks before every poll and reports `RuntimeGone` for both.

use std::time::Duration;

use futures_lite::future::poll_once;
use futures_lite::io::AsyncReadExt;
use tulip_compat::{CompatExt, RuntimeGone, TokioContext};

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap()
}

/// Drops `rt` on a blocking thread (tokio refuses to drop a runtime from async code only
/// inside its own context, but a tulip worker should not block on the shutdown either).
async fn drop_runtime(rt: tokio::runtime::Runtime) {
    tulip_executor::spawn_blocking(move || drop(rt))
        .await
        .unwrap();
}

#[test]
fn a_pending_timer_completes_with_runtime_gone() {
    let rt = runtime();
    let ctx = TokioContext::from_handle(rt.handle().clone());
    tulip_executor::run(async move {
        let nap = async { tokio::time::sleep(Duration::from_secs(3600)).await };
        let mut nap = Box::pin(nap.compat_with(&ctx));
        assert!(poll_once(&mut nap).await.is_none(), "the timer is armed");
        drop_runtime(rt).await;
        assert!(!ctx.is_alive());
        assert_eq!(nap.as_mut().await, Err(RuntimeGone::new()));
        // Polled again: the same error, still no panic.
        assert_eq!(nap.await, Err(RuntimeGone::new()));
    });
}

#[test]
fn a_task_waiting_on_a_timer_is_woken_with_runtime_gone() {
    // Nobody polls the future by hand here: tokio's shutdown must wake it (it fires every
    // timer), and the poll that follows must report the runtime gone. The runtime is dropped
    // while the bound future may still be inside its first poll, so this also runs the path
    // where tokio panics in the middle of a poll.
    let rt = runtime();
    let ctx = TokioContext::from_handle(rt.handle().clone());
    tulip_executor::run(async move {
        let (armed_tx, armed_rx) = std::sync::mpsc::channel();
        let waiter = tulip_executor::spawn(
            async move {
                armed_tx.send(()).unwrap();
                tokio::time::sleep(Duration::from_secs(3600)).await;
            }
            .compat_with(&ctx),
        );
        tulip_executor::spawn_blocking(move || {
            armed_rx.recv().unwrap();
            drop(rt);
        })
        .await
        .unwrap();
        let out = tulip_reactor::timeout(Duration::from_secs(10), waiter)
            .await
            .expect("woken by the shutdown, not left hanging");
        assert_eq!(out.unwrap(), Err(RuntimeGone::new()));
    });
}

#[test]
fn a_pending_socket_read_completes_with_runtime_gone() {
    let rt = runtime();
    let ctx = TokioContext::from_handle(rt.handle().clone());
    tulip_executor::run(async move {
        let (client, _server) = async {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
            let client = tokio::net::TcpStream::connect(listener.local_addr()?).await?;
            let server = listener.accept().await?;
            Ok::<_, std::io::Error>((client, server))
        }
        .compat_with(&ctx)
        .await
        .expect("runtime alive")
        .expect("loopback pair");

        // A bound future waiting on a read, and the socket itself as a futures-io stream.
        let mut reading = Box::pin(
            async move {
                let mut client = client;
                let mut buf = [0u8; 8];
                tokio::io::AsyncReadExt::read(&mut client, &mut buf).await
            }
            .compat_with(&ctx),
        );
        assert!(
            poll_once(&mut reading).await.is_none(),
            "nothing to read yet"
        );
        let (other, _other_server) = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            let c = std::net::TcpStream::connect(l.local_addr().unwrap()).unwrap();
            let s = l.accept().unwrap().0;
            c.set_nonblocking(true).unwrap();
            (c, s)
        };
        let other = async { tokio::net::TcpStream::from_std(other) }
            .compat_with(&ctx)
            .await
            .unwrap()
            .unwrap();
        let mut stream = other.compat_with(&ctx);
        let mut buf = [0u8; 8];
        assert!(poll_once(stream.read(&mut buf)).await.is_none());

        drop_runtime(rt).await;
        assert_eq!(reading.await.unwrap_err(), RuntimeGone::new());
        let err = stream.read(&mut buf).await.unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::Other);
        assert!(
            err.get_ref().is_some_and(|inner| inner.is::<RuntimeGone>()),
            "the cause is kept: {err}"
        );
    });
}

#[test]
fn the_shared_runtime_outlives_any_runtime_of_the_callers() {
    let rt = runtime();
    drop(rt);
    let n = tulip_executor::run(async {
        async {
            tokio::time::sleep(Duration::from_millis(1)).await;
            tokio::spawn(async { 5 }).await.unwrap()
        }
        .compat()
        .await
    });
    assert_eq!(n, 5);
    assert!(TokioContext::shared().unwrap().is_alive());
}
