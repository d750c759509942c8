//! A real forward proxy for client tests: tinyproxy, started from a generated configuration
//! on a free loopback port, in the foreground, killed on drop.

use std::fs::File;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use crate::{peers, wait};

/// How the proxy is configured.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// The ports `CONNECT` may reach (tinyproxy's `ConnectPort`); empty allows every port.
    pub connect_ports: Vec<u16>,
    /// `Some((user, password))` makes the proxy demand credentials (`BasicAuth`): 407
    /// without them.
    pub basic_auth: Option<(String, String)>,
}

/// A running tinyproxy.
#[derive(Debug)]
pub struct Tinyproxy {
    /// Where it listens (127.0.0.1).
    pub addr: SocketAddr,
    child: Child,
    dir: PathBuf,
}

impl Tinyproxy {
    /// Starts tinyproxy, or reports it missing (see [`peers::skip`]: `None`, or a panic
    /// under `TULIP_REQUIRE_PEERS=1`). Returns once the proxy accepts connections.
    ///
    /// # Panics
    ///
    /// When tinyproxy does not listen within 10 s (its log is in the message).
    pub fn start(options: &Options) -> Option<Tinyproxy> {
        let program = peers::program("tinyproxy", "apt-get install tinyproxy")?;
        static COUNT: AtomicUsize = AtomicUsize::new(0);
        let n = COUNT.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("tulip-tinyproxy-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("create the tinyproxy folder");
        // A port the kernel just handed out and took back: free unless another process grabs
        // it in the next instant (then the readiness wait below fails loudly).
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("find a free port")
            .port();
        let mut conf = format!(
            "Port {port}\nListen 127.0.0.1\nTimeout 30\nAllow 127.0.0.1\nMaxClients 50\n\
             LogLevel Connect\n"
        );
        for p in &options.connect_ports {
            conf.push_str(&format!("ConnectPort {p}\n"));
        }
        if let Some((user, password)) = &options.basic_auth {
            conf.push_str(&format!("BasicAuth {user} {password}\n"));
        }
        let conf_path = dir.join("tinyproxy.conf");
        std::fs::write(&conf_path, conf).expect("write the tinyproxy configuration");
        let log = File::create(dir.join("tinyproxy.log")).expect("create the tinyproxy log");
        let child = Command::new(program)
            .arg("-d")
            .arg("-c")
            .arg(&conf_path)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("clone the log file"))
            .stderr(log)
            .spawn()
            .expect("start tinyproxy");
        let mut proxy = Tinyproxy {
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
            child,
            dir,
        };
        let addr = proxy.addr;
        let exited = wait::until(Duration::from_secs(10), "tinyproxy listening", || {
            if let Ok(Some(status)) = proxy.child.try_wait() {
                return Ok::<_, std::io::Error>(Some(Some(status)));
            }
            match TcpStream::connect_timeout(&addr, Duration::from_millis(200)) {
                Ok(_) => Ok(Some(None)),
                Err(e) => Err(e),
            }
        });
        if let Some(status) = exited {
            panic!(
                "tinyproxy exited ({status}) before listening:\n{}",
                proxy.log()
            );
        }
        Some(proxy)
    }

    /// `http://127.0.0.1:port`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// What tinyproxy logged so far (each request line it served, at level `Connect`).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("tinyproxy.log")).unwrap_or_default()
    }
}

impl Drop for Tinyproxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
