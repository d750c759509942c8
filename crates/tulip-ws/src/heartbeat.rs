//! The heartbeat (aiohttp's `heartbeat=`): a ping after an interval without received bytes,
//! and a dead connection declared when nothing arrives within half the interval after it.
//!
//! Liveness is "bytes arrived", as in aiohttp: any frame from the peer, not only the pong,
//! answers a heartbeat ping and postpones the next one. The read path records arrivals with
//! [`Heartbeat::received`], which only stores an instant: the timer is not touched per read,
//! it is moved forward when it fires early. One timer serves both waits (the next ping, then
//! the pong deadline), and its waker is the receiving task's: the sending side only asks
//! [`Heartbeat::ping_due`], which never registers a waker, so that it cannot steal the
//! receiver's wake-up when the WebSocket is split.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use tulip_reactor::Timer;

/// What the heartbeat asks of the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Beat {
    /// Send a heartbeat ping now.
    Ping,
    /// Nothing arrived within the pong wait after a ping: drop the connection.
    Dead,
}

#[derive(Debug)]
pub(crate) struct Heartbeat {
    interval: Duration,
    /// How long after a ping bytes must arrive: half the interval, as aiohttp.
    pong_wait: Duration,
    timer: Timer,
    last_rx: Instant,
    /// When the unanswered ping went out; cleared by any received byte.
    ping_sent: Option<Instant>,
    /// Empty pongs still owed for our pings; with autoping on they are the heartbeat's and
    /// are not handed to the application.
    pongs_owed: u32,
}

impl Heartbeat {
    pub(crate) fn new(interval: Duration) -> Heartbeat {
        let interval = interval.max(Duration::from_millis(1));
        let now = Instant::now();
        Heartbeat {
            interval,
            pong_wait: interval / 2,
            timer: Timer::at(now + interval),
            last_rx: now,
            ping_sent: None,
            pongs_owed: 0,
        }
    }

    /// How long a pong may take.
    pub(crate) fn pong_wait(&self) -> Duration {
        self.pong_wait
    }

    /// Bytes arrived from the peer: it is alive.
    pub(crate) fn received(&mut self) {
        self.last_rx = Instant::now();
        self.ping_sent = None;
    }

    /// An empty pong arrived: true when it answers one of our pings (and so is ours).
    pub(crate) fn take_pong(&mut self) -> bool {
        if self.pongs_owed > 0 {
            self.pongs_owed -= 1;
            return true;
        }
        false
    }

    fn start_ping(&mut self, now: Instant) {
        self.ping_sent = Some(now);
        self.pongs_owed = self.pongs_owed.saturating_add(1);
        self.timer.set_deadline(now + self.pong_wait);
    }

    /// The sending side's check, which registers no waker: true when a ping is due now (the
    /// caller sends it; the pong deadline is armed).
    pub(crate) fn ping_due(&mut self) -> bool {
        if self.ping_sent.is_some() {
            return false;
        }
        let now = Instant::now();
        if now < self.last_rx + self.interval {
            return false;
        }
        self.start_ping(now);
        true
    }

    /// The receiving side's wait: ready when a ping is due or the peer is declared dead.
    pub(crate) fn poll(&mut self, cx: &mut Context<'_>) -> Poll<Beat> {
        loop {
            let now = match Pin::new(&mut self.timer).poll(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(_) => Instant::now(),
            };
            match self.ping_sent {
                Some(sent) if now >= sent + self.pong_wait => return Poll::Ready(Beat::Dead),
                Some(sent) => self.timer.set_deadline(sent + self.pong_wait),
                None if now >= self.last_rx + self.interval => {
                    self.start_ping(now);
                    return Poll::Ready(Beat::Ping);
                }
                // Bytes arrived since the timer was set: the next ping is an interval after them.
                None => self.timer.set_deadline(self.last_rx + self.interval),
            }
        }
    }

    /// Stops the timer (the close handshake has begun).
    pub(crate) fn stop(&mut self) {
        self.timer.cancel();
        self.ping_sent = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_lite::future::poll_fn;

    #[test]
    fn pings_after_the_interval_and_declares_death_after_half_of_it() {
        tulip_reactor::block_on(async {
            let start = Instant::now();
            let mut hb = Heartbeat::new(Duration::from_millis(40));
            assert_eq!(poll_fn(|cx| hb.poll(cx)).await, Beat::Ping);
            assert!(start.elapsed() >= Duration::from_millis(40));
            assert!(!hb.ping_due(), "one ping at a time");
            assert_eq!(poll_fn(|cx| hb.poll(cx)).await, Beat::Dead);
            assert!(start.elapsed() >= Duration::from_millis(60));
            assert_eq!(hb.pong_wait(), Duration::from_millis(20));
        });
    }

    #[test]
    fn received_bytes_answer_the_ping_and_postpone_the_next() {
        tulip_reactor::block_on(async {
            let mut hb = Heartbeat::new(Duration::from_millis(30));
            assert_eq!(poll_fn(|cx| hb.poll(cx)).await, Beat::Ping);
            let answered = Instant::now();
            hb.received();
            assert!(hb.take_pong() && !hb.take_pong());
            // Not dead: the next event is another ping, an interval after the answer.
            assert_eq!(poll_fn(|cx| hb.poll(cx)).await, Beat::Ping);
            assert!(answered.elapsed() >= Duration::from_millis(30));
        });
    }

    #[test]
    fn the_sending_side_sees_a_due_ping_once() {
        let mut hb = Heartbeat::new(Duration::from_millis(1));
        let start = Instant::now();
        while !hb.ping_due() {
            assert!(start.elapsed() < Duration::from_secs(5), "never due");
            std::hint::spin_loop();
        }
        assert!(!hb.ping_due());
        hb.received();
        hb.stop();
    }
}
