//! tulip-ws's `WebSocket` with both ends on faulty transports: an echo of text and binary
//! messages of many sizes, with and without permessage-deflate, and peers that vanish.

use std::net::TcpStream;
use std::time::Duration;

use futures_lite::future::zip;
use tulip_executor::wait_for;
use tulip_faults::{Faults, FaultyIo, HANG, payload, seeds};
use tulip_reactor::Async;
use tulip_ws::{CloseCode, Config, DeflateParams, Message, Role, WebSocket};

/// A connected loopback TCP pair, registered with the reactor.
fn tcp_pair() -> (Async<TcpStream>, Async<TcpStream>) {
    let (client, server) = tulip_test_support::loopback::tcp_pair();
    (Async::new(client).unwrap(), Async::new(server).unwrap())
}

fn config() -> Config {
    let mut c = Config::default();
    c.read_buffer_size = 1024;
    c.close_timeout = Duration::from_secs(2);
    c
}

const DEFLATE: DeflateParams = DeflateParams {
    server_no_context_takeover: false,
    client_no_context_takeover: false,
    server_max_window_bits: 15,
    client_max_window_bits: 15,
};

fn messages(seed: u64) -> Vec<Message> {
    (0..24u64)
        .map(|i| {
            let len = [0, 1, 125, 126, 127, 65_535, 65_536, 200_000][(i % 8) as usize];
            if i % 3 == 0 {
                // Multi-byte characters, so short reads split them.
                Message::Text("é€𝄞x".repeat(len / 10 + 1))
            } else {
                Message::Binary(payload(seed * 64 + i, len))
            }
        })
        .collect()
}

/// The server echoes until close; the client sends everything, then reads the echoes.
/// Returns what the client received, or the first error each side saw.
fn echo(
    seed: u64,
    client_faults: Faults,
    server_faults: Faults,
    deflate: Option<DeflateParams>,
) -> Result<Vec<Message>, String> {
    let (c, s) = tcp_pair();
    let sent = messages(seed);
    let mut server = WebSocket::from_raw(
        FaultyIo::new(s, server_faults),
        Role::Server,
        config(),
        deflate,
        &[],
    );
    let mut client = WebSocket::from_raw(
        FaultyIo::new(c, client_faults),
        Role::Client,
        config(),
        deflate,
        &[],
    );
    let serve = async move {
        loop {
            match server.receive().await {
                Ok(Message::Close(_)) => return Ok(()),
                Ok(m @ (Message::Text(_) | Message::Binary(_))) => server
                    .send(m)
                    .await
                    .map_err(|e| format!("server send: {e}"))?,
                Ok(_) => {}
                Err(e) => return Err(format!("server receive: {e}")),
            }
        }
    };
    let talk = async move {
        let n = sent.len();
        let writer = async {
            for m in sent {
                client
                    .feed(m)
                    .await
                    .map_err(|e| format!("client feed: {e}"))?;
            }
            client
                .flush()
                .await
                .map_err(|e| format!("client flush: {e}"))
        };
        // Feeding never waits for the echoes beyond the write high-water mark, so send all
        // first; the server's socket buffer absorbs the echoes meanwhile.
        writer.await?;
        let mut got = Vec::new();
        while got.len() < n {
            got.push(
                client
                    .receive()
                    .await
                    .map_err(|e| format!("client receive: {e}"))?,
            );
        }
        client
            .close(CloseCode::NORMAL, "done")
            .await
            .map_err(|e| format!("client close: {e}"))?;
        Ok::<_, String>(got)
    };
    tulip_reactor::block_on(async {
        let both = wait_for(zip(serve, talk), HANG)
            .await
            .map_err(|_| format!("seed {seed}: hang"))?;
        match both {
            (Ok(()), Ok(got)) => Ok(got),
            (s, c) => Err(format!("server {s:?}, client {:?}", c.map(|g| g.len()))),
        }
    })
}

#[test]
fn echo_survives_short_io_and_spurious_wakeups() {
    for seed in seeds() {
        for deflate in [None, Some(DEFLATE)] {
            let got = echo(seed, Faults::benign(seed), Faults::benign(!seed), deflate)
                .unwrap_or_else(|e| panic!("seed {seed} deflate {}: {e}", deflate.is_some()));
            assert_eq!(
                got,
                messages(seed),
                "seed {seed}: messages lost, duplicated or corrupted"
            );
        }
    }
}

#[test]
fn eintr_fails_cleanly_or_not_at_all() {
    for seed in seeds() {
        match echo(
            seed,
            Faults::with_interrupts(seed),
            Faults::with_interrupts(!seed),
            Some(DEFLATE),
        ) {
            Ok(got) => assert_eq!(got, messages(seed), "seed {seed}"),
            // Giving up on EINTR is allowed; hanging (reported as an error above too) is not.
            Err(e) => assert!(!e.contains("hang"), "seed {seed}: {e}"),
        }
    }
}

#[test]
fn peer_vanishing_mid_frame_ends_both_sides() {
    for seed in seeds() {
        let at = 3 + seed * 48_271 % 300_000;
        let client = Faults::benign(seed).reset_writes_after(at);
        let err =
            echo(seed, client, Faults::benign(!seed), None).expect_err("a reset must surface");
        assert!(!err.contains("hang"), "seed {seed}, reset at {at}: {err}");
    }
}
