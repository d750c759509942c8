//! A `tracing` subscriber for tests: records every span (with the fields given at creation and
//! recorded later) and every event, globally, so that spans made on worker threads are seen.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, Once};

use tracing_core::field::{Field, Visit};
use tracing_core::span::{Attributes, Id, Record};
use tracing_core::{Event, Metadata, Subscriber};

/// One span or event as recorded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Recorded {
    /// The span's or event's name (an event's is `event file:line`).
    pub name: String,
    /// Its target.
    pub target: String,
    /// Its fields, rendered with `Debug` (strings without quotes); an event's text is under
    /// `message`.
    pub fields: BTreeMap<String, String>,
    /// Whether the span was closed (always false for events).
    pub closed: bool,
    /// For an event: the names of the spans entered on its thread when it fired, outermost
    /// first (empty for spans).
    pub within: Vec<String>,
}

impl Recorded {
    /// The field's value, if it was set.
    pub fn field(&self, name: &str) -> Option<&str> {
        self.fields.get(name).map(String::as_str)
    }
}

static SPANS: Mutex<BTreeMap<u64, Recorded>> = Mutex::new(BTreeMap::new());
static EVENTS: Mutex<Vec<Recorded>> = Mutex::new(Vec::new());
/// Each span's metadata, for `current_span` (which `Span::current()` asks for).
static META: Mutex<BTreeMap<u64, &'static Metadata<'static>>> = Mutex::new(BTreeMap::new());

thread_local! {
    /// The spans entered on this thread, innermost last.
    static ENTERED: std::cell::RefCell<Vec<u64>> = const { std::cell::RefCell::new(Vec::new()) };
}

struct Fields<'a>(&'a mut BTreeMap<String, String>);

impl Visit for Fields<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_owned(), value.to_owned());
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.0.insert(field.name().to_owned(), format!("{value:?}"));
    }
}

struct Collector {
    next: AtomicU64,
}

impl Subscriber for Collector {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }

    fn new_span(&self, span: &Attributes<'_>) -> Id {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let mut fields = BTreeMap::new();
        span.record(&mut Fields(&mut fields));
        let rec = Recorded {
            name: span.metadata().name().to_owned(),
            target: span.metadata().target().to_owned(),
            fields,
            closed: false,
            within: Vec::new(),
        };
        SPANS.lock().unwrap().insert(id, rec);
        META.lock().unwrap().insert(id, span.metadata());
        Id::from_u64(id)
    }

    fn record(&self, span: &Id, values: &Record<'_>) {
        if let Some(rec) = SPANS.lock().unwrap().get_mut(&span.into_u64()) {
            values.record(&mut Fields(&mut rec.fields));
        }
    }

    fn record_follows_from(&self, _: &Id, _: &Id) {}

    fn event(&self, event: &Event<'_>) {
        let mut fields = BTreeMap::new();
        event.record(&mut Fields(&mut fields));
        let ids = ENTERED.with(|e| e.borrow().clone());
        let within = {
            let spans = SPANS.lock().unwrap();
            ids.iter()
                .filter_map(|id| spans.get(id).map(|r| r.name.clone()))
                .collect()
        };
        EVENTS.lock().unwrap().push(Recorded {
            name: event.metadata().name().to_owned(),
            target: event.metadata().target().to_owned(),
            fields,
            closed: false,
            within,
        });
    }

    fn enter(&self, span: &Id) {
        ENTERED.with(|e| e.borrow_mut().push(span.into_u64()));
    }

    fn exit(&self, span: &Id) {
        ENTERED.with(|e| {
            let mut e = e.borrow_mut();
            if let Some(i) = e.iter().rposition(|s| *s == span.into_u64()) {
                e.remove(i);
            }
        });
    }

    fn current_span(&self) -> tracing_core::span::Current {
        let top = ENTERED.with(|e| e.borrow().last().copied());
        let meta = top.and_then(|id| META.lock().unwrap().get(&id).map(|m| (id, *m)));
        match meta {
            Some((id, m)) => tracing_core::span::Current::new(Id::from_u64(id), m),
            None => tracing_core::span::Current::none(),
        }
    }

    fn try_close(&self, id: Id) -> bool {
        if let Some(rec) = SPANS.lock().unwrap().get_mut(&id.into_u64()) {
            rec.closed = true;
        }
        true
    }
}

/// Installs the recording subscriber as the global default (once per test binary; fails if
/// another global subscriber was set first).
pub fn install() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let dispatch = tracing_core::Dispatch::new(Collector {
            next: AtomicU64::new(1),
        });
        tracing_core::dispatcher::set_global_default(dispatch)
            .expect("no other global tracing subscriber in this test binary");
    });
}

/// Every span recorded so far named `name` whose field `field` equals `value`.
pub fn spans_where(name: &str, field: &str, value: &str) -> Vec<Recorded> {
    SPANS
        .lock()
        .unwrap()
        .values()
        .filter(|r| r.name == name && r.field(field) == Some(value))
        .cloned()
        .collect()
}

/// Every span recorded so far named `name`.
pub fn spans_named(name: &str) -> Vec<Recorded> {
    SPANS
        .lock()
        .unwrap()
        .values()
        .filter(|r| r.name == name)
        .cloned()
        .collect()
}

/// Every event recorded so far whose `message` contains `needle`.
pub fn events_containing(needle: &str) -> Vec<Recorded> {
    EVENTS
        .lock()
        .unwrap()
        .iter()
        .filter(|r| r.field("message").is_some_and(|m| m.contains(needle)))
        .cloned()
        .collect()
}
