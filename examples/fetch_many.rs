//! Many concurrent fetches with `gather` and a `Semaphore` bounding how many run at once (the
//! classic aiohttp crawler pattern), all through one pooled client.
//!
//! Run: `cargo run -p examples --example fetch_many` — starts a tulip server on a free loopback
//! port, fetches 50 pages with at most 8 in flight, and prints a summary with the pool's
//! connection reuse.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use tulip::http::{App, Client, Request, Server};
use tulip::sync::Semaphore;
use tulip::{gather, sleep};

fn main() {
    tulip::run(async {
        let app = App::new().get("/item/{n}", |req: Request| async move {
            sleep(Duration::from_millis(5)).await; // a slow backend
            format!("item {}", req.match_info("n").unwrap_or("?"))
        });
        let server = Server::bind("127.0.0.1:0", app).expect("bind");
        let base = format!("http://{}", server.local_addr());
        let stop = server.shutdown_handle();
        let running = tulip::spawn(server.run());

        let client = Client::new();
        let limit = Arc::new(Semaphore::new(8));
        let in_flight = Arc::new(AtomicUsize::new(0));
        let peak = Arc::new(AtomicUsize::new(0));
        let start = Instant::now();
        let fetches = (0..50).map(|n| {
            let (client, limit, base) = (client.clone(), limit.clone(), base.clone());
            let (in_flight, peak) = (in_flight.clone(), peak.clone());
            async move {
                let _permit = limit.acquire().await;
                let now = in_flight.fetch_add(1, Ordering::SeqCst) + 1;
                peak.fetch_max(now, Ordering::SeqCst);
                let text = client
                    .get(format!("{base}/item/{n}"))
                    .send()
                    .await?
                    .text()
                    .await;
                in_flight.fetch_sub(1, Ordering::SeqCst);
                text
            }
        });
        let pages = gather(fetches).await;
        let ok = pages.iter().filter(|p| p.is_ok()).count();
        let stats = client.pool_stats();
        println!(
            "fetched {ok}/50 pages in {:?}, at most {} at once, {} connections opened, {} reused",
            start.elapsed(),
            peak.load(Ordering::SeqCst),
            stats.connects,
            stats.reuses
        );
        assert_eq!(ok, 50);
        assert!(peak.load(Ordering::SeqCst) <= 8);
        assert!(
            stats.connects <= 8,
            "the pool should reuse connections: {stats:?}"
        );
        assert_eq!(pages[7].as_deref().ok(), Some("item 7"));
        stop.shutdown();
        running.await.expect("server task").expect("server");
    });
}
