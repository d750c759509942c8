//! The `redis` crate's tokio connections, driven from tulip tasks through `.compat()`.

use futures_lite::StreamExt;
use redis::AsyncCommands;
use tulip_compat::CompatExt;

use crate::support::{RedisServer, require_peer};

/// Fails the test (with the driver's error) instead of unwrapping inside the block.
type Result<T> = std::result::Result<T, redis::RedisError>;

fn assert_on_tulip_thread() {
    assert_ne!(
        std::thread::current().name(),
        Some("tulip-compat-tokio"),
        "the caller's code must run on tulip's threads, not the tokio driver's"
    );
}

#[test]
fn set_get_and_a_publish_subscribe_round_trip() {
    if !require_peer("redis-server") {
        return;
    }
    let server = RedisServer::start();
    let url = server.url();
    let outcome: Result<()> = tulip_executor::run(async move {
        let work = async move {
            assert_on_tulip_thread();
            let client = redis::Client::open(url)?;
            let mut con = client.get_multiplexed_async_connection().await?;
            let () = con.set("tulip:greeting", "hello from tulip").await?;
            let got: String = con.get("tulip:greeting").await?;
            assert_eq!(got, "hello from tulip");
            let missing: Option<String> = con.get("tulip:missing").await?;
            assert_eq!(missing, None);

            let mut pubsub = client.get_async_pubsub().await?;
            pubsub.subscribe("tulip:news").await?;
            let receivers: i64 = con.publish("tulip:news", "bloom").await?;
            assert_eq!(
                receivers, 1,
                "the subscription is in place before the publish"
            );
            let msg = pubsub
                .on_message()
                .next()
                .await
                .expect("a message, not the end");
            assert_eq!(msg.get_channel_name(), "tulip:news");
            assert_eq!(msg.get_payload::<String>()?, "bloom");
            assert_on_tulip_thread();
            Ok(())
        };
        // As a task on tulip's worker threads, not just the block_on thread.
        tulip_executor::spawn(work.compat()).await.unwrap()
    });
    outcome.unwrap();
}

#[test]
fn one_multiplexed_connection_shared_by_many_tulip_tasks() {
    if !require_peer("redis-server") {
        return;
    }
    const TASKS: i64 = 8;
    const INCRS: i64 = 50;
    let server = RedisServer::start();
    let url = server.url();
    let total: Result<i64> = tulip_executor::run(async move {
        let client = redis::Client::open(url)?;
        let con = client.get_multiplexed_async_connection().compat().await?;
        let tasks: Vec<_> = (0..TASKS)
            .map(|_| {
                let mut con = con.clone();
                tulip_executor::spawn(
                    async move {
                        for _ in 0..INCRS {
                            let _: i64 = con.incr("tulip:counter", 1).await?;
                        }
                        Ok::<_, redis::RedisError>(())
                    }
                    .compat(),
                )
            })
            .collect();
        for t in tasks {
            t.await.unwrap()?;
        }
        let mut con = con;
        async move { con.get("tulip:counter").await }.compat().await
    });
    assert_eq!(total.unwrap(), TASKS * INCRS);
}
