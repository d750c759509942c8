//! A `log` logger that records what one target says, for tests of the runtime's reports
//! (debug mode's unclosed-resource and slow-poll warnings) that name a creation site.

use std::panic::Location;
use std::sync::{Mutex, OnceLock};

static RECORDS: Mutex<Vec<(log::Level, String)>> = Mutex::new(Vec::new());
static TARGET: OnceLock<&'static str> = OnceLock::new();

struct Capture;

impl log::Log for Capture {
    fn enabled(&self, m: &log::Metadata<'_>) -> bool {
        TARGET.get().is_some_and(|t| m.target() == *t)
    }

    fn log(&self, r: &log::Record<'_>) {
        if self.enabled(r.metadata()) {
            RECORDS
                .lock()
                .unwrap()
                .push((r.level(), r.args().to_string()));
        }
    }

    fn flush(&self) {}
}

/// Installs the recording logger for `target` (warnings and above), once per test binary.
///
/// # Panics
///
/// When another logger is installed in this binary, or a second call names another target.
pub fn capture(target: &'static str) {
    let first = TARGET.get_or_init(|| {
        log::set_logger(&Capture).expect("no other logger in this test binary");
        log::set_max_level(log::LevelFilter::Warn);
        target
    });
    assert_eq!(*first, target, "one captured target per test binary");
}

/// The records that name a creation site (`(created at FILE:LINE:`) in `here`'s file, on
/// `here`'s line or at most `above` lines before it (a `Location` taken right after the
/// creating call, which rustfmt may spread over lines).
pub fn reports_near(here: &Location<'_>, above: u32) -> Vec<(log::Level, String)> {
    let sites: Vec<String> = (here.line().saturating_sub(above)..=here.line())
        .map(|l| format!("(created at {}:{l}:", here.file()))
        .collect();
    RECORDS
        .lock()
        .unwrap()
        .iter()
        .filter(|(_, line)| sites.iter().any(|s| line.contains(s)))
        .cloned()
        .collect()
}
