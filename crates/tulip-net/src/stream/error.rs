//! [`ReadError`]: what the stream reader's framed reads can fail with.

use std::fmt;
use std::io;

/// The error of [`StreamReader`](crate::StreamReader)'s framed reads (`read_exactly`,
/// `read_until`, `read_line`): asyncio's `IncompleteReadError` and `LimitOverrunError`, or an
/// I/O error.
///
/// Converts into `io::Error` (kinds `UnexpectedEof` and `InvalidData`) for `?` in functions
/// returning `io::Result`.
#[derive(Debug)]
#[non_exhaustive]
pub enum ReadError {
    /// End of stream before the read was satisfied (asyncio's `IncompleteReadError`). The
    /// bytes read so far are consumed and handed back in `partial`.
    Incomplete {
        /// The bytes received before end of stream.
        partial: Vec<u8>,
        /// The count asked for, or `None` when reading up to a separator.
        expected: Option<usize>,
    },
    /// The separator was not found within the reader's limit (asyncio's
    /// `LimitOverrunError`). Nothing was consumed: the data stays readable.
    LimitOverrun {
        /// How many buffered bytes were searched (a hint of how much to consume).
        consumed: usize,
    },
    /// The underlying reader failed.
    Io(io::Error),
}

impl ReadError {
    /// Whether this is [`ReadError::Incomplete`].
    pub fn is_incomplete(&self) -> bool {
        matches!(self, ReadError::Incomplete { .. })
    }

    /// Whether this is [`ReadError::LimitOverrun`].
    pub fn is_limit_overrun(&self) -> bool {
        matches!(self, ReadError::LimitOverrun { .. })
    }
}

impl fmt::Display for ReadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReadError::Incomplete {
                partial,
                expected: Some(n),
            } => write!(
                f,
                "{} bytes read on a total of {n} expected bytes",
                partial.len()
            ),
            ReadError::Incomplete {
                partial,
                expected: None,
            } => write!(
                f,
                "end of stream after {} bytes, before the separator",
                partial.len()
            ),
            ReadError::LimitOverrun { consumed } => write!(
                f,
                "separator not found within the limit ({consumed} bytes searched)"
            ),
            ReadError::Io(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for ReadError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ReadError::Io(e) => Some(e),
            _ => None,
        }
    }
}

impl From<io::Error> for ReadError {
    fn from(e: io::Error) -> ReadError {
        ReadError::Io(e)
    }
}

impl From<ReadError> for io::Error {
    fn from(e: ReadError) -> io::Error {
        match e {
            ReadError::Io(e) => e,
            e @ ReadError::Incomplete { .. } => io::Error::new(io::ErrorKind::UnexpectedEof, e),
            e @ ReadError::LimitOverrun { .. } => io::Error::new(io::ErrorKind::InvalidData, e),
        }
    }
}
