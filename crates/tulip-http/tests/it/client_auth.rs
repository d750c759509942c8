//! BasicAuth per request, per client and from URL credentials, dropped on a cross-origin
//! redirect; `raise_for_status` per client and per request. Against Python aiohttp's server.

use tulip_http::{BasicAuth, Client, StatusCode};

use crate::aiohttp_peer;

async fn text(resp: tulip_http::ClientResponse) -> String {
    resp.text().await.unwrap()
}

#[test]
fn basic_auth_from_the_request_the_client_and_the_url() {
    let Some(peer) = aiohttp_peer::start() else {
        return;
    };
    tulip_executor::run(async move {
        let base = &peer.base;
        let c = Client::new();
        let resp = c.get(format!("{base}/auth")).send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(resp.reason(), "Who Are You");

        let resp = c
            .get(format!("{base}/auth"))
            .basic_auth("alice", "pa:ss wörd")
            .send()
            .await
            .unwrap();
        assert_eq!(text(resp).await, "alice:pa:ss wörd");

        let port = base.rsplit(':').next().unwrap();
        let resp = c
            .get(format!("http://b%40b:s%2Fcret@127.0.0.1:{port}/auth"))
            .send()
            .await
            .unwrap();
        assert_eq!(
            resp.url().to_string(),
            format!("{base}/auth"),
            "no password in the URL kept"
        );
        assert_eq!(text(resp).await, "b@b:s/cret");

        // Both at once is a mistake, as in aiohttp.
        let err = c
            .get(format!("http://x:y@127.0.0.1:{port}/auth"))
            .basic_auth("a", "b")
            .send()
            .await
            .unwrap_err();
        assert!(err.is_user(), "{err:?}");

        let with_default = Client::builder()
            .auth(BasicAuth::new("client", "wide"))
            .build();
        let resp = with_default
            .get(format!("{base}/auth"))
            .send()
            .await
            .unwrap();
        assert_eq!(text(resp).await, "client:wide");
        let resp = with_default
            .get(format!("{base}/auth"))
            .auth(BasicAuth::new("request", "wins"))
            .send()
            .await
            .unwrap();
        assert_eq!(text(resp).await, "request:wins");
    });
}

#[test]
fn credentials_do_not_follow_a_redirect_to_another_origin() {
    let Some(peer) = aiohttp_peer::start() else {
        return;
    };
    tulip_executor::run(async move {
        let base = &peer.base;
        let port = base.rsplit(':').next().unwrap();
        let c = Client::builder()
            .auth(BasicAuth::new("client", "wide"))
            .build();
        let same_origin = format!("{base}/to-other?port={port}&path=/echo-auth");
        let cross_origin = format!(
            "http://u:p@127.0.0.1:{port}/to-other?port={}&path=/echo-auth",
            peer.other_port
        );
        // Same origin: the URL's credentials go along.
        let resp = c
            .get(same_origin.replace("http://", "http://u:p@"))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.history().len(), 1);
        assert_eq!(text(resp).await, BasicAuth::new("u", "p").encode());
        // Another port is another origin: nothing, neither the URL's nor the client's.
        let resp = c.get(&cross_origin).send().await.unwrap();
        assert_eq!(resp.history().len(), 1);
        assert_eq!(resp.url().port_u16(), Some(peer.other_port));
        assert_eq!(text(resp).await, "<none>");
        let resp = c
            .get(format!(
                "{base}/to-other?port={}&path=/echo-auth",
                peer.other_port
            ))
            .basic_auth("req", "uest")
            .send()
            .await
            .unwrap();
        assert_eq!(text(resp).await, "<none>");
    });
}

#[test]
fn raise_for_status_per_client_and_per_request() {
    let Some(peer) = aiohttp_peer::start() else {
        return;
    };
    tulip_executor::run(async move {
        let url = format!("{}/status", peer.base);
        let strict = Client::builder().raise_for_status(true).build();
        let err = strict.get(&url).send().await.unwrap_err();
        assert!(err.is_status(), "{err:?}");
        assert_eq!(err.response_status(), Some(StatusCode::NOT_FOUND));
        assert_eq!(err.response_reason(), Some("Nothing Here"));
        assert_eq!(
            err.response_headers().unwrap().get("x-why").unwrap(),
            "gone"
        );
        assert_eq!(err.response_url().unwrap().to_string(), url);
        assert_eq!(err.to_string(), format!("404 Nothing Here ({url})"));
        // The connection went back to the pool: the next request reuses it.
        let ok = strict
            .get(format!("{}/echo-auth", peer.base))
            .send()
            .await
            .unwrap();
        assert_eq!(ok.status(), 200);
        ok.bytes().await.unwrap();
        assert_eq!(strict.pool_stats().connects, 1);
        // A request can turn it off, and a lenient client's request on.
        let resp = strict
            .get(&url)
            .raise_for_status(false)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 404);
        assert!(resp.raise_for_status().unwrap_err().is_status());
        let lenient = Client::new();
        let err = lenient
            .get(&url)
            .raise_for_status(true)
            .send()
            .await
            .unwrap_err();
        assert_eq!(err.response_status(), Some(StatusCode::NOT_FOUND));
        let resp = lenient.get(&url).send().await.unwrap();
        assert_eq!(resp.status(), 404);
    });
}
