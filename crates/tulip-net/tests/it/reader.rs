//! `StreamReader` edge cases over a scripted reader that returns chosen chunks.

use std::collections::VecDeque;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_lite::io::AsyncRead;
use futures_lite::{AsyncBufReadExt, AsyncReadExt};
use tulip_net::{ReadError, StreamReader};

/// Returns one scripted chunk per read (then end of stream); an `Err` chunk fails the read.
struct Script(VecDeque<io::Result<Vec<u8>>>);

fn script(chunks: &[&[u8]]) -> Script {
    Script(chunks.iter().map(|c| Ok(c.to_vec())).collect())
}

impl AsyncRead for Script {
    fn poll_read(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        match self.0.pop_front() {
            None => Poll::Ready(Ok(0)),
            Some(Err(e)) => Poll::Ready(Err(e)),
            Some(Ok(mut c)) => {
                let n = c.len().min(buf.len());
                buf[..n].copy_from_slice(&c[..n]);
                if n < c.len() {
                    self.0.push_front(Ok(c.split_off(n)));
                }
                Poll::Ready(Ok(n))
            }
        }
    }
}

fn block<T>(f: impl std::future::Future<Output = T>) -> T {
    tulip_reactor::block_on(f)
}

#[test]
fn read_until_finds_separators_split_across_reads() {
    // (chunks, separator, expected frames before end of stream)
    type Case<'a> = (&'a [&'a [u8]], &'a [u8], &'a [&'a [u8]]);
    let cases: &[Case<'_>] = &[
        (&[b"ab\r", b"\ncd\r\n"], b"\r\n", &[b"ab\r\n", b"cd\r\n"]),
        (&[b"a", b"b", b"\r", b"\n"], b"\r\n", &[b"ab\r\n"]),
        (&[b"x--", b"-", b"-y----"], b"----", &[b"x----", b"y----"]),
        (&[b"\r\n\r", b"\n"], b"\r\n\r\n", &[b"\r\n\r\n"]),
        (&[b"one\ntwo\n"], b"\n", &[b"one\n", b"two\n"]),
        (&[b"abab", b"abc"], b"ababc", &[b"abababc"]),
    ];
    for (chunks, sep, want) in cases {
        block(async {
            let mut r = StreamReader::new(script(chunks));
            for w in *want {
                let got = r.read_until(sep).await.expect("frame");
                assert_eq!(&got[..], *w, "chunks {chunks:?} sep {sep:?}");
            }
            let end = r.read_until(sep).await;
            assert!(
                matches!(&end, Err(ReadError::Incomplete { partial, expected: None }) if partial.is_empty()),
                "{end:?}"
            );
            assert!(r.at_eof());
        });
    }
}

#[test]
fn read_until_limit_overrun_leaves_data_readable() {
    block(async {
        let mut r = StreamReader::with_limit(script(&[b"0123456789", b"abcdef", b"\nrest"]), 8);
        let err = r.read_until(b"\n").await.unwrap_err();
        let ReadError::LimitOverrun { consumed } = err else {
            panic!("want LimitOverrun, got {err:?}")
        };
        assert!(consumed > 8, "consumed {consumed}");
        // Nothing was consumed: the bytes come out in order with plain reads.
        let mut all = Vec::new();
        let got = r.read(4).await.unwrap();
        all.extend(got);
        let mut rest = Vec::new();
        r.read_to_end(&mut rest).await.unwrap();
        all.extend(rest);
        assert_eq!(all, b"0123456789abcdef\nrest");
    });
}

#[test]
fn read_until_separator_beyond_limit_is_an_overrun() {
    block(async {
        let mut r = StreamReader::with_limit(script(&[b"0123456789\n"]), 4);
        let err = r.read_until(b"\n").await.unwrap_err();
        assert!(err.is_limit_overrun(), "{err:?}");
        assert_eq!(r.buffer(), b"0123456789\n");
        // A bigger limit on a fresh reader finds it.
        let mut r = StreamReader::with_limit(script(&[b"0123456789\n"]), 10);
        assert_eq!(r.read_until(b"\n").await.unwrap(), b"0123456789\n");
    });
}

#[test]
fn read_until_rejects_an_empty_separator() {
    block(async {
        let mut r = StreamReader::new(script(&[b"abc"]));
        let err = r.read_until(b"").await.unwrap_err();
        assert!(matches!(&err, ReadError::Io(e) if e.kind() == io::ErrorKind::InvalidInput));
    });
}

#[test]
fn read_exactly_reports_partial_bytes_at_eof() {
    block(async {
        let mut r = StreamReader::new(script(&[b"abc", b"de"]));
        assert_eq!(r.read_exactly(2).await.unwrap(), b"ab");
        match r.read_exactly(10).await {
            Err(ReadError::Incomplete { partial, expected }) => {
                assert_eq!(partial, b"cde");
                assert_eq!(expected, Some(10));
            }
            other => panic!("want Incomplete, got {other:?}"),
        }
        assert!(r.at_eof());
        let io_err: io::Error = ReadError::Incomplete {
            partial: vec![],
            expected: Some(1),
        }
        .into();
        assert_eq!(io_err.kind(), io::ErrorKind::UnexpectedEof);
    });
}

#[test]
fn read_line_returns_the_unterminated_tail_then_empty() {
    block(async {
        let mut r = StreamReader::new(script(&[b"a\nb", b"c"]));
        assert_eq!(r.read_line().await.unwrap(), b"a\n");
        assert_eq!(r.read_line().await.unwrap(), b"bc");
        assert_eq!(r.read_line().await.unwrap(), b"");
    });
}

#[test]
fn read_returns_at_most_n_and_empty_at_eof() {
    block(async {
        let mut r = StreamReader::new(script(&[b"hello", b"!"]));
        assert_eq!(r.read(3).await.unwrap(), b"hel");
        assert_eq!(r.read(100).await.unwrap(), b"lo");
        assert_eq!(r.read(100).await.unwrap(), b"!");
        assert_eq!(r.read(100).await.unwrap(), b"");
        assert_eq!(r.read(0).await.unwrap(), b"");
    });
}

#[test]
fn io_errors_pass_through() {
    block(async {
        let mut s = script(&[b"ab"]);
        s.0.push_back(Err(io::Error::new(io::ErrorKind::ConnectionReset, "rst")));
        let mut r = StreamReader::new(s);
        let err = r.read_until(b"\n").await.unwrap_err();
        assert!(matches!(&err, ReadError::Io(e) if e.kind() == io::ErrorKind::ConnectionReset));
        // The bytes before the error are still there.
        assert_eq!(r.buffer(), b"ab");
    });
}

#[test]
fn async_buf_read_lines() {
    block(async {
        let r = StreamReader::new(script(&[b"x\ny", b"\nz"]));
        let lines: Vec<String> = futures_lite::StreamExt::collect::<Vec<_>>(r.lines())
            .await
            .into_iter()
            .map(Result::unwrap)
            .collect();
        assert_eq!(lines, ["x", "y", "z"]);
    });
}

#[test]
fn long_line_in_many_small_reads_is_found_once() {
    block(async {
        // 2,000 one-byte reads before the separator: the resumed search keeps this linear.
        let mut chunks: Vec<Vec<u8>> = (0..2000).map(|_| b"a".to_vec()).collect();
        chunks.push(b"\r\n".to_vec());
        let s = Script(chunks.into_iter().map(Ok).collect());
        let mut r = StreamReader::new(s);
        let line = r.read_until(b"\r\n").await.unwrap();
        assert_eq!(line.len(), 2002);
    });
}
