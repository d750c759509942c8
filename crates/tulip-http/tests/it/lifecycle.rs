//! on_startup, on_shutdown, on_cleanup and cleanup_ctx on root and sub-apps, in aiohttp's order.

use std::error::Error as _;
use std::sync::{Arc, Mutex};

use tulip_http::{App, AppState, Request, Server};

use crate::support::{TestServer, request};

type Log = Arc<Mutex<Vec<String>>>;

fn push(log: &Log, what: &str) {
    log.lock().unwrap().push(what.to_string());
}

/// An app whose every hook appends `{tag}:{hook}` to `log`.
fn logged(tag: &'static str, log: &Log) -> App {
    let (a, b, c, d, e) = (
        log.clone(),
        log.clone(),
        log.clone(),
        log.clone(),
        log.clone(),
    );
    App::new()
        .state(tag)
        .cleanup_ctx(
            move |app: AppState| async move {
                push(&a, &format!("{}:ctx-setup", app.get::<&str>().unwrap()));
                Ok::<_, std::io::Error>(a)
            },
            move |a: Log| async move { push(&a, &format!("{tag}:ctx-teardown")) },
        )
        .on_startup(move |_app: AppState| async move { push(&b, &format!("{tag}:startup")) })
        .on_shutdown(move |_app: AppState| async move { push(&c, &format!("{tag}:shutdown")) })
        .on_cleanup(move |_app: AppState| async move { push(&d, &format!("{tag}:cleanup")) })
        .get("/", move |_req: Request| {
            let e = e.clone();
            async move {
                push(&e, &format!("{tag}:request"));
                tag
            }
        })
}

#[test]
fn hooks_run_in_aiohttp_order_on_root_and_sub_apps() {
    let log = Log::default();
    let l2 = log.clone();
    let app = logged("root", &log)
        .subapp("/sub", logged("sub", &log))
        // Registered after the sub-app: runs after its hooks.
        .on_startup(move |_app: AppState| async move { push(&l2, "root:late-startup") });
    let srv = TestServer::start(app);
    let r = request(
        srv.addr,
        b"GET /sub HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(r.unwrap().text(), "sub");
    srv.shutdown().unwrap();
    let got = log.lock().unwrap().clone();
    assert_eq!(
        got,
        [
            "root:ctx-setup",
            "root:startup",
            "sub:ctx-setup",
            "sub:startup",
            "root:late-startup",
            "sub:request",
            "root:shutdown",
            "sub:shutdown",
            "root:ctx-teardown",
            "root:cleanup",
            "sub:ctx-teardown",
            "sub:cleanup",
        ]
    );
}

#[test]
fn a_failing_startup_hook_stops_the_server_and_tears_down() {
    let log = Log::default();
    let (l1, l2) = (log.clone(), log.clone());
    let app = App::new()
        .cleanup_ctx(
            |_app: AppState| async { Ok::<_, std::io::Error>(()) },
            move |()| async move { push(&l1, "teardown") },
        )
        .on_startup(|_app: AppState| async { Err(std::io::Error::other("database unreachable")) })
        .on_shutdown(move |_app: AppState| async move { push(&l2, "shutdown (must not run)") });
    let server = Server::bind("127.0.0.1:0", app).unwrap();
    let err = tulip_executor::run(server.run()).unwrap_err();
    assert!(err.is_hook(), "{err:?}");
    assert!(err.to_string().contains("starting the app"), "{err}");
    assert_eq!(err.source().unwrap().to_string(), "database unreachable");
    assert_eq!(*log.lock().unwrap(), ["teardown"]);
}

#[test]
fn every_stop_hook_runs_and_the_first_failure_is_returned() {
    let log = Log::default();
    let (l1, l2) = (log.clone(), log.clone());
    let app = App::new()
        .on_shutdown(|_app: AppState| async { Err("shutdown broke") })
        .on_cleanup(move |_app: AppState| async move { push(&l1, "cleanup 1") })
        .on_cleanup(|_app: AppState| async { Err("cleanup broke") })
        .subapp(
            "/s",
            App::new().on_cleanup(move |_app: AppState| async move { push(&l2, "sub cleanup") }),
        );
    let srv = TestServer::start(app);
    let err = srv.shutdown().unwrap_err();
    assert!(
        err.is_hook() && err.to_string().contains("shutting the app down"),
        "{err}"
    );
    assert_eq!(err.source().unwrap().to_string(), "shutdown broke");
    assert_eq!(*log.lock().unwrap(), ["cleanup 1", "sub cleanup"]);
}
