//! aiohttp's `web.run_app`: serve an [`App`](crate::http::App) until SIGINT or SIGTERM, then shut down
//! gracefully. Here because it joins two crates that do not know each other: tulip-http (the
//! server, which stops through a [`ShutdownHandle`](crate::http::ShutdownHandle)) and
//! tulip-process (the signals).
//!
//! The first SIGINT (Ctrl-C) or SIGTERM stops accepting, lets in-flight requests finish and
//! closes WebSockets with 1001 (within the shutdown timeout), then runs the `on_shutdown` and
//! `on_cleanup` hooks (within the shutdown timeout again). A second signal during that exits
//! the process at once with status 130.

use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::os::fd::AsFd;
use std::path::PathBuf;
use std::time::Duration;

use tulip_http::{App, Error, Server, ServerConfig};
use tulip_process::signal::{SignalKind, signal};

/// Options for [`run_app`], with aiohttp's defaults: `0.0.0.0:8080`, a 60 s shutdown timeout,
/// a banner, no access log.
///
/// ```no_run
/// use std::time::Duration;
/// use tulip::http::{App, Request};
/// use tulip::web::RunApp;
///
/// let app = App::new().get("/", |_req: Request| async { "Hello" });
/// RunApp::new()
///     .host("127.0.0.1")
///     .port(8080)
///     .shutdown_timeout(Duration::from_secs(5))
///     .access_log(true)
///     .run(app)?;
/// # Ok::<_, tulip::http::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct RunApp {
    hosts: Vec<String>,
    port: u16,
    path: Option<PathBuf>,
    reuse_port: bool,
    banner: bool,
    config: ServerConfig,
}

impl Default for RunApp {
    fn default() -> RunApp {
        let mut config = ServerConfig::default();
        config.shutdown_timeout = Duration::from_secs(60);
        RunApp {
            hosts: Vec::new(),
            port: 8080,
            path: None,
            reuse_port: false,
            banner: true,
            config,
        }
    }
}

impl RunApp {
    /// The defaults.
    pub fn new() -> RunApp {
        RunApp::default()
    }

    /// Listens on `host` (a name or an address; call again for several). Default `0.0.0.0`
    /// when no Unix path is given either.
    pub fn host(mut self, host: &str) -> RunApp {
        self.hosts.push(host.to_string());
        self
    }

    /// The TCP port (default 8080; 0 picks a free one, shown in the banner).
    pub fn port(mut self, port: u16) -> RunApp {
        self.port = port;
        self
    }

    /// Also (or only, without [`host`](RunApp::host)) listens on a Unix socket at `path`.
    pub fn path(mut self, path: impl Into<PathBuf>) -> RunApp {
        self.path = Some(path.into());
        self
    }

    /// `SO_REUSEPORT` on the TCP listeners: several processes share the port.
    pub fn reuse_port(mut self, on: bool) -> RunApp {
        self.reuse_port = on;
        self
    }

    /// How long graceful shutdown waits for in-flight requests, and then for the hooks.
    /// Default 60 s (aiohttp's).
    pub fn shutdown_timeout(mut self, t: Duration) -> RunApp {
        self.config.shutdown_timeout = t;
        self
    }

    /// One line per request through the `log` crate, target `tulip_http::access`.
    pub fn access_log(mut self, on: bool) -> RunApp {
        self.config.access_log = on;
        self
    }

    /// The access log's format (aiohttp's `access_log_format`); turns the log on.
    pub fn access_log_format(mut self, format: tulip_http::AccessLogFormat) -> RunApp {
        self.config.access_log = true;
        self.config.access_log_format = format;
        self
    }

    /// Prints the `======== Running on ... ========` banner (default on).
    pub fn print_banner(mut self, on: bool) -> RunApp {
        self.banner = on;
        self
    }

    /// Every other server setting (limits, timeouts, compression). The shutdown timeout and
    /// access log set here are replaced by later calls to their own methods.
    pub fn config(mut self, config: ServerConfig) -> RunApp {
        self.config = config;
        self
    }

    /// Binds, prints the banner, serves until a signal, and shuts down; on a new runtime.
    ///
    /// # Errors
    ///
    /// A bad app configuration or a failed bind (before serving), a failed startup hook, or
    /// the first failed shutdown or cleanup hook.
    pub fn run(self, app: App) -> Result<(), Error> {
        crate::run(self.serve(app))
    }

    /// [`run`](RunApp::run) on the current runtime.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future stops accepting; connections already spawned run on.
    pub async fn serve(self, app: App) -> Result<(), Error> {
        // Listen before serving, so that no signal in between kills the process.
        let mut sigint = signal(SignalKind::INTERRUPT)?;
        let mut sigterm = signal(SignalKind::TERMINATE)?;
        let mut server = Server::unbound(app, self.config)?;
        let hosts = match (&self.hosts[..], &self.path) {
            ([], Some(_)) => Vec::new(),
            ([], None) => vec!["0.0.0.0".to_string()],
            (h, _) => h.to_vec(),
        };
        for host in &hosts {
            let addrs = (host.as_str(), self.port).to_socket_addrs()?;
            for addr in addrs {
                server.listen_std(bind(addr, self.reuse_port)?)?;
            }
        }
        if let Some(path) = &self.path {
            server.listen_unix(path)?;
        }
        server.startup().await?;
        if self.banner {
            for addr in server.local_addrs() {
                println!("======== Running on http://{addr} ========");
            }
            for path in server.unix_paths() {
                println!(
                    "======== Running on http://unix:{}: ========",
                    path.display()
                );
            }
            println!("(Press CTRL+C to quit)");
        }
        let stop = server.shutdown_handle();
        let watch = async move {
            let first = futures_lite::future::or(sigint.recv(), sigterm.recv()).await;
            let name = first.map_or_else(|| "a signal".to_string(), |s| s.to_string());
            println!("received {name}: shutting down gracefully (again to exit at once)");
            stop.shutdown();
            let second = futures_lite::future::or(sigint.recv(), sigterm.recv()).await;
            let name = second.map_or_else(|| "a signal".to_string(), |s| s.to_string());
            eprintln!("received {name} again: exiting now");
            std::process::exit(130)
        };
        futures_lite::future::or(server.run(), watch).await
    }
}

/// Binds a TCP listener with `SO_REUSEADDR` (and `SO_REUSEPORT` on request).
fn bind(addr: SocketAddr, reuse_port: bool) -> io::Result<std::net::TcpListener> {
    let l = tulip_net::TcpListener::builder()
        .reuse_port(reuse_port)
        .bind(addr)
        .map_err(|e| io::Error::new(e.kind(), format!("binding {addr}: {e}")))?;
    // Hand a duplicate of the socket to the server; this registration goes away with `l`.
    let fd = l.as_fd().try_clone_to_owned()?;
    Ok(std::net::TcpListener::from(fd))
}

/// Serves `app` on `0.0.0.0:8080` until SIGINT or SIGTERM (aiohttp's `web.run_app(app)`); see
/// [`RunApp`] for the options.
///
/// # Errors
///
/// As [`RunApp::run`].
pub fn run_app(app: App) -> Result<(), Error> {
    RunApp::new().run(app)
}
