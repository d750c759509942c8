//! Regex parameters anywhere in a path, named routes and URL building, and configuration
//! errors returned to the caller.

use std::error::Error as _;

use tulip_http::{App, Request, Server};

use crate::support::{TestServer, request};

fn get(srv: &TestServer, path: &str) -> (u16, String) {
    let req = format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    let r = request(srv.addr, req.as_bytes()).expect("reply");
    (r.status, r.text())
}

fn params(req: &Request, names: &[&str]) -> String {
    names
        .iter()
        .map(|n| req.match_info(n).unwrap_or("-"))
        .collect::<Vec<_>>()
        .join(",")
}

#[test]
fn regex_parameters_anywhere_and_url_for() {
    let api = App::new()
        .get(
            "/v{major:\\d+}/items/{id:\\d+}.json",
            |req: Request| async move { params(&req, &["major", "id"]) },
        )
        .name("item")
        .get("/files/{path:.+}/raw", |req: Request| async move {
            params(&req, &["path"])
        })
        .name("raw")
        .get("/link/{id}", |req: Request| async move {
            let id = req.match_info("id").unwrap_or("0").to_string();
            let item = req.url_for("item", &[("major", "2"), ("id", &id)]);
            let raw = req.url_for("raw", &[("path", "a b/c")]);
            let bad = req.url_for("item", &[("major", "x"), ("id", "1")]);
            let none = req.url_for("nope", &[]);
            format!(
                "{} {} {} {}",
                item.unwrap_or_default(),
                raw.unwrap_or_default(),
                bad.is_err_and(|e| e.is_user()),
                none.is_err_and(|e| e.source().unwrap().to_string().contains("no route")),
            )
        });
    let app = App::new()
        .get("/", |_req: Request| async { "root" })
        .name("home")
        .subapp("/api", api);
    assert_eq!(app.url_for("home", &[]).unwrap(), "/");
    assert_eq!(
        app.url_for("item", &[("major", "1"), ("id", "9")]).unwrap(),
        "/api/v1/items/9.json"
    );
    let srv = TestServer::start(app);
    assert_eq!(get(&srv, "/api/v12/items/345.json"), (200, "12,345".into()));
    assert_eq!(get(&srv, "/api/vX/items/345.json").0, 404);
    assert_eq!(get(&srv, "/api/v1/items/34a.json").0, 404);
    assert_eq!(get(&srv, "/api/files/a/b/c/raw"), (200, "a/b/c".into()));
    assert_eq!(
        get(&srv, "/api/link/7"),
        (
            200,
            "/api/v2/items/7.json /api/files/a%20b/c/raw true true".into()
        )
    );
}

#[test]
fn configuration_errors_name_the_route_and_the_reason() {
    let cases: Vec<(App, &str, &str)> = vec![
        (
            App::new()
                .get("/ok", |_r: Request| async { "" })
                .get("/items/{id:[0-9}", |_r: Request| async { "" }),
            "route GET /items/{id:[0-9}",
            "does not compile",
        ),
        (
            App::new().subapp("/api/", App::new()),
            "sub-app /api/",
            "prefix",
        ),
        (
            App::new()
                .get("/a", |_r: Request| async { "" })
                .name("x")
                .subapp(
                    "/s",
                    App::new().get("/b", |_r: Request| async { "" }).name("x"),
                ),
            "name \"x\"",
            "two routes",
        ),
        (
            App::new().post("/{a}/{a}", |_r: Request| async { "" }),
            "route POST /{a}/{a}",
            "twice",
        ),
    ];
    for (app, what, why) in cases {
        let err = Server::bind("127.0.0.1:0", app).unwrap_err();
        assert!(err.is_user(), "{err:?}");
        assert!(err.to_string().contains(what), "{err} lacks {what}");
        let cause = err.source().expect("a reason").to_string();
        assert!(cause.contains(why), "{cause} lacks {why}");
    }
    // A regex that does not compile keeps the regex crate's error as the cause's cause.
    let err = Server::bind(
        "127.0.0.1:0",
        App::new().get("/{id:(}", |_r: Request| async { "" }),
    )
    .unwrap_err();
    assert!(err.source().and_then(|c| c.source()).is_some());
}
