//! aioconsole: an interactive console on stdin that evaluates commands against the running
//! event loop while a background task keeps ticking.
//!
//! Commands: `help`, `tasks` (asyncio.all_tasks), `ticks` (what the background task counted),
//! `spawn NAME SECS` (start a named sleeper task), `cancel NAME`, `sleep MS`, `echo TEXT`,
//! `time` (loop time), `calc A OP B`, `quit`. End of input (Ctrl-D) quits too.
//!
//! Run: `cargo run -p examples --example console` and type at the `>>> ` prompt. stdin and
//! stdout are tulip-net's async pipes (`tulip::net::stdin()`/`stdout()`), so reading a line
//! never blocks a worker thread and the ticker keeps running; the terminal's blocking mode
//! is restored on exit. Redirected from or to a regular file (`console < script > log`),
//! which epoll cannot watch, it reads and writes the file directly. `--serve` serves the same console over TCP on 127.0.0.1:8023
//! instead (connect with `nc 127.0.0.1 8023`), as aioconsole's `apython --serve` does.
//!
//! `--self-test` runs itself as a child process with piped stdin and stdout (tulip-process),
//! drives a session through the pipes, checks the answers, then does the same over TCP.

use std::collections::HashMap;
use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_lite::io::{AssertAsync, AsyncRead, AsyncWrite};
use tulip::executor::task::Builder;
use tulip::net::{StreamReader, StreamWriter, open_connection, start_server};
use tulip::process::{Command, Stdio};
use tulip::{Task, all_tasks, sleep};

/// What every session shares: the named tasks and the background task's count.
#[derive(Clone)]
struct Console {
    named: Arc<Mutex<HashMap<String, Task<()>>>>,
    ticks: Arc<AtomicU64>,
    started: Instant,
}

impl Console {
    fn new() -> Console {
        let console = Console {
            named: Arc::default(),
            ticks: Arc::default(),
            started: Instant::now(),
        };
        // The background task the console runs alongside: proof the loop stays live while a
        // session waits for input.
        let ticks = console.ticks.clone();
        Builder::new()
            .name("ticker")
            .spawn(async move {
                let mut every = tulip::interval(Duration::from_millis(10));
                loop {
                    every.tick().await;
                    ticks.fetch_add(1, Ordering::Relaxed);
                }
            })
            .detach();
        console
    }

