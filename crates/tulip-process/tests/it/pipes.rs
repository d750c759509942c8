//! Piped stdio: large transfers, communicate without deadlock, broken pipes, chaining.

use std::io::ErrorKind;

use futures_lite::future::try_zip;
use futures_lite::io::BufReader;
use futures_lite::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, StreamExt};
use tulip_process::{Command, Stdio};

use crate::run;

const MB10: usize = 10 * 1024 * 1024;

fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i % 251) as u8).collect()
}

#[test]
fn ten_megabytes_round_trip_through_cat() {
    let data = pattern(MB10);
    run(async {
        let mut child = Command::new("cat")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        let mut stdout = child.stdout.take().unwrap();
        let write = async {
            stdin.write_all(&data).await?;
            drop(stdin);
            Ok(())
        };
        let read = async {
            // Chunked: futures-lite's read_to_end re-zeroes its spare capacity after every
            // Pending, which makes 10 MB over a pipe crawl in debug builds.
            let mut back = Vec::new();
            let mut chunk = vec![0; 64 * 1024];
            loop {
                match stdout.read(&mut chunk).await? {
                    0 => break,
                    n => back.extend_from_slice(&chunk[..n]),
                }
            }
            Ok::<_, std::io::Error>(back)
        };
        let ((), back) = try_zip(write, read).await.unwrap();
        assert_eq!(back.len(), data.len());
        assert!(back == data, "cat returned different bytes");
        assert!(child.wait().await.unwrap().success());
    });
}

#[test]
fn communicate_moves_ten_megabytes_each_way_without_deadlock() {
    // The child echoes its input to stdout while writing 10 MB of zeros to stderr: writing all
    // input before reading, or reading one stream before the other, would deadlock.
    let input = pattern(MB10);
    run(async {
        let mut child = Command::shell("head -c 10485760 /dev/zero >&2 & cat; wait")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let (out, err) = child.communicate(Some(&input)).await.unwrap();
        assert!(out == input, "stdout differs from the input");
        assert_eq!(err.len(), MB10);
        assert!(err.iter().all(|&b| b == 0));
        assert!(child.try_wait().unwrap().unwrap().success());
        assert!(child.wait().await.unwrap().success());
    });
}

#[test]
fn a_child_closing_stdin_early_is_an_error_value() {
    run(async {
        // `head -c 1` reads one byte and exits, closing its end of the pipe.
        let mut child = Command::new("head")
            .args(["-c", "1"])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        let err = stdin.write_all(&vec![b'x'; MB10]).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::BrokenPipe);
        assert!(child.wait().await.unwrap().success());

        // communicate treats the same thing as the normal end of the conversation.
        let mut child = Command::new("true")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let (out, err) = child.communicate(Some(&vec![b'x'; MB10])).await.unwrap();
        assert!(out.is_empty() && err.is_empty());
        assert!(child.wait().await.unwrap().success());
    });
}

#[test]
fn lines_are_read_as_they_come() {
    run(async {
        let mut child = Command::shell("for i in 1 2 3; do echo line $i; done")
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let mut seen = Vec::new();
        while let Some(line) = lines.next().await {
            seen.push(line.unwrap());
        }
        assert_eq!(seen, ["line 1", "line 2", "line 3"]);
        assert!(child.wait().await.unwrap().success());
    });
}

#[test]
fn a_pipe_end_becomes_the_next_childs_stdin() {
    run(async {
        let mut first = Command::new("echo")
            .arg("piped through")
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let stdio = first.stdout.take().unwrap().into_stdio().unwrap();
        let out = Command::new("tr")
            .args(["a-z", "A-Z"])
            .stdin(stdio)
            .output()
            .await
            .unwrap();
        assert_eq!(out.stdout, b"PIPED THROUGH\n");
        assert!(first.wait().await.unwrap().success());
    });
}

#[test]
fn output_beyond_the_limit_is_invalid_data() {
    run(async {
        let err = Command::new("head")
            .args(["-c", "100000", "/dev/zero"])
            .output_limit(1000)
            .output()
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidData);
        assert!(err.to_string().contains("stdout"), "{err}");

        let out = Command::new("head")
            .args(["-c", "1000", "/dev/zero"])
            .output_limit(1000)
            .output()
            .await
            .unwrap();
        assert_eq!(out.stdout.len(), 1000);
    });
}

#[test]
fn asyncio_streams_over_the_pipes() {
    run(async {
        let mut child = Command::new("cat")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut writer = child.stdin.take().unwrap().into_writer();
        let mut reader = child.stdout.take().unwrap().into_reader();
        writer.write(b"first line\nsecond");
        writer.write(b" line\n--end--tail");
        writer.drain().await.unwrap();
        assert_eq!(reader.read_line().await.unwrap(), b"first line\n");
        assert_eq!(reader.read_line().await.unwrap(), b"second line\n");
        assert_eq!(reader.read_until(b"--end--").await.unwrap(), b"--end--");
        // write_eof closes the pipe: cat sees end-of-file, flushes and exits.
        writer.write_eof().await.unwrap();
        assert_eq!(reader.read_exactly(4).await.unwrap(), b"tail");
        assert!(reader.read(10).await.unwrap().is_empty());
        assert!(child.wait().await.unwrap().success());
    });
}

#[test]
fn writing_after_close_is_an_error_value() {
    run(async {
        let mut child = Command::new("cat")
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        let stdin = child.stdin.as_mut().unwrap();
        stdin.write_all(b"x").await.unwrap();
        stdin.close().await.unwrap();
        stdin.close().await.unwrap();
        let err = stdin.write_all(b"y").await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::BrokenPipe);
        assert!(child.wait().await.unwrap().success(), "cat saw end-of-file");
    });
}

/// A pipe that carried a bulk stream has grown (Linux), and one that carried a line has not.
#[cfg(any(target_os = "linux", target_os = "android"))]
#[test]
fn bulk_pipes_grow_and_small_ones_keep_their_size() {
    let data = pattern(MB10 / 10);
    run(async {
        let mut child = Command::shell("cat; echo done >&2")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        let mut stdout = child.stdout.take().unwrap();
        let mut stderr = child.stderr.take().unwrap();
        let default = rustix::pipe::fcntl_getpipe_size(&stdout).unwrap();
        let write = async {
            stdin.write_all(&data).await?;
            // Still open: the size of its pipe is read below.
            Ok(stdin)
        };
        let read = async {
            let mut chunk = vec![0; 64 * 1024];
            let mut total = 0;
            while total < data.len() {
                total += stdout.read(&mut chunk).await?;
            }
            Ok::<_, std::io::Error>(total)
        };
        let (stdin, total) = try_zip(write, read).await.unwrap();
        assert_eq!(total, data.len());
        let stdin_fd = std::os::fd::AsRawFd::as_raw_fd(&stdin);
        // Both ends of the pipe report its size; the read end of stdin's pipe is the child's,
        // so ask through /proc, which needs no borrowed descriptor.
        let stdin_size = rustix::pipe::fcntl_getpipe_size(
            std::fs::File::open(format!("/proc/self/fd/{stdin_fd}")).unwrap(),
        )
        .unwrap();
        assert_eq!(stdin_size, 1 << 20);
        assert_eq!(rustix::pipe::fcntl_getpipe_size(&stdout).unwrap(), 1 << 20);
        drop(stdin);
        let mut err = String::new();
        stderr.read_to_string(&mut err).await.unwrap();
        assert_eq!(err, "done\n");
        assert_eq!(rustix::pipe::fcntl_getpipe_size(&stderr).unwrap(), default);
        assert!(child.wait().await.unwrap().success());
    });
}
