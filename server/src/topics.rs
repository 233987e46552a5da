//! Topics and subscriptions (SPEC §5.1): the data plane that fills queues.
//!
//! One `RwLock` over the topic values and the subscriptions. An update takes
//! it for writing, sets the value and fans the (once-encoded) value out to the
//! subscribers' queues before releasing it, so every subscriber sees a topic's
//! values in update order. Pushing to a queue never blocks (a full queue
//! closes that subscriber), so the lock is held only for the fan-out itself.

use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, RwLock};

use bytes::Bytes;
use usher_core::protocol::{Push, ServerMessage, encode};
use usher_core::security::PathPermission;
use usher_core::{Error, SessionId};

use crate::events::Events;
use crate::queue::Item;
use crate::session::Session;

/// A subscription selector: an exact path or `path/*`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Selector {
    base: Box<str>,
    below: bool,
}

impl Selector {
    /// Parses `a/b` or `a/b/*`.
    pub(crate) fn parse(text: &str) -> Result<Self, Error> {
        let (base, below) = match text.strip_suffix("/*") {
            Some(base) => (base, true),
            None => (text, false),
        };
        validate_path(base)?;
        Ok(Self { base: base.into(), below })
    }

    /// The path permissions are checked at.
    pub(crate) fn base(&self) -> &str {
        &self.base
    }

    /// True when the selector covers `path`.
    pub(crate) fn covers(&self, path: &str) -> bool {
        path == &*self.base
            || (self.below
                && path.len() > self.base.len()
                && path.starts_with(&*self.base)
                && path.as_bytes()[self.base.len()] == b'/')
    }
}

/// Checks a topic path: non-empty segments of `[A-Za-z0-9_.-]`.
pub(crate) fn validate_path(path: &str) -> Result<(), Error> {
    let ok = !path.is_empty()
        && path.len() <= 1024
        && path.split('/').all(|seg| {
            !seg.is_empty() && seg.bytes().all(|c| c.is_ascii_alphanumeric() || b"_.-".contains(&c))
        });
    if ok {
        Ok(())
    } else {
        Err(Error::invalid_argument(
            "path",
            format!("invalid topic path {path:?}: non-empty segments of [A-Za-z0-9_.-] separated by '/'"),
        ))
    }
}

#[derive(Debug)]
struct Sub {
    session: Arc<Session>,
    selector: Selector,
}

#[derive(Debug, Default)]
struct Inner {
    values: BTreeMap<Arc<str>, Bytes>,
    subs: Vec<Sub>,
}

/// Every topic and subscription of this server.
#[derive(Debug, Default)]
pub(crate) struct Topics {
    // A std RwLock: nothing awaits while it is held.
    inner: RwLock<Inner>,
    max_topics: usize,
}

fn value_item(path: &Arc<str>, value: &[u8]) -> Item {
    let frame =
        encode(&ServerMessage::Push(Push::TopicValue { path: path.to_string(), value: value.to_vec() }));
    Item { frame: Bytes::from(frame), topic: Some(path.clone()), response: false }
}

fn may_read(session: &Session, path: &str) -> bool {
    session.roles().perms.path_allows(path, PathPermission::ReadTopic)
}

