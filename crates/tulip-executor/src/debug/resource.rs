//! `ResourceTracker`: asyncio's `ResourceWarning` for resources dropped unclosed.

use std::fmt;
use std::panic::Location;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use super::{Diag, ExceptionContext, ReportKind};

/// Remembers where a resource was created and reports it if it is dropped without being
/// closed (asyncio's `ResourceWarning: unclosed transport`), in debug mode only.
///
/// Embed one in a resource type, create it in the resource's constructors (which carry
/// `#[track_caller]`, so the site is the user's call), call [`mark_closed`](Self::mark_closed)
/// when the resource is closed the way its documentation asks, and let it drop with the
/// resource. With debug mode off ([`enabled`](super::enabled) is false where the resource is
/// created) it is a null pointer: nothing is allocated, and drop tests one word.
///
/// The report goes to the exception handler of the runtime that was current at creation
/// (or, outside any runtime, to the default handler).
///
/// tulip's own resources use it: `TcpStream` and `UnixStream` (closed by
/// `AsyncWriteExt::close`, `shutdown`, or by dropping an owned write half), TLS streams opened
/// by `open_connection_tls`, `Server`, `Transport`, child processes (closed once their exit
/// status was collected).
///
/// ```
/// use tulip_executor::debug::ResourceTracker;
///
/// struct Conn {
///     tracker: ResourceTracker,
/// }
///
/// impl Conn {
///     #[track_caller]
///     fn open() -> Conn {
///         Conn { tracker: ResourceTracker::new("Conn") }
///     }
///
///     fn close(self) {
///         self.tracker.mark_closed();
///     }
/// }
///
/// let rt = tulip_executor::runtime::Builder::new().debug(true).build().unwrap();
/// rt.block_on(async {
///     let c = Conn::open();
///     assert!(c.tracker.site().is_some()); // debug mode: the site is this line
///     c.close(); // no report
///     drop(Conn::open()); // "unclosed Conn (created at ...)"
/// });
/// ```
#[derive(Default)]
pub struct ResourceTracker(Option<Box<Tracked>>);

struct Tracked {
    kind: &'static str,
    site: &'static Location<'static>,
    diag: Arc<Diag>,
    closed: AtomicBool,
}

impl ResourceTracker {
    /// Starts tracking a resource of kind `kind` (a type name, as the report shows it) created
    /// at the caller's site, if debug mode is on here.
    #[track_caller]
    pub fn new(kind: &'static str) -> ResourceTracker {
        ResourceTracker::at(kind, Location::caller())
    }

    /// Starts tracking a resource created at `site`, if debug mode is on here.
    pub fn at(kind: &'static str, site: &'static Location<'static>) -> ResourceTracker {
        super::with_current(|d| {
            let diag = match d {
                Some(d) if d.debug() => d.clone(),
                Some(_) => return ResourceTracker(None),
                None if super::env_debug() => Diag::global().clone(),
                None => return ResourceTracker(None),
            };
            ResourceTracker(Some(Box::new(Tracked {
                kind,
                site,
                diag,
                closed: AtomicBool::new(false),
            })))
        })
    }

    /// A tracker that tracks nothing (for resources that tulip itself owns and closes).
    pub const fn none() -> ResourceTracker {
        ResourceTracker(None)
    }

    /// Records that the resource was closed: dropping it no longer reports.
    #[inline]
    pub fn mark_closed(&self) {
        if let Some(t) = &self.0 {
            t.closed.store(true, Ordering::Relaxed);
        }
    }

    /// Whether the resource is tracked and not closed yet.
    pub fn is_open(&self) -> bool {
        self.0
            .as_ref()
            .is_some_and(|t| !t.closed.load(Ordering::Relaxed))
    }

    /// Stops tracking (the resource's ownership moves somewhere the tracker cannot follow,
    /// such as `into_std`).
    pub fn disarm(&mut self) {
        self.0 = None;
    }

    /// Takes the tracking out of `self` (to hand it to the resource that now owns the
    /// underlying handle, e.g. a TLS stream over a TCP stream).
    pub fn take(&mut self) -> ResourceTracker {
        ResourceTracker(self.0.take())
    }

    /// Renames what the report calls the resource, keeping its site.
    pub fn set_kind(&mut self, kind: &'static str) {
        if let Some(t) = &mut self.0 {
            t.kind = kind;
        }
    }

    /// Where the resource was created, when debug mode was on then.
    pub fn site(&self) -> Option<&'static Location<'static>> {
        self.0.as_ref().map(|t| t.site)
    }
}

impl Drop for ResourceTracker {
    fn drop(&mut self) {
        let Some(t) = self.0.take() else { return };
        if t.closed.load(Ordering::Relaxed) {
            return;
        }
        let ctx = ExceptionContext {
            kind: ReportKind::Unclosed,
            message: format!("unclosed {}", t.kind),
            task: crate::current_task(),
            error: None,
            site: Some(t.site),
        };
        t.diag.report(&ctx);
    }
}

impl fmt::Debug for ResourceTracker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            None => f.write_str("ResourceTracker(off)"),
            Some(t) => f
                .debug_struct("ResourceTracker")
                .field("kind", &t.kind)
                .field("site", &t.site)
                .field("closed", &t.closed.load(Ordering::Relaxed))
                .finish(),
        }
    }
}
