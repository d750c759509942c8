//! Debug mode (`TULIP_DEBUG=1` or `runtime::Builder::debug(true)`): asyncio's slow-callback
//! warnings for task polls, and a list of tasks still pending at shutdown. Unobserved panics are
//! reported in every mode.

use std::sync::OnceLock;
use std::time::Duration;

/// asyncio's `slow_callback_duration` default.
pub(crate) const DEFAULT_SLOW_POLL: Duration = Duration::from_millis(100);

/// Whether `TULIP_DEBUG` asks for debug mode (`1`, `true`, `yes`), read once.
pub(crate) fn env_debug() -> bool {
    static ON: OnceLock<bool> = OnceLock::new();
    *ON.get_or_init(|| {
        std::env::var("TULIP_DEBUG")
            .map(|v| {
                matches!(
                    v.trim().to_ascii_lowercase().as_str(),
                    "1" | "true" | "yes" | "on"
                )
            })
            .unwrap_or(false)
    })
}

/// asyncio's "Task exception was never retrieved", for a panic whose handle was dropped.
pub(crate) fn report_unobserved_panic(task: &str, msg: &str) {
    eprintln!("tulip: task {task} panicked and nobody awaited it: {msg}");
}

/// A poll that ran longer than the threshold.
pub(crate) fn report_slow_poll(task: &str, took: Duration) {
    eprintln!(
        "tulip: executing task {task} took {:.3} seconds",
        took.as_secs_f64()
    );
}

/// Tasks still pending when their runtime shut down.
pub(crate) fn report_pending(tasks: &[crate::task::TaskInfo]) {
    if tasks.is_empty() {
        return;
    }
    eprintln!(
        "tulip: runtime shut down with {} pending task(s); cancelling:",
        tasks.len()
    );
    for t in tasks {
        match &t.name {
            Some(n) => eprintln!("  {} {n:?}", t.id),
            None => eprintln!("  {}", t.id),
        }
    }
}
