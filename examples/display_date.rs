//! asyncio's "Display the current date with call_later()": a callback reschedules itself every
//! second for five seconds, then stops the loop.
//!
//! Run: `cargo run -p examples --example display_date` (add `--fast` to tick every 50 ms).
//! Prints the date and time once a tick, five times, then exits.

use std::time::{Duration, Instant, SystemTime};

use tulip::{Handle, Runtime};

fn display_date(handle: Handle, end: Instant, every: Duration) {
    println!("{}", httpdate_like(SystemTime::now()));
    if handle.time() + every >= end {
        handle.stop();
    } else {
        let h = handle.clone();
        handle.call_later(every, move || display_date(h, end, every));
    }
}

/// RFC 3339-ish UTC rendering without a date library: days since the epoch to a civil date
/// (Howard Hinnant's algorithm).
fn httpdate_like(t: SystemTime) -> String {
    let secs = t
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let (days, rem) = ((secs / 86_400) as i64, secs % 86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02} UTC",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

fn main() -> std::io::Result<()> {
    let fast = std::env::args().any(|a| a == "--fast");
    let every = if fast {
        Duration::from_millis(50)
    } else {
        Duration::from_secs(1)
    };
    let rt = Runtime::new()?;
    let handle = rt.handle().clone();
    let end = handle.time() + every * 5;
    let h = handle.clone();
    handle.call_soon(move || display_date(h, end, every));
    rt.run_forever();
    Ok(())
}
