//! Request bodies: a stream fed by the connection as the handler reads it.
//!
//! The handler and the connection driver usually run in the same task: when the handler polls
//! the body and nothing is buffered, the body records that it *wants* data and returns Pending;
//! the driver sees the want, decodes or reads the next piece, hands it over and polls the
//! handler again. Nothing is read before the handler asks, so a body is never buffered whole
//! unless the handler calls [`Body::bytes`], and `Expect: 100-continue` is answered only then.

use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

use bytes::{Bytes, BytesMut};
use futures_lite::Stream;

use crate::error::{Error, Kind};

/// State shared between a [`Body`] and the connection driver.
#[derive(Debug, Default)]
pub(crate) struct FeedState {
    /// A piece handed over and not yet taken.
    pub(crate) chunk: Option<Bytes>,
    /// The reader is waiting for a piece.
    pub(crate) want: bool,
    /// The body ended (cleanly or with `error`).
    pub(crate) done: bool,
    pub(crate) error: Option<Error>,
    /// The reader's waker.
    reader: Option<Waker>,
    /// The driver's waker, for a reader on another task.
    pub(crate) driver: Option<Waker>,
}

/// The driver's end of a body channel.
#[derive(Debug, Clone)]
pub(crate) struct Feed(pub(crate) Arc<Mutex<FeedState>>);

fn lock(m: &Mutex<FeedState>) -> MutexGuard<'_, FeedState> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Feed {
    pub(crate) fn new() -> Feed {
        Feed(Arc::new(Mutex::new(FeedState::default())))
    }

    /// Resets a channel whose reader is gone so the next request can reuse it.
    pub(crate) fn reuse(&mut self) -> bool {
        if Arc::strong_count(&self.0) != 1 {
            return false;
        }
        *lock(&self.0) = FeedState::default();
        true
    }

    /// True when the reader waits and nothing is pending; records the driver's waker.
    pub(crate) fn wants(&self, driver: &Waker) -> bool {
        let mut s = lock(&self.0);
        if !s.driver.as_ref().is_some_and(|w| w.will_wake(driver)) {
            s.driver = Some(driver.clone());
        }
        s.want && s.chunk.is_none() && !s.done
    }

    fn wake_reader(s: &mut FeedState, driver: &Waker) {
        if let Some(w) = s.reader.take() {
            // The common case: reader and driver are one task, which is running right now.
            if !w.will_wake(driver) {
                w.wake();
            }
        }
    }

    pub(crate) fn send(&self, chunk: Bytes, driver: &Waker) {
        let mut s = lock(&self.0);
        s.chunk = Some(chunk);
        s.want = false;
        Feed::wake_reader(&mut s, driver);
    }

    pub(crate) fn finish(&self, error: Option<Error>, driver: &Waker) {
        let mut s = lock(&self.0);
        s.done = true;
        s.error = error;
        s.want = false;
        Feed::wake_reader(&mut s, driver);
    }
}

/// A request body: a [`Stream`] of `Bytes` pieces, or collected with [`bytes`](Body::bytes),
/// [`text`](Body::text), `json` and [`form`](Body::form).
///
/// Pieces are zero-copy slices of the connection's read buffer. The body enforces the size
/// limit of its route (413 when exceeded) and the server's minimum receive rate.
#[derive(Debug)]
pub struct Body {
    inner: BodySource,
}

#[derive(Debug)]
enum BodySource {
    Empty,
    Feed(Arc<Mutex<FeedState>>),
}

impl Body {
    pub(crate) fn empty() -> Body {
        Body {
            inner: BodySource::Empty,
        }
    }

    pub(crate) fn from_feed(feed: &Feed) -> Body {
        Body {
            inner: BodySource::Feed(feed.0.clone()),
        }
    }

    /// Receives the next piece; `None` at the end.
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe: a piece that arrives after cancellation waits for the next call.
    pub async fn chunk(&mut self) -> Option<Result<Bytes, Error>> {
        futures_lite::future::poll_fn(|cx| Pin::new(&mut *self).poll_next(cx)).await
    }

    /// Reads the whole body into memory (bounded by the route's body limit).
    ///
    /// # Cancel safety
    ///
    /// Not cancel-safe: pieces received before cancellation are lost.
    pub async fn bytes(&mut self) -> Result<Bytes, Error> {
        let Some(first) = self.chunk().await.transpose()? else {
            return Ok(Bytes::new());
        };
        let Some(second) = self.chunk().await.transpose()? else {
            return Ok(first);
        };
        let mut all = BytesMut::with_capacity(first.len() + second.len());
        all.extend_from_slice(&first);
        all.extend_from_slice(&second);
        while let Some(piece) = self.chunk().await.transpose()? {
            all.extend_from_slice(&piece);
        }
        Ok(all.freeze())
    }

    /// Reads the whole body as UTF-8 text.
    ///
    /// # Cancel safety
    ///
    /// Not cancel-safe, like [`bytes`](Body::bytes).
    pub async fn text(&mut self) -> Result<String, Error> {
        let b = self.bytes().await?;
        String::from_utf8(b.to_vec())
            .map_err(|e| Error::new(Kind::Decode, "body is not UTF-8").with_cause(e))
    }

    /// Reads the whole body as JSON.
    ///
    /// # Cancel safety
    ///
    /// Not cancel-safe, like [`bytes`](Body::bytes).
    #[cfg(feature = "json")]
    pub async fn json<T: serde::de::DeserializeOwned>(&mut self) -> Result<T, Error> {
        let b = self.bytes().await?;
        serde_json::from_slice(&b)
            .map_err(|e| Error::new(Kind::Decode, "body is not the expected JSON").with_cause(e))
    }

    /// Reads the whole body as an `application/x-www-form-urlencoded` form.
    ///
    /// # Cancel safety
    ///
    /// Not cancel-safe, like [`bytes`](Body::bytes).
    pub async fn form(&mut self) -> Result<Vec<(String, String)>, Error> {
        let b = self.bytes().await?;
        Ok(form_urlencoded::parse(&b).into_owned().collect())
    }
}

impl Stream for Body {
    type Item = Result<Bytes, Error>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let BodySource::Feed(shared) = &self.inner else {
            return Poll::Ready(None);
        };
        let mut s = lock(shared);
        if let Some(chunk) = s.chunk.take() {
            return Poll::Ready(Some(Ok(chunk)));
        }
        if s.done {
            return Poll::Ready(s.error.take().map(Err));
        }
        s.want = true;
        if !s.reader.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
            s.reader = Some(cx.waker().clone());
        }
        if let Some(d) = &s.driver {
            if !d.will_wake(cx.waker()) {
                d.wake_by_ref();
            }
        }
        Poll::Pending
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn feed_hands_pieces_over() {
        let feed = Feed::new();
        let mut body = Body::from_feed(&feed);
        let w = Waker::noop();
        let mut cx = Context::from_waker(w);
        assert!(Pin::new(&mut body).poll_next(&mut cx).is_pending());
        assert!(feed.wants(w));
        feed.send(Bytes::from_static(b"ab"), w);
        assert!(!feed.wants(w));
        match Pin::new(&mut body).poll_next(&mut cx) {
            Poll::Ready(Some(Ok(b))) => assert_eq!(&b[..], b"ab"),
            other => panic!("{other:?}"),
        }
        feed.finish(None, w);
        assert!(matches!(
            Pin::new(&mut body).poll_next(&mut cx),
            Poll::Ready(None)
        ));
        drop(body);
        let mut feed = feed;
        assert!(feed.reuse());
    }
}
