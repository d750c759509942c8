//! Waiting for a condition another thread or process brings about, with a deadline.
//!
//! A test that needs "the server has accepted" or "the child has exited" should wait for an
//! event it can observe; when the only observable is a state it can poll (a process table
//! entry, a port that starts listening), [`until`] polls it with a short pause and fails the
//! test with a message naming what never happened, instead of sleeping a guessed time.

use std::time::{Duration, Instant};

/// Polls `check` until it returns `Some`, pausing 2 ms between tries, and returns the value.
///
/// # Panics
///
/// When `limit` passes first: the message says `what` did not happen within `limit`, with the
/// last error `check` reported through `Err` (use `Ok(None)` for "not yet").
pub fn until<T, E: std::fmt::Display>(
    limit: Duration,
    what: &str,
    mut check: impl FnMut() -> Result<Option<T>, E>,
) -> T {
    let start = Instant::now();
    let mut last = String::new();
    loop {
        match check() {
            Ok(Some(v)) => return v,
            Ok(None) => {}
            Err(e) => last = e.to_string(),
        }
        if start.elapsed() > limit {
            if last.is_empty() {
                panic!("{what} did not happen within {limit:?}");
            }
            panic!("{what} did not happen within {limit:?} (last error: {last})");
        }
        // Polling pause, not synchronisation: the condition is re-checked after it.
        std::thread::sleep(Duration::from_millis(2));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn returns_the_value_once_the_condition_holds() {
        let mut n = 0;
        let v = until(Duration::from_secs(5), "the third try", || {
            n += 1;
            Ok::<_, String>((n == 3).then_some(n))
        });
        assert_eq!(v, 3);
    }

    #[test]
    fn a_deadline_that_passes_fails_with_what_and_the_last_error() {
        let err = std::panic::catch_unwind(|| {
            until(Duration::from_millis(10), "the impossible", || {
                Err::<Option<()>, _>("refused")
            })
        })
        .unwrap_err();
        let msg = err.downcast_ref::<String>().unwrap();
        assert!(
            msg.starts_with("the impossible did not happen within 10ms"),
            "{msg}"
        );
        assert!(msg.ends_with("(last error: refused)"), "{msg}");
    }
}
