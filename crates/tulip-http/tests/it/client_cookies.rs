//! The client's cookie jar against Python aiohttp's server: a login's cookie sticks, with
//! RFC 6265's path, secure, expiry and domain rules, across redirects; the dummy jar and
//! IP-address hosts.

use tulip_http::{Client, CookieJar};

use crate::aiohttp_peer;

async fn text(c: &Client, url: String) -> String {
    let resp = c.get(&url).send().await.unwrap();
    assert_eq!(resp.status(), 200, "{url}");
    resp.text().await.unwrap()
}

#[test]
fn a_login_cookie_sticks_by_path_secure_and_expiry() {
    let Some(peer) = aiohttp_peer::start() else {
        return;
    };
    // A host name, not an IP address: the default jar keeps its cookies.
    let base = peer.base.replace("127.0.0.1", "localhost");
    tulip_executor::run(async move {
        let c = Client::new();
        assert_eq!(text(&c, format!("{base}/echo-cookies")).await, "<none>");
        assert_eq!(text(&c, format!("{base}/login")).await, "welcome");
        // `scoped` (Path=/app) and `secure` (Secure, over http) stay home; the expired one and
        // the one for another domain were never stored.
        assert_eq!(
            text(&c, format!("{base}/echo-cookies")).await,
            "session=s3cret"
        );
        assert_eq!(
            text(&c, format!("{base}/app/echo-cookies")).await,
            "scoped=app; session=s3cret",
            "longest path first"
        );
        assert_eq!(
            text(&c, format!("{base}/apple/echo-cookies")).await,
            "session=s3cret",
            "/apple is not below /app"
        );
        let names: Vec<String> = c
            .cookie_jar()
            .cookies()
            .iter()
            .map(|k| format!("{}@{}{}", k.name(), k.domain(), k.path()))
            .collect();
        assert_eq!(
            names,
            [
                "session@localhost/",
                "scoped@localhost/app",
                "secure@localhost/"
            ]
        );
        let session = &c.cookie_jar().cookies()[0];
        assert!(session.http_only() && session.host_only() && session.expires().is_none());
        // Per-request cookies go beside the jar's.
        let resp = c
            .get(format!("{base}/echo-cookies"))
            .cookie("extra", "1")
            .send()
            .await
            .unwrap();
        assert_eq!(resp.text().await.unwrap(), "extra=1; session=s3cret");
        // Max-Age=0 deletes.
        assert_eq!(text(&c, format!("{base}/logout")).await, "bye");
        assert_eq!(text(&c, format!("{base}/echo-cookies")).await, "<none>");
        // Host-only: the cookies of `localhost` do not go to 127.0.0.1.
        text(&c, format!("{base}/login")).await;
        assert_eq!(
            text(&c, format!("{}/echo-cookies", peer.base)).await,
            "<none>"
        );
        c.cookie_jar().clear();
        assert!(c.cookie_jar().is_empty());
        assert_eq!(text(&c, format!("{base}/echo-cookies")).await, "<none>");
    });
}

#[test]
fn cookies_set_on_a_redirect_reach_the_next_hop() {
    let Some(peer) = aiohttp_peer::start() else {
        return;
    };
    let base = peer.base.replace("127.0.0.1", "localhost");
    tulip_executor::run(async move {
        let c = Client::new();
        let resp = c
            .get(format!("{base}/set-and-redirect"))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.history().len(), 1);
        assert_eq!(resp.text().await.unwrap(), "hop=1");
        // A Cookie header of the request does not follow a redirect to another origin, the
        // jar's cookies for that origin do.
        let other = peer.other.replace("127.0.0.1", "localhost");
        // localhost on both ports: cookies do not care about ports (RFC 6265 §8.5).
        let resp = c
            .get(format!(
                "{base}/to-other?host=localhost&port={}&path=/echo-cookies",
                peer.other_port
            ))
            .header("cookie", "mine=1")
            .send()
            .await
            .unwrap();
        assert_eq!(resp.url().to_string(), format!("{other}/echo-cookies"));
        assert_eq!(resp.text().await.unwrap(), "hop=1");
    });
}

#[test]
fn ip_hosts_need_an_unsafe_jar_and_the_dummy_jar_keeps_nothing() {
    let Some(peer) = aiohttp_peer::start() else {
        return;
    };
    let base = peer.base.clone();
    tulip_executor::run(async move {
        let safe = Client::new();
        text(&safe, format!("{base}/login")).await;
        assert!(
            safe.cookie_jar().is_empty(),
            "an IP host's cookies were kept"
        );
        assert_eq!(text(&safe, format!("{base}/echo-cookies")).await, "<none>");

        let jar = CookieJar::new_unsafe();
        let c = Client::builder().cookie_jar(jar.clone()).build();
        text(&c, format!("{base}/login")).await;
        assert_eq!(
            text(&c, format!("{base}/echo-cookies")).await,
            "session=s3cret"
        );
        // The handle the test kept is the client's jar.
        assert_eq!(jar.len(), 3);

        let dummy = Client::builder().cookie_jar(CookieJar::dummy()).build();
        text(&dummy, format!("{base}/login")).await;
        assert!(dummy.cookie_jar().is_empty());
        let resp = dummy
            .get(format!("{base}/echo-cookies"))
            .cookie("given", "yes")
            .send()
            .await
            .unwrap();
        assert_eq!(resp.text().await.unwrap(), "given=yes");
    });
}
