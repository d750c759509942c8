//! The connection pool: keep-alive connections per (scheme, host, port, proxy route), limits,
//! idle expiry, and a liveness check before reuse.
//!
//! A connection is *checked out* for one exchange and returned only when its response body was
//! read to the end on a keep-alive connection; anything else (an error, a body dropped half
//! read, `Connection: close`) closes it. Before an idle connection is reused it is polled once
//! for reading: a server that closed it (EOF) or sent stray bytes makes it unusable, and it is
//! dropped instead of failing the request (aiohttp's ServerDisconnectedError on reuse).

use std::collections::HashMap;
use std::hash::{BuildHasher, BuildHasherDefault, Hash, Hasher, RandomState};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_lite::future;
use tulip_sync::Semaphore;

use crate::proto::conn::Conn;

/// The byte stream under a client connection: plain TCP or TLS (tulip-net's, shared with
/// tulip-ws's `ws_connect`).
pub(crate) type ClientStream = tulip_net::MaybeTlsStream;

/// Where a pooled connection goes: `(https, host, port, route)`. The route (which proxy,
/// forwarding or tunnelling, with a digest of the credentials) is `None` for a direct
/// connection.
///
/// A request builds its key once ([`Pool::key`]) and looks it up four to five times (the
/// per-host limit, the HTTP/2 map, the idle list twice, the check-in). Hashing the tuple each
/// time with SipHash cost about 7% of the client's instructions per request, so the key carries
/// its hash, computed once with the pool's randomly keyed hasher (a host name chosen by a
/// server, through a redirect, cannot aim at one bucket), and the maps only read it back.
/// Cloning it bumps a reference count. A key belongs to the pool that made it.
#[derive(Clone, Debug)]
pub(crate) struct Key(Arc<KeyParts>);

#[derive(Debug, PartialEq, Eq)]
struct KeyParts {
    https: bool,
    host: String,
    port: u16,
    route: Option<Arc<str>>,
    /// The hash of the fields above, by the pool's hasher.
    hash: u64,
}

impl PartialEq for Key {
    fn eq(&self, other: &Key) -> bool {
        Arc::ptr_eq(&self.0, &other.0) || self.0 == other.0
    }
}

impl Eq for Key {}

impl Hash for Key {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u64(self.0.hash);
    }
}

/// The hasher of the pool's maps: a [`Key`] hands it its finished hash.
#[derive(Default)]
struct KeyHasher(u64);

