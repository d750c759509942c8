//! Differential: tulip's request-head parser against httparse's verdict on the same bytes.
//!
//! tulip tokenizes with httparse and then adds checks of its own (bare CR/LF, framing headers,
//! limits), so it may only be *stricter*: whenever tulip accepts a head, httparse must accept
//! it too, with the same length; and when httparse says the input is still partial, tulip
//! must not claim a complete head.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tulip_http::__fuzz::parse_request;

fuzz_target!(|data: &[u8]| {
    let ours = parse_request(data);
    let mut headers = [httparse::EMPTY_HEADER; 100];
    let mut req = httparse::Request::new(&mut headers);
    let theirs = req.parse(data);
    match (ours, theirs) {
        (Ok(Some(len)), Ok(httparse::Status::Complete(n))) => {
            assert_eq!(len, n, "head length differs from httparse")
        }
        (Ok(Some(len)), other) => {
            panic!("tulip accepted a {len}-byte head httparse rejects: {other:?}")
        }
        // tulip stricter, or both incomplete, or both failing: fine.
        _ => {}
    }
});
