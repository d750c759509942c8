//! `tracing` integration (feature `tracing`): a span per task, and the runtime's reports as
//! events. Without the feature, `task` is the identity and nothing here is compiled.

use std::panic::Location;

use crate::task::meta::TaskMeta;

/// A task's future as the runtime stores it: in its span with the feature, bare without.
#[cfg(feature = "tracing")]
pub(crate) type Traced<F> = tracing::instrument::Instrumented<F>;
/// A task's future as the runtime stores it: in its span with the feature, bare without.
#[cfg(not(feature = "tracing"))]
pub(crate) type Traced<F> = F;

/// The `tracing` target of task spans.
#[cfg(feature = "tracing")]
pub const TASK_TARGET: &str = "tulip_executor::task";

/// Puts a new task's future in a span `task` with fields `task.id`, `task.name` (when it has
/// one at spawn) and `spawn.location`; the span is entered around every poll and the drop.
#[cfg(feature = "tracing")]
pub(crate) fn task<F>(fut: F, meta: &TaskMeta, site: &'static Location<'static>) -> Traced<F> {
    use tracing::Instrument;
    let span = tracing::info_span!(
        target: TASK_TARGET,
        "task",
        task.id = meta.id.as_u64(),
        task.name = tracing::field::Empty,
        spawn.location = %site,
    );
    if let Some(name) = meta.name() {
        span.record("task.name", &*name);
    }
    fut.instrument(span)
}

/// Without the feature: the future itself.
#[cfg(not(feature = "tracing"))]
#[inline(always)]
pub(crate) fn task<F>(fut: F, _meta: &TaskMeta, _site: &'static Location<'static>) -> Traced<F> {
    fut
}

/// A report as a `tracing` event (target `tulip_executor::debug`), beside the `log` record the
/// default handler writes.
#[cfg(feature = "tracing")]
pub(crate) fn report(ctx: &crate::debug::ExceptionContext, level: log::Level) {
    let kind = format!("{:?}", ctx.kind);
    let task_id = ctx.task.as_ref().map(|t| t.id.as_u64());
    let task_name = ctx.task.as_ref().and_then(|t| t.name.as_deref());
    let site = ctx.site.map(|s| s.to_string());
    macro_rules! ev {
        ($lvl:expr) => {
            tracing::event!(
                target: "tulip_executor::debug",
                $lvl,
                kind = %kind,
                task.id = task_id,
                task.name = task_name,
                error = ctx.error.as_deref(),
                site = site.as_deref(),
                "{}",
                ctx.message
            )
        };
    }
    match level {
        log::Level::Error => ev!(tracing::Level::ERROR),
        _ => ev!(tracing::Level::WARN),
    }
}
