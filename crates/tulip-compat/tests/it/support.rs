//! Peers: finding them, and a `redis-server` on a loopback port for one test.

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::Duration;

/// Whether the external program `program` is installed. When it is not, the test fails if
/// `TULIP_REQUIRE_PEERS=1` (CI), and otherwise returns `false` after saying why, so that the
/// caller can skip.
pub(crate) fn require_peer(program: &str) -> bool {
    let found = Command::new(program)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if found {
        return true;
    }
    if std::env::var_os("TULIP_REQUIRE_PEERS").is_some_and(|v| v == "1") {
        panic!("`{program}` is not installed and TULIP_REQUIRE_PEERS=1: install it (.ci/run does)");
    }
    eprintln!("skipping: `{program}` is not installed (set TULIP_REQUIRE_PEERS=1 to fail instead)");
    false
}

/// A `redis-server` on 127.0.0.1 for one test; killed and its directory removed on drop.
pub(crate) struct RedisServer {
    pub(crate) port: u16,
    child: Child,
    dir: PathBuf,
}

impl RedisServer {
    /// Starts a server on a free loopback port and returns once it accepts connections.
    /// `--port 0` does not work with redis, so the port comes from binding 127.0.0.1:0 and
    /// releasing it; another process may take it in between, so a start that fails is retried.
    pub(crate) fn start() -> RedisServer {
        static N: AtomicUsize = AtomicUsize::new(0);
        let mut last = String::new();
        for _ in 0..5 {
            let port = TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .expect("a free loopback port")
                .port();
            let dir = std::env::temp_dir().join(format!(
                "tulip-compat-redis-{}-{}",
                std::process::id(),
                N.fetch_add(1, Ordering::Relaxed)
            ));
            std::fs::create_dir_all(&dir).expect("redis directory");
            let mut child = Command::new("redis-server")
                .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
                .args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
                .arg("--dir")
                .arg(&dir)
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::null())
                .spawn()
                .expect("spawn redis-server");
            // Its log goes to stdout: wait for the ready line, then keep draining the pipe so
            // the server never blocks on a full one.
            let (tx, rx) = mpsc::channel();
            let out = child.stdout.take().expect("piped stdout");
            std::thread::spawn(move || {
                let mut tx = Some(tx);
                for line in BufReader::new(out).lines().map_while(Result::ok) {
                    if let Some(t) = tx.as_ref() {
                        let ready = line.contains("Ready to accept connections");
                        let failed = line.contains("# Failed") || line.contains("Could not create");
                        if ready || failed {
                            let _ = t.send(if ready { Ok(()) } else { Err(line.clone()) });
                            tx = None;
                        }
                    }
                }
            });
            match rx.recv_timeout(Duration::from_secs(20)) {
                Ok(Ok(())) => return RedisServer { port, child, dir },
                Ok(Err(line)) => last = line,
                Err(_) => last = "no ready line within 20 s (or it exited)".into(),
            }
            let _ = child.kill();
            let _ = child.wait();
            let _ = std::fs::remove_dir_all(&dir);
        }
        panic!("redis-server did not start after 5 attempts; last: {last}");
    }

    pub(crate) fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
