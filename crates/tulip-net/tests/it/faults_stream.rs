//! `tulip_net::StreamReader` over a faulty reader.

use std::io;

use futures_lite::io::Cursor;
use tulip_faults::{Faults, FaultyIo};
use tulip_net::{ReadError, StreamReader};

use tulip_faults::seeds;

/// Lines of varied length, some longer than the reader's limit.
fn lines(seed: u64) -> Vec<u8> {
    let mut rng = tulip_faults::Rng::new(seed);
    let mut out = Vec::new();
    for i in 0..200 {
        let len = rng.between_one_and(if i % 17 == 0 { 300 } else { 60 });
        out.extend((0..len).map(|_| b'a' + (rng.next_u64() % 26) as u8));
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"unterminated tail");
    out
}

/// Reads `reader` to its end with `read_until(b"\r\n")`, skipping overruns with `read`,
/// retrying `Interrupted`. Returns every byte handed out and the final error, if any.
fn read_all<R: futures_lite::AsyncRead + Unpin>(
    reader: &mut StreamReader<R>,
) -> (Vec<u8>, Option<io::Error>) {
    let mut out = Vec::new();
    tulip_reactor::block_on(async {
        loop {
            match reader.read_until(b"\r\n").await {
                Ok(line) => {
                    assert!(line.ends_with(b"\r\n"));
                    out.extend_from_slice(&line);
                }
                Err(ReadError::LimitOverrun { consumed }) => {
                    match reader.read(consumed.max(1)).await {
                        Ok(skipped) => out.extend_from_slice(&skipped),
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                        Err(e) => return (out, Some(e)),
                    }
                }
                Err(ReadError::Incomplete { partial, .. }) => {
                    out.extend_from_slice(&partial);
                    return (out, None);
                }
                Err(ReadError::Io(e)) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(ReadError::Io(e)) => return (out, Some(e)),
                Err(e) => panic!("unexpected {e}"),
            }
        }
    })
}

#[test]
fn read_until_keeps_every_byte_through_short_reads_pending_and_eintr() {
    for seed in seeds() {
        let data = lines(seed);
        for faults in [Faults::benign(seed), Faults::with_interrupts(seed)] {
            let io = FaultyIo::new(Cursor::new(data.clone()), faults.clone());
            let mut reader = StreamReader::with_limit(io, 128);
            let (out, err) = read_all(&mut reader);
            assert!(err.is_none(), "seed {seed} {faults:?}: {err:?}");
            assert_eq!(
                out, data,
                "seed {seed} {faults:?}: bytes lost or duplicated"
            );
        }
    }
}

#[test]
fn reset_mid_line_loses_nothing_already_received() {
    for seed in seeds() {
        let data = lines(seed);
        let at = 1 + seed * 97 % (data.len() as u64 - 1);
        let io = FaultyIo::new(
            Cursor::new(data.clone()),
            Faults::with_interrupts(seed).reset_reads_after(at),
        );
        let mut reader = StreamReader::with_limit(io, 128);
        let (out, err) = read_all(&mut reader);
        let err = err.unwrap_or_else(|| panic!("seed {seed}: reset at {at} not reported"));
        assert_eq!(err.kind(), io::ErrorKind::ConnectionReset, "seed {seed}");
        // What was handed out plus what is still buffered is exactly what arrived.
        let mut seen = out.clone();
        seen.extend_from_slice(reader.buffer());
        assert_eq!(seen, &data[..at as usize], "seed {seed}: reset at {at}");
    }
}

#[test]
fn read_exactly_through_faults() {
    for seed in seeds() {
        let data = tulip_faults::payload(seed, 5000);
        let io = FaultyIo::new(Cursor::new(data.clone()), Faults::benign(seed));
        let mut reader = StreamReader::new(io);
        let out = tulip_reactor::block_on(async {
            let mut out = Vec::new();
            for n in [1, 7, 100, 1000, 3892] {
                out.extend(reader.read_exactly(n).await.unwrap());
            }
            out
        });
        assert_eq!(out, data, "seed {seed}");
    }
}
