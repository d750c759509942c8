//! Async pipes: `connect_read_pipe`/`connect_write_pipe` with streams, and the flag restore.

use std::fs::File;
use std::io::{self, Read, Write};

use futures_lite::AsyncWriteExt;
use rustix::fs::OFlags;
use tulip_net::{StreamReader, StreamWriter, connect_read_pipe, connect_write_pipe};

/// Runs `fut` on this file's own two-worker runtime under a 20 s deadline. A local helper,
/// so this file does not depend on how the shared test support is organised.
fn run<F: std::future::Future>(fut: F) -> F::Output {
    static RT: std::sync::OnceLock<tulip_executor::Runtime> = std::sync::OnceLock::new();
    let rt = RT.get_or_init(|| {
        tulip_executor::runtime::Builder::new()
            .worker_threads(2)
            .build()
            .expect("runtime")
    });
    rt.block_on(async {
        tulip_reactor::timeout(std::time::Duration::from_secs(20), fut)
            .await
            .expect("test timed out")
    })
}

#[test]
fn lines_through_a_pipe_pair_and_blocking_mode_comes_back() {
    run(async {
        let (r, w) = rustix::pipe::pipe().unwrap();
        // Keep duplicates to look at the shared description's flags after the drop.
        let r_probe = r.try_clone().unwrap();
        let w_probe = w.try_clone().unwrap();
        let mut reader = StreamReader::new(connect_read_pipe(r).unwrap());
        let mut writer = StreamWriter::new(connect_write_pipe(w).unwrap());
        assert!(
            rustix::fs::fcntl_getfl(&r_probe)
                .unwrap()
                .contains(OFlags::NONBLOCK)
        );

        // More than a pipe buffer (64 KiB): the writer must wait for the reader.
        let line = vec![b'x'; 999];
        let lines = 200;
        let producer = tulip_executor::spawn(async move {
            for _ in 0..lines {
                writer.write(&line);
                writer.write(b"\n");
                writer.drain().await.unwrap();
            }
            writer
        });
        for _ in 0..lines {
            assert_eq!(reader.read_line().await.unwrap().len(), 1000);
        }
        let mut writer = producer.await.unwrap();
        drop(w_probe);
        // Closing the writer closes the pipe: the reader sees end of file.
        writer.wait_closed().await.unwrap();
        assert_eq!(reader.read_line().await.unwrap(), b"");
        writer.write(b"late");
        assert!(
            writer.drain().await.is_ok(),
            "writes after close are dropped, as asyncio"
        );
        assert_eq!(
            writer.get_mut().write_all(b"x").await.unwrap_err().kind(),
            io::ErrorKind::BrokenPipe
        );
        drop(reader);
        assert!(
            !rustix::fs::fcntl_getfl(&r_probe)
                .unwrap()
                .contains(OFlags::NONBLOCK),
            "dropping the reader must restore blocking mode"
        );
        // Blocking mode really is back: a blocking read sees the (closed) pipe's EOF.
        let mut rest = Vec::new();
        File::from(r_probe).read_to_end(&mut rest).unwrap();
        assert!(rest.is_empty());
    });
}

#[test]
fn a_regular_file_is_refused_with_a_reason() {
    let p = std::env::temp_dir().join(format!("tulip-net-{}-pipe-regular", std::process::id()));
    File::create(&p).unwrap().write_all(b"x").unwrap();
    let err = connect_read_pipe(File::open(&p).unwrap()).unwrap_err();
    std::fs::remove_file(&p).unwrap();
    assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
    assert!(err.to_string().contains("regular file"), "{err}");
}

#[test]
fn dev_null_is_refused_as_unwatchable() {
    let err = connect_read_pipe(File::open("/dev/null").unwrap()).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::InvalidInput, "{err}");
    assert!(err.to_string().contains("/dev/null"), "{err}");
}
