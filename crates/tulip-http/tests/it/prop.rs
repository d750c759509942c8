//! Property tests: the head parser and the chunked decoder never panic and do not depend on how
//! the input is split.

use proptest::prelude::*;
use tulip_http::__fuzz;

fn request_like() -> impl Strategy<Value = Vec<u8>> {
    let pieces = prop::collection::vec(
        prop_oneof![
            Just(b"GET / HTTP/1.1\r\n".to_vec()),
            Just(b"POST /x HTTP/1.0\r\n".to_vec()),
            Just(b"Host: x\r\n".to_vec()),
            Just(b"Content-Length: 5\r\n".to_vec()),
            Just(b"Transfer-Encoding: chunked\r\n".to_vec()),
            Just(b"\r\n".to_vec()),
            Just(b"\n".to_vec()),
            Just(b"\r".to_vec()),
            Just(b" ".to_vec()),
            Just(b":".to_vec()),
            prop::collection::vec(any::<u8>(), 0..8),
        ],
        0..12,
    );
    pieces.prop_map(|v| v.concat())
}

fn chunked_like() -> impl Strategy<Value = Vec<u8>> {
    let pieces = prop::collection::vec(
        prop_oneof![
            Just(b"5\r\nhello\r\n".to_vec()),
            Just(b"3;a=b\r\nabc\r\n".to_vec()),
            Just(b"0\r\n\r\n".to_vec()),
            Just(b"0\r\nX: y\r\n\r\n".to_vec()),
            Just(b"\r\n".to_vec()),
            Just(b";".to_vec()),
            prop::collection::vec(any::<u8>(), 0..6),
        ],
        0..10,
    );
    pieces.prop_map(|v| v.concat())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(if cfg!(debug_assertions) { 256 } else { 2048 }))]

    #[test]
    fn parser_never_panics_and_prefixes_agree(input in request_like()) {
        let whole = __fuzz::parse_request(&input);
        // Feeding a prefix either is incomplete, or reaches the same verdict.
        for cut in 0..=input.len() {
            let part = __fuzz::parse_request(&input[..cut]);
            if let (Ok(Some(len)), Ok(Some(plen))) = (&whole, &part) {
                prop_assert_eq!(len, plen);
            }
            if let Ok(Some(len)) = part {
                prop_assert_eq!(&whole, &Ok(Some(len)));
            }
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic(input in prop::collection::vec(any::<u8>(), 0..256)) {
        let _ = __fuzz::parse_request(&input);
        let _ = __fuzz::decode_chunked(&input, 1, 1 << 20);
    }

    #[test]
    fn chunked_decoding_ignores_split_points(input in chunked_like()) {
        let whole = __fuzz::decode_chunked(&input, usize::MAX, 1 << 20);
        for step in 1..=input.len().clamp(1, 16) {
            let split = __fuzz::decode_chunked(&input, step, 1 << 20);
            prop_assert_eq!(whole.is_ok(), split.is_ok(), "step {}", step);
            if let (Ok(a), Ok(b)) = (&whole, &split) {
                prop_assert_eq!(a, b);
            }
        }
    }
}
