//! Async pipes: `connect_read_pipe`/`connect_write_pipe` with streams, and the flag restore.

use std::fs::File;
use std::io::{self, Read, Write};

use crate::run;
use futures_lite::AsyncWriteExt;
use rustix::fs::OFlags;
use tulip_net::{StreamReader, StreamWriter, connect_read_pipe, connect_write_pipe};

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

/// The child half of `stdin_and_stdout_in_a_child_process`: ignored in normal runs, run by
/// that test in a child process of this binary with its stdin and stdout piped.
#[test]
#[ignore = "run as a child process by stdin_and_stdout_in_a_child_process"]
fn stdin_stdout_child() {
    use tulip_net::{stdin, stdout};
    if std::env::var_os("TULIP_NET_STDIN_CHILD").is_none() {
        eprintln!("skipping: only meaningful as the child of stdin_and_stdout_in_a_child_process");
        return;
    }
    run(async {
        let mut input = StreamReader::new(stdin().unwrap());
        let mut output = StreamWriter::new(stdout().unwrap());
        let line = input.read_line().await.unwrap();
        output.write(b"UPPER:");
        output.write(&line.to_ascii_uppercase());
        output.wait_closed().await.unwrap();
        assert!(
            rustix::fs::fcntl_getfl(std::io::stdin())
                .unwrap()
                .contains(OFlags::NONBLOCK)
        );
        drop(input);
        drop(output);
        let restored = !rustix::fs::fcntl_getfl(std::io::stdin())
            .unwrap()
            .contains(OFlags::NONBLOCK)
            && !rustix::fs::fcntl_getfl(std::io::stdout())
                .unwrap()
                .contains(OFlags::NONBLOCK);
        println!("RESTORED:{restored}");
    });
}

#[test]
fn stdin_and_stdout_in_a_child_process() {
    use std::process::{Command, Stdio};
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--ignored",
            "--exact",
            "pipes::stdin_stdout_child",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("TULIP_NET_STDIN_CHILD", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"hello from the parent\n")
        .unwrap();
    let mut out = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    assert!(child.wait().unwrap().success(), "{out}");
    assert!(out.contains("UPPER:HELLO FROM THE PARENT\n"), "{out}");
    assert!(out.contains("RESTORED:true"), "{out}");
}