impl Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }

    fn write(&mut self, bytes: &[u8]) {
        // Only `Key::hash` feeds this hasher, through `write_u64`; anything else still gets a
        // working (FNV-1a) hash rather than a constant.
        for &b in bytes {
            self.0 = (self.0 ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
    }
}

type KeyMap<V> = HashMap<Key, V, BuildHasherDefault<KeyHasher>>;

/// A pooled connection and what the pool knows about it.
#[derive(Debug)]
pub(crate) struct PoolConn {
    pub(crate) conn: Conn<ClientStream>,
    /// Whether it served a request before (a failure on it may be a stale keep-alive).
    pub(crate) reused: bool,
    /// `Some` on a connection to a forward proxy (plain `http://` through a proxy): requests
    /// carry absolute-form targets and this `Proxy-Authorization`, if any.
    pub(crate) forward: Option<Option<http::HeaderValue>>,
    idle_since: Instant,
}

impl PoolConn {
    pub(crate) fn new(conn: Conn<ClientStream>) -> PoolConn {
        PoolConn {
            conn,
            reused: false,
            forward: None,
            idle_since: Instant::now(),
        }
    }
}

#[derive(Debug)]
pub(crate) struct PoolConfig {
    pub(crate) max_idle_per_host: usize,
    pub(crate) idle_timeout: Duration,
    pub(crate) limit: usize,
    pub(crate) limit_per_host: usize,
}

/// Counters readable through [`crate::Client::pool_stats`].
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct PoolStats {
    /// Connections opened.
    pub connects: u64,
    /// Requests that reused an idle connection.
    pub reuses: u64,
    /// Idle connections found closed or unusable before reuse, and dropped.
    pub stale_dropped: u64,
    /// Idle connections dropped for being idle too long.
    pub expired: u64,
    /// Requests retried after a reused connection died before any response byte.
    pub retries: u64,
}

#[derive(Debug)]
pub(crate) struct Pool {
    cfg: PoolConfig,
    /// Keys every [`Key`] of this pool's maps (randomly, per pool).
    hasher: RandomState,
    /// Boxed: a connection moves into each response and back, and a box moves as a pointer.
    #[allow(clippy::vec_box)]
    idle: Mutex<KeyMap<Vec<Box<PoolConn>>>>,
    total: Arc<Semaphore>,
    per_host: Mutex<KeyMap<Arc<Semaphore>>>,
    /// One multiplexed HTTP/2 connection per origin that speaks it.
    h2: Mutex<KeyMap<h2::client::SendRequest<bytes::Bytes>>>,
    pub(crate) stats: Mutex<PoolStats>,
}

/// Permission to run one exchange: a slot in the total and the per-host limit.
#[derive(Debug)]
pub(crate) struct ConnPermit {
    total: Arc<Semaphore>,
    host: Arc<Semaphore>,
}

impl Drop for ConnPermit {
    fn drop(&mut self) {
        self.host.release();
        self.total.release();
    }
}

impl Pool {
    pub(crate) fn new(cfg: PoolConfig) -> Pool {
        let total = Arc::new(Semaphore::new(cfg.limit.max(1)));
        Pool {
            cfg,
            hasher: RandomState::new(),
            idle: Mutex::default(),
            total,
            per_host: Mutex::default(),
            h2: Mutex::default(),
            stats: Mutex::default(),
        }
    }

    /// The key of connections to `host:port` over `route`, hashed once for every lookup.
    pub(crate) fn key(&self, https: bool, host: &str, port: u16, route: Option<Arc<str>>) -> Key {
        let hash = self.hasher.hash_one((https, host, port, &route));
        Key(Arc::new(KeyParts {
            https,
            host: host.to_owned(),
            port,
            route,
            hash,
        }))
    }

    /// The HTTP/2 connection to `key`, if one is open.
    pub(crate) fn h2_get(&self, key: &Key) -> Option<h2::client::SendRequest<bytes::Bytes>> {
        let h2 = self.h2.lock().unwrap_or_else(|e| e.into_inner());
        h2.get(key).cloned()
    }

    /// Shares a new HTTP/2 connection to `key` with every later request.
    pub(crate) fn h2_put(&self, key: Key, send: h2::client::SendRequest<bytes::Bytes>) {
        let mut h2 = self.h2.lock().unwrap_or_else(|e| e.into_inner());
        h2.insert(key, send);
    }

    /// Forgets a dead or departing HTTP/2 connection.
    pub(crate) fn h2_remove(&self, key: &Key) {
        let mut h2 = self.h2.lock().unwrap_or_else(|e| e.into_inner());
        h2.remove(key);
    }

    pub(crate) fn stat(&self, f: impl FnOnce(&mut PoolStats)) {
        f(&mut self.stats.lock().unwrap_or_else(|e| e.into_inner()));
    }

    /// Waits for a slot under both limits.
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe: a dropped wait holds no permit.
    pub(crate) async fn slot(&self, key: &Key) -> ConnPermit {
        let host = {
            let mut map = self.per_host.lock().unwrap_or_else(|e| e.into_inner());
            // A clone of the key is a reference count, and its hash is already known.
            map.entry(key.clone())
                .or_insert_with(|| Arc::new(Semaphore::new(self.cfg.limit_per_host.max(1))))
                .clone()
        };
        host.acquire().await.forget();
        let guard = HostOnly(host.clone());
        self.total.acquire().await.forget();
        std::mem::forget(guard);
        ConnPermit {
            total: self.total.clone(),
            host,
        }
    }

    /// Takes a live idle connection for `key`, dropping expired and closed ones.
    pub(crate) async fn checkout(&self, key: &Key) -> Option<Box<PoolConn>> {
        loop {
            let mut pc = {
                let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
                let list = idle.get_mut(key)?;
                let pc = list.pop();
                if list.is_empty() {
                    idle.remove(key);
                }
                pc?
            };
            if pc.idle_since.elapsed() > self.cfg.idle_timeout {
                self.stat(|s| s.expired += 1);
                continue;
            }
            if !is_alive(&mut pc).await {
                self.stat(|s| s.stale_dropped += 1);
                continue;
            }
            pc.reused = true;
            self.stat(|s| s.reuses += 1);
            return Some(pc);
        }
    }

    /// Returns a connection whose exchange ended cleanly on a keep-alive connection.
    pub(crate) fn checkin(&self, key: Key, mut pc: Box<PoolConn>) {
        if !pc.conn.rb.is_empty() {
            return; // stray bytes after the response: the framing is off, do not reuse
        }
        let now = Instant::now();
        pc.idle_since = now;
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        let list = idle.entry(key).or_default();
        // One clock read for the whole list, not one per idle connection.
        list.retain(|c| now.saturating_duration_since(c.idle_since) <= self.cfg.idle_timeout);
        if list.len() < self.cfg.max_idle_per_host {
            list.push(pc);
        }
    }

    /// Idle connections held right now (all hosts).
    pub(crate) fn idle_count(&self) -> usize {
        self.idle
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .map(Vec::len)
            .sum()
    }
}

/// Releases a per-host permit if the total-limit wait is cancelled.
struct HostOnly(Arc<Semaphore>);

impl Drop for HostOnly {
    fn drop(&mut self) {
        self.0.release();
    }
}

/// Polls the idle connection for reading exactly once: `Pending` means nothing happened to it.
async fn is_alive(pc: &mut PoolConn) -> bool {
    let conn = &mut pc.conn;
    let poll = future::poll_once(future::poll_fn(|cx| conn.rb.poll_fill(&mut conn.io, cx))).await;
    poll.is_none()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pool(limit_per_host: usize) -> Pool {
        Pool::new(PoolConfig {
            max_idle_per_host: 4,
            idle_timeout: Duration::from_secs(60),
            limit: 16,
            limit_per_host,
        })
    }

    #[test]
    fn keys_are_equal_when_they_name_the_same_route() {
        let p = pool(1);
        let a = p.key(false, "h", 80, None);
        assert_eq!(a, p.key(false, "h", 80, None));
        for other in [
            p.key(true, "h", 80, None),
            p.key(false, "h", 81, None),
            p.key(false, "g", 80, None),
            p.key(false, "h", 80, Some("proxy:3128#0".into())),
        ] {
            assert_ne!(a, other, "{other:?}");
        }
        // Enough entries that a hash not derived from the parts would miss.
        let mut map = KeyMap::default();
        for port in 0..1000 {
            map.insert(p.key(false, "h", port, None), port);
        }
        for port in 0..1000 {
            assert_eq!(map.get(&p.key(false, "h", port, None)), Some(&port));
        }
        assert_eq!(map.get(&p.key(false, "g", 80, None)), None);
    }

    #[test]
    fn equal_keys_share_one_per_host_limit() {
        let p = pool(1);
        let held = future::block_on(p.slot(&p.key(false, "h", 80, None)));
        // A key built separately for the same host waits for the permit held above …
        let same = p.key(false, "h", 80, None);
        assert!(future::block_on(future::poll_once(p.slot(&same))).is_none());
        // … while another host does not.
        let other = p.key(false, "g", 80, None);
        assert!(future::block_on(future::poll_once(p.slot(&other))).is_some());
        drop(held);
        assert!(future::block_on(future::poll_once(p.slot(&same))).is_some());
    }
}
