//! `GroupError`: every failure of a task group's children (asyncio's `ExceptionGroup`).

use std::any::Any;
use std::error::Error;
use std::fmt;

/// How one child of a [`TaskGroup`](crate::TaskGroup) failed.
pub enum Failure<E> {
    /// The child returned `Err`.
    Error(E),
    /// The child panicked; the payload is what `std::panic::resume_unwind` takes.
    Panic(Box<dyn Any + Send + 'static>),
}

impl<E> Failure<E> {
    /// The error, if the child returned one.
    pub fn as_error(&self) -> Option<&E> {
        match self {
            Failure::Error(e) => Some(e),
            Failure::Panic(_) => None,
        }
    }

    /// Whether the child panicked.
    pub fn is_panic(&self) -> bool {
        matches!(self, Failure::Panic(_))
    }

    /// The panic message, when the child panicked with a string (as `panic!` does).
    pub fn panic_message(&self) -> Option<&str> {
        match self {
            Failure::Panic(p) => p
                .downcast_ref::<&'static str>()
                .copied()
                .or_else(|| p.downcast_ref::<String>().map(String::as_str)),
            Failure::Error(_) => None,
        }
    }
}

impl<E: fmt::Debug> fmt::Debug for Failure<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Error(e) => f.debug_tuple("Error").field(e).finish(),
            Failure::Panic(_) => f
                .debug_tuple("Panic")
                .field(&self.panic_message().unwrap_or("Box<dyn Any>"))
                .finish(),
        }
    }
}

impl<E: fmt::Display> fmt::Display for Failure<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Error(e) => e.fmt(f),
            Failure::Panic(_) => match self.panic_message() {
                Some(msg) => write!(f, "task panicked: {msg}"),
                None => f.write_str("task panicked"),
            },
        }
    }
}

/// The failures of a task group's children, in the order they happened (never empty).
///
/// The first failure cancelled the other children; children that failed while that
/// cancellation was under way are listed after it. Children that were cancelled are not
/// failures and are not listed.
pub struct GroupError<E> {
    failures: Vec<Failure<E>>,
}

impl<E> GroupError<E> {
    pub(crate) fn new(failures: Vec<Failure<E>>) -> Self {
        debug_assert!(!failures.is_empty());
        GroupError { failures }
    }

    /// Every failure, first one first.
    pub fn failures(&self) -> &[Failure<E>] {
        &self.failures
    }

    /// Takes the failures out.
    pub fn into_failures(self) -> Vec<Failure<E>> {
        self.failures
    }

    /// The failure that cancelled the group.
    pub fn first(&self) -> &Failure<E> {
        &self.failures[0]
    }

    /// The errors that children returned (panics left out), in order.
    pub fn errors(&self) -> impl Iterator<Item = &E> {
        self.failures.iter().filter_map(Failure::as_error)
    }

    /// Re-raises the first child panic on this thread, if there was one; otherwise hands the
    /// error back (like `JoinError::into_panic` + `resume_unwind`, for groups).
    pub fn resume_panic(self) -> Self {
        let Some(at) = self.failures.iter().position(Failure::is_panic) else {
            return self;
        };
        let mut failures = self.failures;
        match failures.swap_remove(at) {
            Failure::Panic(payload) => std::panic::resume_unwind(payload),
            Failure::Error(_) => unreachable!("position() found a panic"),
        }
    }
}

impl<E: fmt::Debug> fmt::Debug for GroupError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GroupError")
            .field("failures", &self.failures)
            .finish()
    }
}

impl<E: fmt::Display> fmt::Display for GroupError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.failures.len() {
            1 => write!(f, "a task in the group failed: {}", self.first()),
            n => write!(f, "{n} tasks in the group failed; first: {}", self.first()),
        }
    }
}

impl<E: Error + 'static> Error for GroupError<E> {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        self.first().as_error().map(|e| e as &(dyn Error + 'static))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_and_accessors() {
        let err = GroupError::new(vec![
            Failure::Error(std::io::Error::other("disk")),
            Failure::Panic(Box::new("boom")),
            Failure::Panic(Box::new(String::from("bang"))),
            Failure::Panic(Box::new(7_u8)),
        ]);
        assert_eq!(err.to_string(), "4 tasks in the group failed; first: disk");
        assert_eq!(err.errors().count(), 1);
        assert_eq!(err.failures()[1].panic_message(), Some("boom"));
        assert_eq!(err.failures()[2].to_string(), "task panicked: bang");
        assert_eq!(err.failures()[3].to_string(), "task panicked");
        assert!(err.source().is_some());
        assert_eq!(format!("{:?}", err.failures()[1]), "Panic(\"boom\")");
    }

    #[test]
    fn resume_panic_re_raises_the_first_panic() {
        let err = GroupError::new(vec![Failure::Error(1), Failure::Panic(Box::new("first"))]);
        let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| err.resume_panic()));
        let payload = caught.expect_err("resume_panic must unwind");
        assert_eq!(payload.downcast_ref::<&str>(), Some(&"first"));

        let err = GroupError::new(vec![Failure::Error(1)]);
        assert_eq!(err.resume_panic().failures().len(), 1);
    }
}
