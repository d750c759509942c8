//! The `Date` header value, rendered at most once per second per thread.

use std::cell::RefCell;
use std::time::{SystemTime, UNIX_EPOCH};

/// Length of an IMF-fixdate, e.g. `Sun, 06 Nov 1994 08:49:37 GMT`.
pub(crate) const DATE_LEN: usize = 29;

struct Cached {
    second: u64,
    text: [u8; DATE_LEN],
}

thread_local! {
    static CACHE: RefCell<Cached> = const { RefCell::new(Cached { second: u64::MAX, text: [0; DATE_LEN] }) };
}

/// Appends the current date (`Date` header value) to `out`.
pub(crate) fn extend_date(out: &mut Vec<u8>) {
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
            }
        }
        out.extend_from_slice(&c.text);
    });
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
}
