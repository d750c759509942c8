//! The client's response-head parser and the body framing it picks (Content-Length, chunked,
//! until close): never panics, bodies stay within their limit, and the result does not depend
//! on read boundaries.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tulip_http::__fuzz::parse_response;

const LIMIT: u64 = 1 << 16;

fuzz_target!(|data: &[u8]| {
    let Some((&step, input)) = data.split_first() else { return };
    let whole = parse_response(input, usize::MAX, LIMIT);
    let split = parse_response(input, usize::from(step).max(1), LIMIT);
    if let Ok(Some((status, body))) = &whole {
        assert!((100..1000).contains(status), "status {status} out of range");
        assert!(body.len() <= input.len(), "body longer than its input");
    }
    assert_eq!(whole.is_ok(), split.is_ok(), "verdict depends on read boundaries");
    if let (Ok(a), Ok(b)) = (&whole, &split) {
        assert_eq!(a, b, "bytes lost or duplicated across reads");
    }
});
