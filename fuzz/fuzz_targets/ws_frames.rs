//! The WebSocket frame decoder and message assembler (fragments, UTF-8 across fragments,
//! control frames, close, permessage-deflate) on arbitrary bytes from the peer.
//!
//! The first byte picks the role, whether deflate was negotiated, small limits and the read
//! chunk size; the rest is what the peer sent. A `WebSocket` reads it over an in-memory stream
//! until it fails or the stream ends. It must never panic or hang, and must never hand the
//! application a message larger than its limit.
#![no_main]

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use futures_lite::{AsyncRead, AsyncWrite};
use libfuzzer_sys::fuzz_target;
use tulip_ws::{Config, DeflateParams, Message, Role, WebSocket};

/// Reads hand out the input `chunk` bytes at a time, then end of stream; writes vanish.
struct Peer<'a> {
    data: &'a [u8],
    chunk: usize,
}

impl AsyncRead for Peer<'_> {
    fn poll_read(mut self: Pin<&mut Self>, _: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        let n = self.data.len().min(self.chunk).min(buf.len());
        buf[..n].copy_from_slice(&self.data[..n]);
        self.data = &self.data[n..];
        Poll::Ready(Ok(n))
    }
}

impl AsyncWrite for Peer<'_> {
    fn poll_write(self: Pin<&mut Self>, _: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Poll::Ready(Ok(buf.len()))
    }
    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
    fn poll_close(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

const MAX_MESSAGE: usize = 64 << 10;

fuzz_target!(|input: &[u8]| {
    let Some((&opts, data)) = input.split_first() else { return };
    let role = if opts & 1 == 0 { Role::Server } else { Role::Client };
    let deflate = (opts & 2 != 0).then_some(DeflateParams {
        server_no_context_takeover: opts & 4 != 0,
        client_no_context_takeover: opts & 8 != 0,
        server_max_window_bits: 15,
        client_max_window_bits: 15,
    });
    let chunk = [1, 3, 7, 64, 1024, 4096, 65536, usize::MAX][usize::from(opts >> 5)];
    let mut config = Config::default();
    config.max_frame_size = 16 << 10;
    config.max_message_size = MAX_MESSAGE;
    config.read_buffer_size = 512;
    config.close_timeout = Duration::from_millis(10);
    let mut ws = WebSocket::from_raw(Peer { data, chunk }, role, config, deflate, &[]);
    tulip_reactor::block_on(async {
        // Every message needs at least two input bytes, so the input bounds the loop.
        for _ in 0..=data.len() / 2 + 1 {
            match ws.receive().await {
                Ok(Message::Close(_)) | Err(_) => break,
                Ok(m) => assert!(m.as_bytes().len() <= MAX_MESSAGE, "message beyond its limit"),
            }
        }
    });
});
