//! Server and client over real loopback TCP, each side on its own thread with
//! `tulip_reactor::block_on`.

use std::net::{TcpListener, TcpStream};
use std::thread::JoinHandle;

use tulip_reactor::{Async, block_on};
use tulip_ws::{ClientOptions, CloseCode, DeflateConfig, Message, ServerOptions, WebSocket};

type Ws = WebSocket<Async<TcpStream>>;

/// Starts a one-connection server running `serve`, returns its URL and thread.
fn server<F, Fut>(options: ServerOptions, serve: F) -> (String, JoinHandle<()>)
where
    F: FnOnce(Ws) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()>,
{
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("ws://{}/test", listener.local_addr().unwrap());
    let handle = std::thread::spawn(move || {
        block_on(async move {
            let stream = Async::new(listener.accept().unwrap().0).unwrap();
            let (ws, _) = tulip_ws::accept(stream, &options).await.unwrap();
            serve(ws).await;
        })
    });
    (url, handle)
}

async fn connect(url: &str, options: &ClientOptions) -> Ws {
    let addr = url.trim_start_matches("ws://").split('/').next().unwrap();
    let stream = Async::<TcpStream>::connect(addr.parse().unwrap())
        .await
        .unwrap();
    tulip_ws::client_handshake(stream, url, options)
        .await
        .unwrap()
        .0
}

async fn echo(mut ws: Ws) {
    loop {
        match ws.receive().await {
            Ok(Message::Text(t)) => ws.send_text(&t).await.unwrap(),
            Ok(Message::Binary(b)) => ws.send_binary(&b).await.unwrap(),
            Ok(Message::Close(_)) | Err(_) => break,
            Ok(_) => {}
        }
    }
}

fn deflate_options(on: bool) -> (ServerOptions, ClientOptions) {
    let mut s = ServerOptions::default();
    let mut c = ClientOptions::default();
    // The client waits for the server's FIN after the close handshake; bound that wait so a
    // lost wake-up cannot slow the suite down (see the report on edge-triggered EOF).
    c.config.close_timeout = std::time::Duration::from_millis(500);
    if on {
        s.config.deflate = Some(DeflateConfig::default());
        c.config.deflate = Some(DeflateConfig::default());
    }
    (s, c)
}

#[test]
fn echo_sizes_with_and_without_deflate() {
    for deflate in [false, true] {
        let (s, c) = deflate_options(deflate);
        let (url, handle) = server(s, echo);
        block_on(async {
            let mut ws = connect(&url, &c).await;
            for len in [0usize, 1, 125, 126, 4095, 4096, 65535, 65536, 300_000] {
                let text: String = (0..len).map(|i| (b'a' + (i % 26) as u8) as char).collect();
                ws.send_text(&text).await.unwrap();
                assert_eq!(
                    ws.receive().await.unwrap(),
                    Message::Text(text),
                    "len {len}"
                );
                let bin: Vec<u8> = (0..len).map(|i| (i * 7) as u8).collect();
                ws.send_binary(&bin).await.unwrap();
                assert_eq!(
                    ws.receive().await.unwrap(),
                    Message::Binary(bin),
                    "len {len}"
                );
            }
            ws.close(CloseCode::NORMAL, "done").await.unwrap();
        });
        handle.join().unwrap();
    }
}

#[test]
fn many_small_round_trips_are_fast() {
    let (s, c) = deflate_options(false);
    let (url, handle) = server(s, echo);
    let t = std::time::Instant::now();
    block_on(async {
        let mut ws = connect(&url, &c).await;
        for _ in 0..2000 {
            ws.send_binary(&[1; 64]).await.unwrap();
            ws.receive().await.unwrap();
        }
        ws.close(CloseCode::NORMAL, "").await.unwrap();
    });
    handle.join().unwrap();
    eprintln!("2000 round trips in {:?}", t.elapsed());
    assert!(t.elapsed() < std::time::Duration::from_secs(20));
}