    /// Evaluates one command line; `None` means quit.
    async fn eval(&self, line: &str) -> Option<String> {
        let mut words = line.split_whitespace();
        let cmd = words.next().unwrap_or("");
        let rest: Vec<&str> = words.collect();
        Some(match (cmd, rest.as_slice()) {
            ("", _) => String::new(),
            ("help", _) => {
                "commands: help tasks ticks spawn cancel sleep echo time calc quit".into()
            }
            ("quit", _) => return None,
            ("echo", words) => words.join(" "),
            ("time", _) => format!("loop time {:.3}s", self.started.elapsed().as_secs_f64()),
            ("ticks", _) => format!("{} ticks", self.ticks.load(Ordering::Relaxed)),
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
                    self.named.lock().unwrap().insert(name.to_string(), task);
                    format!("spawned {name}")
                }
                _ => format!("error: bad duration {secs:?}"),
            },
            ("cancel", [name]) => {
                let task = self.named.lock().unwrap().remove(*name);
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

    /// A read-eval-print loop over any reader and writer: stdin/stdout or a TCP connection.
    async fn session<R, W>(self, mut r: StreamReader<R>, mut w: StreamWriter<W>)
    where
        R: AsyncRead + Unpin,
        W: AsyncWrite + Unpin,
    {
        w.write(b"tulip console; type help\n>>> ");
        while w.drain().await.is_ok() {
            let line = match r.read_line().await {
                Ok(l) if !l.is_empty() => l,
                _ => break, // EOF, over-long line or reset: end the session
            };
            let line = String::from_utf8_lossy(&line);
            match self.eval(line.trim()).await {
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
        let _ = w.wait_closed().await;
    }
}

/// Sends `cmd` and returns the answer printed before the next prompt.
async fn ask<R, W>(
    r: &mut StreamReader<R>,
    w: &mut StreamWriter<W>,
    cmd: &str,
) -> io::Result<String>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
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

/// The checks both self-tests run.
async fn drive<R, W>(r: &mut StreamReader<R>, w: &mut StreamWriter<W>) -> io::Result<()>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    r.read_until(b">>> ").await.map_err(io::Error::other)?;
    assert_eq!(ask(r, w, "echo hello loop").await?, "hello loop");
    assert_eq!(ask(r, w, "calc 6 * 7").await?, "42");
    assert_eq!(ask(r, w, "spawn sleeper 30").await?, "spawned sleeper");
    let tasks = ask(r, w, "tasks").await?;
    assert!(
        tasks.contains("sleeper") && tasks.contains("ticker"),
        "{tasks}"
    );
    assert_eq!(ask(r, w, "cancel sleeper").await?, "cancelled sleeper");
    assert!(!ask(r, w, "tasks").await?.contains("sleeper"));
    assert!(
        ask(r, w, "frobnicate")
            .await?
            .starts_with("error: unknown command")
    );
    // The background task keeps counting while the console waits on its input: two answers
    // 50 ms of loop time apart must show more ticks.
    let before: u64 = ask(r, w, "ticks")
        .await?
        .trim_end_matches(" ticks")
        .parse()
        .unwrap();
    assert_eq!(ask(r, w, "sleep 50").await?, "slept 50 ms");
    let after: u64 = ask(r, w, "ticks")
        .await?
        .trim_end_matches(" ticks")
        .parse()
        .unwrap();
    assert!(after > before, "the ticker stalled: {before} then {after}");
    w.write(b"quit\n");
    w.drain().await?;
    assert_eq!(r.read_line().await.map_err(io::Error::other)?, b"bye\n");
    Ok(())
}

async fn self_test() -> io::Result<()> {
    // Over pipes: this program again, as a child reading its stdin.
    let exe = std::env::current_exe()?;
    let mut child = Command::new(&exe)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()?;
    let mut w = child.stdin.take().expect("piped").into_writer();
    let mut r = child.stdout.take().expect("piped").into_reader();
    println!("-- console on a child's stdin/stdout --");
    drive(&mut r, &mut w).await?;
    drop(w);
    let status = child.wait().await?;
    assert!(status.success(), "the child console exited with {status}");

    // Over TCP, in this process.
    let console = Console::new();
    let server = start_server(
        move |r, w| console.clone().session(r, w),
        "127.0.0.1:0".parse().unwrap(),
    )?;
    let port = server.local_addr().expect("bound").port();
    println!("-- console over TCP --");
    let (mut r, mut w) = open_connection("127.0.0.1", port).await?;
    drive(&mut r, &mut w).await?;
    server.close();
    println!("console self-test ok");
    Ok(())
}

/// stdin as an async pipe; a regular file (`console < script`) cannot be registered with
/// epoll, but reading one never waits for long, so it is read directly.
fn input() -> io::Result<Box<dyn AsyncRead + Unpin + Send>> {
    match tulip::net::stdin() {
        Ok(pipe) => Ok(Box::new(pipe)),
        Err(e) if e.kind() == io::ErrorKind::InvalidInput => {
            Ok(Box::new(AssertAsync::new(io::stdin())))
        }
        Err(e) => Err(e),
    }
}

/// stdout as an async pipe, or written directly when it is a regular file (`console > log`).
fn output() -> io::Result<Box<dyn AsyncWrite + Unpin + Send>> {
    match tulip::net::stdout() {
        Ok(pipe) => Ok(Box::new(pipe)),
        Err(e) if e.kind() == io::ErrorKind::InvalidInput => {
            Ok(Box::new(AssertAsync::new(io::stdout())))
        }
        Err(e) => Err(e),
    }
}

fn main() -> io::Result<()> {
    let arg = std::env::args().nth(1);
    tulip::run(async move {
        match arg.as_deref() {
            Some("--self-test") => self_test().await,
            Some("--serve") => {
                let console = Console::new();
                let server = start_server(
                    move |r, w| console.clone().session(r, w),
                    "127.0.0.1:8023".parse().unwrap(),
                )?;
                println!("console on 127.0.0.1:8023; connect with: nc 127.0.0.1 8023");
                server.serve_forever().await;
                Ok(())
            }
            None => {
                let input = StreamReader::new(input()?);
                let output = StreamWriter::new(output()?);
                Console::new().session(input, output).await;
                Ok(())
            }
            Some(other) => Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("unknown argument {other:?}; try --serve or --self-test"),
            )),
        }
    })
}
