//! Debug mode (`TULIP_DEBUG=1` or `runtime::Builder::debug(true)`): asyncio's slow-callback
//! warnings for task polls, and a list of tasks still pending at shutdown. Unobserved panics are
//! reported in every mode.
//!
//! Reports go through the `log` crate (target `tulip_executor::debug`), like every runtime
//! warning in tulip: an application sees them through whatever logger it installs
//! (`env_logger`, `tracing`'s log bridge, ...), and with none they cost nothing.

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
    log::error!("task {task} panicked and nobody awaited it: {msg}");
}

/// A poll that ran longer than the threshold.
pub(crate) fn report_slow_poll(task: &str, took: Duration) {
    log::warn!(
        "executing task {task} took {:.3} seconds (a poll blocks its worker; move blocking work \
         to spawn_blocking)",
        took.as_secs_f64()
    );
}

/// Tasks still pending when their runtime shut down.
pub(crate) fn report_pending(tasks: &[crate::task::TaskInfo]) {
    if tasks.is_empty() {
        return;
    }
    let list: Vec<String> = tasks
        .iter()
        .map(|t| match &t.name {
            Some(n) => format!("{} {n:?}", t.id),
            None => t.id.to_string(),
        })
        .collect();
    log::warn!(
        "runtime shut down with {} pending task(s); cancelling: {}",
        tasks.len(),
        list.join(", ")
    );
}
