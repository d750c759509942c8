//! The server's request-head parser on arbitrary bytes: never panics, and a verdict on a
//! complete head does not change when more bytes follow it (the parser must not read past the
//! head it reports).
#![no_main]

use libfuzzer_sys::fuzz_target;
use tulip_http::__fuzz::parse_request;

fuzz_target!(|data: &[u8]| {
    let verdict = parse_request(data);
    if let Ok(Some(len)) = verdict {
        assert!(len <= data.len(), "head length {len} beyond input {}", data.len());
        // The head alone parses to the same length: nothing after it influenced the result.
        assert_eq!(parse_request(&data[..len]), Ok(Some(len)));
    }
    // Every strict prefix of an accepted head is incomplete or an error, never a shorter head.
    if let Ok(Some(len)) = verdict
        && len > 0
    {
        match parse_request(&data[..len - 1]) {
            Ok(Some(shorter)) => panic!("prefix of {len} bytes parsed as a {shorter}-byte head"),
            Ok(None) | Err(_) => {}
        }
    }
});
