//! The chunked body decoder: never panics, and the body it yields does not depend on how the
//! input was split across reads (fed whole, one byte at a time, or in fuzzer-chosen steps).
#![no_main]

use libfuzzer_sys::fuzz_target;
use tulip_http::__fuzz::decode_chunked;

const LIMIT: u64 = 1 << 16;

fuzz_target!(|data: &[u8]| {
    let Some((&step, input)) = data.split_first() else { return };
    let whole = decode_chunked(input, usize::MAX, LIMIT);
    let split = decode_chunked(input, usize::from(step).max(1), LIMIT);
    let bytewise = decode_chunked(input, 1, LIMIT);
    if let Ok(body) = &whole {
        assert!(body.len() as u64 <= LIMIT, "body beyond its limit");
    }
    assert_eq!(whole.is_ok(), split.is_ok(), "verdict depends on read boundaries");
    assert_eq!(whole.is_ok(), bytewise.is_ok(), "verdict depends on read boundaries");
    if let (Ok(a), Ok(b), Ok(c)) = (&whole, &split, &bytewise) {
        assert_eq!(a, b, "bytes lost or duplicated across reads");
        assert_eq!(a, c, "bytes lost or duplicated across reads");
    }
});
