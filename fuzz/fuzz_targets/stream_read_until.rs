//! `StreamReader::read_until` with a limit, over a reader that hands out the input in
//! fuzzer-chosen chunk sizes, checked against a plain reference: every call returns exactly the
//! bytes up to the *first* separator in what remains, overruns only when that separator starts
//! beyond the limit, and the concatenation of everything read is the input (no lost or
//! duplicated bytes).
#![no_main]

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_lite::AsyncRead;
use libfuzzer_sys::fuzz_target;
use tulip_net::{ReadError, StreamReader};

/// Hands out `data` at most `chunk` bytes per read, then end of stream.
struct Chunks<'a> {
    data: &'a [u8],
    chunk: usize,
}

impl AsyncRead for Chunks<'_> {
    fn poll_read(mut self: Pin<&mut Self>, _: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        let n = self.data.len().min(self.chunk).min(buf.len());
        buf[..n].copy_from_slice(&self.data[..n]);
        self.data = &self.data[n..];
        Poll::Ready(Ok(n))
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fuzz_target!(|input: &[u8]| {
    let [limit, chunk, sep_len, rest @ ..] = input else { return };
    let sep_len = usize::from(sep_len % 4) + 1;
    if rest.len() < sep_len {
        return;
    }
    let (sep, data) = rest.split_at(sep_len);
    let limit = usize::from(*limit) + 1;
    let chunk = usize::from(*chunk).max(1);
    let mut reader = StreamReader::with_limit(Chunks { data, chunk }, limit);
    let mut out = Vec::new();
    tulip_reactor::block_on(async {
        // Each step consumes at least one byte, so the input length bounds the loop.
        for _ in 0..=data.len() + 1 {
            let remaining = &data[out.len()..];
            match reader.read_until(sep).await {
                Ok(line) => {
                    let at = find(remaining, sep).expect("a separator that is not in the input");
                    assert!(at <= limit, "separator at {at} found beyond limit {limit}");
                    assert_eq!(line, &remaining[..at + sep.len()], "not the first separator");
                    out.extend_from_slice(&line);
                }
                Err(ReadError::LimitOverrun { consumed }) => {
                    if let Some(at) = find(remaining, sep) {
                        assert!(at > limit, "overrun although the separator is at {at} <= {limit}");
                    }
                    // Skip what was searched, as a caller would, keeping every byte.
                    let skipped = reader.read(consumed.max(1)).await.expect("read after overrun");
                    assert!(!skipped.is_empty(), "data vanished after an overrun");
                    out.extend_from_slice(&skipped);
                }
                Err(ReadError::Incomplete { partial, .. }) => {
                    assert!(find(remaining, sep).is_none(), "incomplete although a separator remains");
                    out.extend_from_slice(&partial);
                    break;
                }
                Err(e) => panic!("unexpected error {e}"),
            }
        }
    });
    assert_eq!(out, data, "bytes lost or duplicated");
});