impl Topics {
    /// No topics yet; at most `max_topics`.
    pub(crate) fn new(max_topics: usize) -> Self {
        Self { inner: RwLock::default(), max_topics }
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Inner> {
        self.inner.write().unwrap_or_else(|e| e.into_inner())
    }

    /// Adds a topic (replacing nothing: an existing topic keeps its value).
    pub(crate) fn add(&self, events: &Events, path: &str, value: Vec<u8>) -> Result<(), Error> {
        validate_path(path)?;
        let mut inner = self.write();
        if inner.values.contains_key(path) {
            return Ok(());
        }
        if inner.values.len() >= self.max_topics {
            return Err(Error::limit("max_topics", "too many topics"));
        }
        let path: Arc<str> = Arc::from(path);
        let item = value_item(&path, &value);
        inner.values.insert(path.clone(), Bytes::from(value));
        fan_out(&inner.subs, events, &path, &item);
        Ok(())
    }

    /// Removes a topic; subscribers are told.
    pub(crate) fn remove(&self, events: &Events, path: &str) -> Result<(), Error> {
        validate_path(path)?;
        let mut inner = self.write();
        if inner.values.remove(path).is_none() {
            return Err(Error::invalid_argument("path", format!("no topic {path:?}")));
        }
        let mut seen = HashSet::new();
        for sub in inner.subs.iter().filter(|s| s.selector.covers(path)) {
            if seen.insert(sub.session.id) && may_read(&sub.session, path) {
                sub.session.purge_topics(events, |t| t == path);
                sub.session.push(events, Push::TopicUnsubscribed { path: path.to_owned() });
            }
        }
        Ok(())
    }

    /// Sets a topic's value and sends it to subscribers.
    pub(crate) fn update(&self, events: &Events, path: &str, value: Vec<u8>) -> Result<(), Error> {
        validate_path(path)?;
        let mut inner = self.write();
        let Some((key, _)) = inner.values.get_key_value(path) else {
            return Err(Error::invalid_argument("path", format!("no topic {path:?}")));
        };
        let key = key.clone();
        let item = value_item(&key, &value);
        inner.values.insert(key.clone(), Bytes::from(value));
        fan_out(&inner.subs, events, &key, &item);
        Ok(())
    }

    /// Subscribes; the current values of covered, readable topics are queued
    /// first. At most `max` selectors per session (`LIMIT_EXCEEDED`).
    pub(crate) fn subscribe(
        &self,
        events: &Events,
        session: &Arc<Session>,
        selector: Selector,
        max: usize,
    ) -> Result<(), Error> {
        session.mark_subscribed();
        let mut inner = self.write();
        if session.closing().is_some() {
            return Ok(());
        }
        if inner.subs.iter().any(|s| s.session.id == session.id && s.selector == selector) {
            return Ok(());
        }
        let already: Vec<Selector> =
            inner.subs.iter().filter(|s| s.session.id == session.id).map(|s| s.selector.clone()).collect();
        if already.len() >= max {
            return Err(Error::limit("max_subscriptions", format!("a session may hold {max} subscriptions")));
        }
        for (path, value) in &inner.values {
            if selector.covers(path) && !already.iter().any(|s| s.covers(path)) && may_read(session, path) {
                session.enqueue(events, value_item(path, value));
            }
        }
        inner.subs.push(Sub { session: session.clone(), selector });
        Ok(())
    }

    /// Ends a subscription; false when there was none.
    pub(crate) fn unsubscribe(&self, session: SessionId, selector: &Selector) -> bool {
        let mut inner = self.write();
        let before = inner.subs.len();
        inner.subs.retain(|s| !(s.session.id == session && &s.selector == selector));
        inner.subs.len() != before
    }

    /// Forgets every subscription of a closed session.
    pub(crate) fn remove_session(&self, session: SessionId) {
        self.write().subs.retain(|s| s.session.id != session);
    }

    /// After a role change: drops subscriptions that lost READ_TOPIC at
    /// their base, and purges queued values the session may no longer read.
    pub(crate) fn revalidate(&self, events: &Events, session: &Arc<Session>) {
        if !session.ever_subscribed() {
            // Nothing to drop; queued topic values exist only with a subscription.
            return;
        }
        let mut inner = self.write();
        let roles = session.roles();
        let mut dropped: Vec<Selector> = Vec::new();
        inner.subs.retain(|s| {
            if s.session.id != session.id
                || roles.perms.path_allows(s.selector.base(), PathPermission::ReadTopic)
            {
                return true;
            }
            dropped.push(s.selector.clone());
            false
        });
        session.purge_topics(events, |t| !roles.perms.path_allows(t, PathPermission::ReadTopic));
        for path in inner.values.keys() {
            if dropped.iter().any(|s| s.covers(path)) {
                session.push(events, Push::TopicUnsubscribed { path: path.to_string() });
            }
        }
    }
}

fn fan_out(subs: &[Sub], events: &Events, path: &str, item: &Item) {
    // A session with two selectors covering the path gets the value once.
    let mut seen: HashSet<SessionId> = HashSet::new();
    for sub in subs.iter().filter(|s| s.selector.covers(path)) {
        if seen.insert(sub.session.id) && may_read(&sub.session, path) {
            sub.session.enqueue(events, item.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selectors() -> Result<(), Error> {
        let s = Selector::parse("a/b/*")?;
        assert!(s.covers("a/b") && s.covers("a/b/c") && !s.covers("a/bc") && !s.covers("a"));
        let s = Selector::parse("a/b")?;
        assert!(s.covers("a/b") && !s.covers("a/b/c"));
        for bad in ["", "/a", "a//b", "a/", "a b", "*", "a/*/b"] {
            assert!(Selector::parse(bad).is_err(), "{bad}");
        }
        Ok(())
    }
}
