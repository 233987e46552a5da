//! Cluster membership (SPEC §7): every server publishes a [`Heartbeat`]
//! each second on `usher.<cluster>.hb` and a `leaving` one on shutdown; a
//! member not heard from for 3 s is dropped.
//!
//! Membership deliberately uses plain core-NATS messages, not a JetStream
//! KV bucket with TTLs: the NATS 2.9 shipped by Debian does not tell KV
//! watchers when a key expires, so a crashed server would never leave.
//!
//! A server that hears an unknown member answers at once with its own
//! heartbeat, so a new server learns the whole cluster within one round
//! trip instead of one heartbeat period.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How often a server says it is alive.
pub(crate) const HEARTBEAT_EVERY: Duration = Duration::from_secs(1);
/// A member silent this long is dropped.
pub(crate) const SILENCE_LIMIT: Duration = Duration::from_secs(3);

/// One other server.
#[derive(Debug, Clone)]
pub(crate) struct Member {
    /// Its `$ServerName`.
    pub name: String,
    last_seen: Instant,
}

/// What a heartbeat changed.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Seen {
    /// A member we did not know: answer with our heartbeat, replay listeners.
    New,
    /// A known member.
    Known,
    /// A known member said it is leaving (or an unknown one; nothing to do).
    Left(Option<String>),
}

/// The other members, by server part. The local server is not in it.
#[derive(Debug, Default)]
pub(crate) struct Members {
    // A std Mutex: held for a map operation, never across an await.
    inner: Mutex<HashMap<u64, Member>>,
}

impl Members {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Member>> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Records a heartbeat.
    pub(crate) fn heard(&self, part: u64, name: &str, leaving: bool, now: Instant) -> Seen {
        let mut m = self.lock();
        if leaving {
            return Seen::Left(m.remove(&part).map(|x| x.name));
        }
        match m.get_mut(&part) {
            Some(member) => {
                member.last_seen = now;
                if member.name != name {
                    member.name = name.to_owned();
                }
                Seen::Known
            }
            None => {
                if m.values().any(|x| x.name == name) {
                    tracing::warn!(
                        server = name,
                        "two cluster members share a server name; per-server counts will merge"
                    );
                }
                m.insert(part, Member { name: name.to_owned(), last_seen: now });
                Seen::New
            }
        }
    }

    /// Drops members silent for longer than [`SILENCE_LIMIT`]; returns them.
    pub(crate) fn expire(&self, now: Instant) -> Vec<(u64, String)> {
        let mut m = self.lock();
        let dead: Vec<u64> = m
            .iter()
            .filter(|(_, x)| now.saturating_duration_since(x.last_seen) > SILENCE_LIMIT)
            .map(|(p, _)| *p)
            .collect();
        dead.into_iter().filter_map(|p| m.remove(&p).map(|x| (p, x.name))).collect()
    }

    /// Forgets everyone (after a NATS reconnect); returns who was known.
    pub(crate) fn clear(&self) -> Vec<(u64, String)> {
        self.lock().drain().map(|(p, x)| (p, x.name)).collect()
    }

    /// The name of a member.
    pub(crate) fn name(&self, part: u64) -> Option<String> {
        self.lock().get(&part).map(|x| x.name.clone())
    }

    /// True when `part` is a member.
    pub(crate) fn contains(&self, part: u64) -> bool {
        self.lock().contains_key(&part)
    }

    /// Every member: (part, name), sorted by name for stable output.
    pub(crate) fn all(&self) -> Vec<(u64, String)> {
        let mut v: Vec<(u64, String)> = self.lock().iter().map(|(p, x)| (*p, x.name.clone())).collect();
        v.sort_by(|a, b| a.1.cmp(&b.1));
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn members_join_expire_and_leave() {
        let m = Members::default();
        let t0 = Instant::now();
        assert_eq!(m.heard(1, "a", false, t0), Seen::New);
        assert_eq!(m.heard(1, "a", false, t0), Seen::Known);
        assert_eq!(m.heard(2, "b", false, t0 + Duration::from_secs(2)), Seen::New);
        assert!(m.expire(t0 + Duration::from_secs(3)).is_empty());
        assert_eq!(m.expire(t0 + Duration::from_millis(3_100)), vec![(1, "a".to_owned())]);
        assert_eq!(m.heard(2, "b", true, t0), Seen::Left(Some("b".into())));
        assert!(m.all().is_empty());
    }
}
