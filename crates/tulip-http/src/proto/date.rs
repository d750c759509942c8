//! The `Date` header value, rendered at most once per second per thread.

use std::cell::RefCell;
use std::time::{SystemTime, UNIX_EPOCH};

use http::HeaderValue;

/// Length of an IMF-fixdate, e.g. `Sun, 06 Nov 1994 08:49:37 GMT`.
pub(crate) const DATE_LEN: usize = 29;

struct Cached {
    second: u64,
    text: [u8; DATE_LEN],
    /// `text` as a header value, made on first use within its second.
    value: Option<HeaderValue>,
}

thread_local! {
    static CACHE: RefCell<Cached> = const {
        RefCell::new(Cached { second: u64::MAX, text: [0; DATE_LEN], value: None })
    };
}

/// Runs `f` on this thread's rendering of the current second.
fn with_current<R>(f: impl FnOnce(&mut Cached) -> R) -> R {
    let now = SystemTime::now();
    let second = now
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    CACHE.with(|c| {
        let mut c = c.borrow_mut();
        if c.second != second {
            let s = httpdate::fmt_http_date(now);
            if s.len() == DATE_LEN {
                c.text.copy_from_slice(s.as_bytes());
                c.second = second;
                c.value = None;
            }
        }
        f(&mut c)
    })
}

/// Appends the current date (`Date` header value) to `out`.
pub(crate) fn extend_date(out: &mut Vec<u8>) {
    with_current(|c| out.extend_from_slice(&c.text));
}

/// The current date as a header value: a shared reference to this thread's rendering, not
/// a new copy per response (HTTP/2, where the head is a `HeaderMap`).
pub(crate) fn date_value() -> HeaderValue {
    with_current(|c| {
        let text = c.text;
        c.value
            .get_or_insert_with(|| {
                HeaderValue::from_maybe_shared(bytes::Bytes::copy_from_slice(&text))
                    .expect("an IMF-fixdate is a valid header value")
            })
            .clone()
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn renders_a_parseable_date() {
        let mut v = Vec::new();
        super::extend_date(&mut v);
        let s = std::str::from_utf8(&v).unwrap();
        assert!(httpdate::parse_http_date(s).is_ok(), "{s}");
    }

    #[test]
    fn the_header_value_is_the_rendered_date() {
        // Both read the same second's rendering unless a second boundary falls between the
        // two calls; then the next pair agrees.
        for _ in 0..3 {
            let mut v = Vec::new();
            super::extend_date(&mut v);
            if super::date_value().as_bytes() == v.as_slice() {
                return;
            }
        }
        panic!("date_value never matched extend_date");
    }
}
