//! `tulip::web::run_app` in a child process: SIGTERM/SIGINT start a graceful shutdown that lets
//! an in-flight request finish and runs the hooks; a second SIGINT exits at once.
//!
//! The child is this test binary itself, re-run with `TULIP_RUN_APP_CHILD` set so that
//! `run_app_child` serves instead of returning.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use tulip::http::{App, AppState, Request};
use tulip::process::signal::{SignalKind, signal};
use tulip::web::RunApp;

const CHILD_ENV: &str = "TULIP_RUN_APP_CHILD";

/// The child's server (a no-op unless run as the child).
#[test]
fn run_app_child() {
    if std::env::var_os(CHILD_ENV).is_none() {
        return;
    }
    let app = App::new()
        .on_startup(|_app: AppState| async { println!("hook: startup") })
        .on_shutdown(|_app: AppState| async { println!("hook: shutdown") })
        .on_cleanup(|_app: AppState| async { println!("hook: cleanup") })
        // Finishes only once the process got SIGTERM: it is in flight during the shutdown.
        .get("/until-sigterm", |_req: Request| async {
            let mut term = signal(SignalKind::TERMINATE).expect("listen for SIGTERM");
            println!("handler: started");
            term.recv().await;
            "finished after SIGTERM"
        })
        // Never finishes.
        .get("/forever", |_req: Request| async {
            println!("handler: started");
            std::future::pending::<()>().await;
            "unreachable"
        });
    let result = RunApp::new()
        .host("127.0.0.1")
        .port(0)
        .shutdown_timeout(Duration::from_secs(60))
        .run(app);
    println!("run_app returned: {result:?}");
}

struct ChildServer {
    child: Child,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl ChildServer {
    fn start() -> ChildServer {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "web::run_app_child",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD_ENV, "1")
            .stdout(Stdio::piped())
            .spawn()
            .expect("spawn the child");
        let out = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        ChildServer {
            child,
            lines,
            seen: Vec::new(),
        }
    }

    /// Waits (bounded) for a line holding `prefix` (the test harness may print before it on
    /// the same line) and returns the rest of the line from it.
    fn wait_line(&mut self, prefix: &str) -> String {
        loop {
            match self.lines.recv_timeout(Duration::from_secs(30)) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if let Some(i) = line.find(prefix) {
                        return line[i..].to_string();
                    }
                }
                Err(e) => panic!(
                    "no line {prefix:?} from the child ({e}); saw {:?}",
                    self.seen
                ),
            }
        }
    }

    fn kill(&self, sig: &str) {
        let ok = Command::new("kill")
            .args([sig, &self.child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(ok.success());
    }

    /// Waits (bounded) for the child to exit.
    fn exit_code(mut self) -> Option<i32> {
        let (tx, rx) = mpsc::channel();
        let mut child = std::mem::replace(
            &mut self.child,
            Command::new("true").spawn().expect("spawn true"),
        );
        std::thread::spawn(move || {
            let _ = tx.send(child.wait());
        });
        let status = rx
            .recv_timeout(Duration::from_secs(30))
            .expect("the child exits")
            .unwrap();
        let _ = self.child.wait();
        status.code()
    }
}

impl Drop for ChildServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn addr_of(banner: &str) -> String {
    banner
        .trim_start_matches("======== Running on http://")
        .trim_end_matches(" ========")
        .to_string()
}

fn send_get(addr: &str, path: &str) -> TcpStream {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    write!(s, "GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    s
}

#[test]
fn sigterm_lets_the_request_finish_and_runs_the_hooks() {
    let mut child = ChildServer::start();
    child.wait_line("hook: startup");
    let addr = addr_of(&child.wait_line("======== Running on http://"));
    child.wait_line("(Press CTRL+C to quit)");
    let mut conn = send_get(&addr, "/until-sigterm");
    child.wait_line("handler: started");
    child.kill("-TERM");
    child.wait_line("received SIGTERM: shutting down gracefully");
    let mut reply = String::new();
    conn.read_to_string(&mut reply).unwrap();
    assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");
    assert!(reply.ends_with("finished after SIGTERM"), "{reply}");
    child.wait_line("hook: shutdown");
    child.wait_line("hook: cleanup");
    child.wait_line("run_app returned: Ok(())");
    assert_eq!(child.exit_code(), Some(0));
}

#[test]
fn a_second_sigint_exits_at_once() {
    let mut child = ChildServer::start();
    let addr = addr_of(&child.wait_line("======== Running on http://"));
    let _conn = send_get(&addr, "/forever");
    child.wait_line("handler: started");
    child.kill("-INT");
    child.wait_line("received SIGINT: shutting down gracefully");
    // The request never finishes and the shutdown timeout is 60 s: only the second signal
    // can end the process within the 30 s the test waits.
    child.kill("-INT");
    assert_eq!(child.exit_code(), Some(130));
}
