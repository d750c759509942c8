//! aioconsole: an interactive console served over TCP that evaluates simple commands against
//! the running event loop.
//!
//! Commands: `help`, `tasks` (asyncio.all_tasks), `spawn NAME SECS` (start a named sleeper
//! task), `cancel NAME`, `sleep MS`, `echo TEXT`, `time` (loop time), `calc A OP B`, `quit`.
//!
//! Run: `cargo run -p examples --example console` and connect with `nc 127.0.0.1 8023`.
//! `--self-test` serves on a free loopback port, drives a session itself, checks the answers
//! and exits.

use std::collections::HashMap;
use std::io;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tulip::executor::task::Builder;
use tulip::net::{StreamReader, StreamWriter, open_connection, start_server};
use tulip::{Task, all_tasks, sleep};

type Named = Arc<Mutex<HashMap<String, Task<()>>>>;

/// Evaluates one command line; `None` means the client asked to quit.
async fn eval(line: &str, named: &Named, started: Instant) -> Option<String> {
    let mut words = line.split_whitespace();
    let cmd = words.next().unwrap_or("");
    let rest: Vec<&str> = words.collect();
    Some(match (cmd, rest.as_slice()) {
        ("", _) => String::new(),
        ("help", _) => "commands: help tasks spawn cancel sleep echo time calc quit".into(),
        ("quit", _) => return None,
        ("echo", words) => words.join(" "),
        ("time", _) => format!("loop time {:.3}s", started.elapsed().as_secs_f64()),
        ("tasks", _) => {
            let mut names: Vec<String> = all_tasks()
                .iter()
                .map(|t| t.name.clone().unwrap_or_else(|| format!("task-{}", t.id)))
                .collect();
            names.sort();
            format!("{} tasks: {}", names.len(), names.join(", "))
        }
        ("spawn", [name, secs]) => match secs.parse::<f64>() {
            Ok(s) if (0.0..=3600.0).contains(&s) => {
                let task = Builder::new()
                    .name(*name)
                    .spawn(sleep(Duration::from_secs_f64(s)));
                named.lock().unwrap().insert(name.to_string(), task);
                format!("spawned {name}")
            }
            _ => format!("error: bad duration {secs:?}"),
        },
        ("cancel", [name]) => {
            let task = named.lock().unwrap().remove(*name);
            match task {
                Some(t) => {
                    t.cancel().await;
                    format!("cancelled {name}")
                }
                None => format!("error: no task {name:?}"),
            }
        }
        ("sleep", [ms]) => match ms.parse::<u64>() {
            Ok(ms) if ms <= 10_000 => {
                sleep(Duration::from_millis(ms)).await;
                format!("slept {ms} ms")
            }
            _ => format!("error: bad milliseconds {ms:?}"),
        },
        ("calc", [a, op, b]) => match (a.parse::<f64>(), b.parse::<f64>()) {
            (Ok(a), Ok(b)) => match *op {
                "+" => format!("{}", a + b),
                "-" => format!("{}", a - b),
                "*" => format!("{}", a * b),
                "/" if b != 0.0 => format!("{}", a / b),
                "/" => "error: division by zero".into(),
                _ => format!("error: unknown operator {op:?}"),
            },
            _ => "error: calc takes numbers".into(),
        },
        (cmd, _) => format!("error: unknown command {cmd:?} (try help)"),
    })
}

async fn session(mut r: StreamReader, mut w: StreamWriter, named: Named, started: Instant) {
    w.write(b"tulip console; type help\n>>> ");
    while w.drain().await.is_ok() {
        let line = match r.read_line().await {
            Ok(l) if !l.is_empty() => l,
            _ => break, // EOF, over-long line or reset: end the session
        };
        let line = String::from_utf8_lossy(&line);
        match eval(line.trim(), &named, started).await {
            Some(out) => {
                w.write(out.as_bytes());
                w.write(b"\n>>> ");
            }
            None => {
                w.write(b"bye\n");
                let _ = w.drain().await;
                break;
            }
        }
    }
    w.close();
}

async fn ask(r: &mut StreamReader, w: &mut StreamWriter, cmd: &str) -> io::Result<String> {
    w.write(format!("{cmd}\n").as_bytes());
    w.drain().await?;
    let out = r.read_until(b">>> ").await.map_err(io::Error::other)?;
    let text = String::from_utf8_lossy(&out)
        .trim_end_matches(">>> ")
        .trim()
        .to_string();
    println!(">>> {cmd}\n{text}");
    Ok(text)
}

fn main() -> io::Result<()> {
    let self_test = std::env::args().any(|a| a == "--self-test");
    tulip::run(async move {
        let named: Named = Arc::default();
        let started = Instant::now();
        let addr = if self_test {
            "127.0.0.1:0"
        } else {
            "127.0.0.1:8023"
        }
        .parse()
        .unwrap();
        let server = start_server(move |r, w| session(r, w, named.clone(), started), addr)?;
        let port = server.local_addr().expect("bound").port();
        if !self_test {
            println!("console on 127.0.0.1:{port}; connect with: nc 127.0.0.1 {port}");
            server.serve_forever().await;
            return Ok(());
        }
        let (mut r, mut w) = open_connection("127.0.0.1", port).await?;
        r.read_until(b">>> ").await.map_err(io::Error::other)?;
        assert_eq!(ask(&mut r, &mut w, "echo hello loop").await?, "hello loop");
        assert_eq!(ask(&mut r, &mut w, "calc 6 * 7").await?, "42");
        assert_eq!(
            ask(&mut r, &mut w, "spawn sleeper 30").await?,
            "spawned sleeper"
        );
        assert!(ask(&mut r, &mut w, "tasks").await?.contains("sleeper"));
        assert_eq!(
            ask(&mut r, &mut w, "cancel sleeper").await?,
            "cancelled sleeper"
        );
        assert!(!ask(&mut r, &mut w, "tasks").await?.contains("sleeper"));
        assert!(
            ask(&mut r, &mut w, "frobnicate")
                .await?
                .starts_with("error: unknown command")
        );
        assert_eq!(ask(&mut r, &mut w, "sleep 5").await?, "slept 5 ms");
        w.write(b"quit\n");
        w.drain().await?;
        assert_eq!(r.read_line().await.map_err(io::Error::other)?, b"bye\n");
        server.close();
        println!("console self-test ok");
        Ok(())
    })
}
