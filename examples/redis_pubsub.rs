//! A Redis pub/sub subscriber and publisher speaking RESP over tulip-net streams.
//!
//! The subscriber sends `SUBSCRIBE`, then reads pushed messages with `StreamReader`'s
//! `read_line` / `read_exactly`; the publisher sends `PUBLISH` on a second connection.
//!
//! Run against a server: `redis-server --port 6379 &` then
//! `cargo run -p examples --example redis_pubsub -- 127.0.0.1 6379`.
//! `--self-test` starts its own `redis-server` on a free loopback port (with tulip-process),
//! publishes three messages, checks the subscriber got them in order, and stops the server.
//! It prints `skipped: redis-server not installed` when there is none.

use std::io;
use std::time::Duration;

use tulip::net::{StreamReader, StreamWriter, open_connection};
use tulip::process::{Command, Stdio};
use tulip::{sleep, spawn, timeout};

/// A RESP reply (the subset pub/sub uses).
#[derive(Debug, Clone, PartialEq)]
enum Reply {
    Simple(String),
    Error(String),
    Int(i64),
    Bulk(Option<Vec<u8>>),
    Array(Vec<Reply>),
}

fn encode(args: &[&[u8]]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for a in args {
        out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
    out
}

fn bad(msg: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg.into())
}

/// Reads one reply. Sizes are bounded so a hostile server cannot make us allocate without limit.
async fn read_reply(r: &mut StreamReader) -> io::Result<Reply> {
    let mut stack: Vec<(usize, Vec<Reply>)> = Vec::new();
    loop {
        let line = r.read_line().await.map_err(io::Error::other)?;
        let line = line
            .strip_suffix(b"\r\n")
            .ok_or_else(|| bad("reply line without CRLF"))?;
        let (kind, rest) = line.split_first().ok_or_else(|| bad("empty reply line"))?;
        let text = String::from_utf8_lossy(rest).into_owned();
        let int = || {
            text.parse::<i64>()
                .map_err(|_| bad(format!("bad number {text:?}")))
        };
        let reply = match kind {
            b'+' => Reply::Simple(text.clone()),
            b'-' => Reply::Error(text.clone()),
            b':' => Reply::Int(int()?),
            b'$' => match int()? {
                -1 => Reply::Bulk(None),
                n if (0..=512 * 1024 * 1024).contains(&n) => {
                    let mut data = r
                        .read_exactly(n as usize + 2)
                        .await
                        .map_err(io::Error::other)?;
                    data.truncate(n as usize);
                    Reply::Bulk(Some(data))
                }
                n => return Err(bad(format!("bulk length {n} out of range"))),
            },
            b'*' => match int()? {
                n if (0..=1_000_000).contains(&n) => {
                    if n == 0 {
                        Reply::Array(Vec::new())
                    } else {
                        stack.push((n as usize, Vec::new()));
                        continue;
                    }
                }
                n => return Err(bad(format!("array length {n} out of range"))),
            },
            other => return Err(bad(format!("unknown reply type {:?}", *other as char))),
        };
        // Fold completed arrays upwards.
        let mut reply = reply;
        loop {
            match stack.last_mut() {
                None => return Ok(reply),
                Some((want, items)) => {
                    items.push(reply);
                    if items.len() < *want {
                        break;
                    }
                    let (_, items) = stack.pop().unwrap();
                    reply = Reply::Array(items);
                }
            }
        }
    }
}

async fn command(r: &mut StreamReader, w: &mut StreamWriter, args: &[&[u8]]) -> io::Result<Reply> {
    w.write(&encode(args));
    w.drain().await?;
    read_reply(r).await
}

/// Subscribes to `channel` and returns the first `n` messages published on it.
async fn subscriber(
    host: String,
    port: u16,
    channel: String,
    n: usize,
    ready: tulip::sync::mpsc::Sender<()>,
) -> io::Result<Vec<String>> {
    let (mut r, mut w) = open_connection(&host, port).await?;
    let confirm = command(&mut r, &mut w, &[b"SUBSCRIBE", channel.as_bytes()]).await?;
    println!("subscriber: {confirm:?}");
    let _ = ready.send(()).await;
    let mut got = Vec::new();
    while got.len() < n {
        match read_reply(&mut r).await? {
            Reply::Array(items)
                if items.first() == Some(&Reply::Bulk(Some(b"message".to_vec()))) =>
            {
                if let Some(Reply::Bulk(Some(data))) = items.get(2) {
                    let msg = String::from_utf8_lossy(data).into_owned();
                    println!("subscriber: got {msg:?}");
                    got.push(msg);
                }
            }
            other => println!("subscriber: {other:?}"),
        }
    }
    Ok(got)
}

async fn publisher(host: &str, port: u16, channel: &str, messages: &[&str]) -> io::Result<()> {
    let (mut r, mut w) = open_connection(host, port).await?;
    for m in messages {
        let reply = command(
            &mut r,
            &mut w,
            &[b"PUBLISH", channel.as_bytes(), m.as_bytes()],
        )
        .await?;
        println!("publisher: PUBLISH {m:?} -> {reply:?}");
    }
    Ok(())
}

async fn pubsub(host: String, port: u16) -> io::Result<()> {
    let messages = ["hello", "from", "tulip"];
    let (ready_tx, mut ready_rx) = tulip::sync::mpsc::bounded(1);
    let sub = spawn(subscriber(
        host.clone(),
        port,
        "news".into(),
        messages.len(),
        ready_tx,
    ));
    ready_rx
        .recv()
        .await
        .ok_or_else(|| bad("subscriber failed before subscribing"))?;
    publisher(&host, port, "news", &messages).await?;
    let got = timeout(Duration::from_secs(10), sub)
        .await
        .map_err(io::Error::from)?
        .map_err(|e| io::Error::other(e.to_string()))??;
    assert_eq!(got, messages, "messages lost or reordered");
    println!("pub/sub round trip ok: {got:?}");
    Ok(())
}

async fn self_test() -> io::Result<()> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let mut server = match Command::new("redis-server")
        .args([
            "--bind",
            "127.0.0.1",
            "--port",
            &port.to_string(),
            "--save",
            "",
            "--appendonly",
            "no",
        ])
        .stdout(Stdio::null())
        .kill_on_drop(true)
        .spawn()
    {
        Ok(child) => child,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            println!("skipped: redis-server not installed");
            return Ok(());
        }
        Err(e) => return Err(e),
    };
    // Wait until it accepts connections.
    let mut up = false;
    for _ in 0..100 {
        if open_connection("127.0.0.1", port).await.is_ok() {
            up = true;
            break;
        }
        sleep(Duration::from_millis(50)).await;
    }
    let res = if up {
        pubsub("127.0.0.1".into(), port).await
    } else {
        Err(bad("redis-server did not start"))
    };
    server.kill()?;
    server.wait().await?;
    res
}

fn main() -> io::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    tulip::run(async move {
        if args.iter().any(|a| a == "--self-test") {
            return self_test().await;
        }
        let host = args.first().cloned().unwrap_or_else(|| "127.0.0.1".into());
        let port = args.get(1).and_then(|p| p.parse().ok()).unwrap_or(6379);
        pubsub(host, port).await
    })
}
