//! One session's outbound queue (SPEC §5.2–§5.4), as plain data: no locks,
//! no I/O. [`crate::session::Session`] wraps it in a mutex and the
//! connection's writer drains it as fast as the client reads.
//!
//! Every outbound message after the welcome (topic values, events, responses)
//! goes through here and counts toward the depth. The queue reports
//! threshold crossings with hysteresis and refuses an item that would pass
//! `max_depth` or `max_bytes`; the caller then closes the session with
//! `MESSAGE_QUEUE_LIMIT_REACHED`.

use std::collections::VecDeque;
use std::sync::Arc;

use bytes::Bytes;
use usher_core::protocol::{QueuePolicy, Throttler};

/// One encoded message waiting for the socket.
#[derive(Debug, Clone)]
pub(crate) struct Item {
    /// The encoded `ServerMessage`.
    pub frame: Bytes,
    /// For topic values: the topic, so conflation can replace it in place.
    pub topic: Option<Arc<str>>,
    /// True for a response: writing it ends one request in flight.
    pub response: bool,
}

/// A threshold crossing to report to queue handlers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Crossing {
    /// The depth rose to U.
    Upper,
    /// After an upper crossing, the depth fell to L.
    Lower,
}

/// The item would pass `max_depth` or `max_bytes`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Overflow;

/// The queue and its policy.
#[derive(Debug)]
pub(crate) struct OutboundQueue {
    items: VecDeque<Item>,
    bytes: u64,
    policy: QueuePolicy,
    /// True between an upper crossing and the next lower one.
    upper_fired: bool,
}

impl OutboundQueue {
    /// An empty queue (allocates nothing until the first item).
    pub(crate) fn new(policy: QueuePolicy) -> Self {
        Self { items: VecDeque::new(), bytes: 0, policy, upper_fired: false }
    }

    /// The current policy.
    pub(crate) fn policy(&self) -> QueuePolicy {
        self.policy
    }

    /// Messages waiting.
    pub(crate) fn depth(&self) -> usize {
        self.items.len()
    }

    /// Adds an item. A topic value replaces that topic's pending value in
    /// place while conflation is on.
    pub(crate) fn push(&mut self, item: Item) -> Result<Option<Crossing>, Overflow> {
        let len = item.frame.len() as u64;
        if self.policy.conflated
            && let Some(topic) = &item.topic
            && let Some(slot) = self.items.iter_mut().find(|i| i.topic.as_deref() == Some(&**topic))
        {
            let new_bytes = self.bytes - slot.frame.len() as u64 + len;
            if new_bytes > self.policy.max_bytes {
                return Err(Overflow);
            }
            self.bytes = new_bytes;
            *slot = item;
            return Ok(None);
        }
        if self.items.len() as u64 + 1 > u64::from(self.policy.max_depth)
            || self.bytes + len > self.policy.max_bytes
        {
            return Err(Overflow);
        }
        self.bytes += len;
        self.items.push_back(item);
        Ok(self.check_upper())
    }

    /// Takes the oldest item, with a lower crossing if this pop made one.
    pub(crate) fn pop(&mut self) -> Option<(Item, Option<Crossing>)> {
        let item = self.items.pop_front()?;
        self.bytes -= item.frame.len() as u64;
        if self.items.is_empty() && self.items.capacity() > 64 {
            // Give back a burst's memory: idle sessions must stay small.
            self.items = VecDeque::new();
        }
        Some((item, self.check_lower()))
    }

    /// Turns conflation on or off; on compacts the queue at once (each topic
    /// keeps its newest value at the position of its oldest). Returns whether
    /// the policy changed and a lower crossing if compaction made one.
    pub(crate) fn set_conflated(&mut self, on: bool) -> (bool, Option<Crossing>) {
        if self.policy.conflated == on {
            return (false, None);
        }
        self.policy.conflated = on;
        if !on {
            return (true, None);
        }
        let mut kept: VecDeque<Item> = VecDeque::with_capacity(self.items.len());
        let mut first: std::collections::HashMap<Arc<str>, usize> = std::collections::HashMap::new();
        for item in self.items.drain(..) {
            match item.topic.clone() {
                Some(topic) => match first.get(&topic) {
                    Some(&at) => kept[at] = item,
                    None => {
                        first.insert(topic, kept.len());
                        kept.push_back(item);
                    }
                },
                None => kept.push_back(item),
            }
        }
        self.items = kept;
        self.bytes = self.items.iter().map(|i| i.frame.len() as u64).sum();
        (true, self.check_lower())
    }

    /// Sets the throttler; returns whether it changed.
    pub(crate) fn set_throttler(&mut self, throttler: Throttler) -> bool {
        let changed = self.policy.throttler != throttler;
        self.policy.throttler = throttler;
        changed
    }

    /// Drops the pending values of topics `lost` says to drop (a subscription
    /// lost READ_TOPIC). Returns a lower crossing if that made one.
    pub(crate) fn purge_topics(&mut self, lost: impl Fn(&str) -> bool) -> Option<Crossing> {
        self.items.retain(|i| !i.topic.as_deref().is_some_and(&lost));
        self.bytes = self.items.iter().map(|i| i.frame.len() as u64).sum();
        self.check_lower()
    }

    /// Drops everything (the session is closing because of its queue).
    pub(crate) fn clear(&mut self) {
        self.items = VecDeque::new();
        self.bytes = 0;
    }

    fn check_upper(&mut self) -> Option<Crossing> {
        if !self.upper_fired && self.items.len() as u64 >= u64::from(self.policy.upper_depth()) {
            self.upper_fired = true;
            return Some(Crossing::Upper);
        }
        None
    }

    fn check_lower(&mut self) -> Option<Crossing> {
        if self.upper_fired && self.items.len() as u64 <= u64::from(self.policy.lower_depth()) {
            self.upper_fired = false;
            return Some(Crossing::Lower);
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(max_depth: u32) -> QueuePolicy {
        QueuePolicy {
            max_depth,
            max_bytes: 1 << 20,
            upper_threshold: 80,
            lower_threshold: 20,
            ..Default::default()
        }
    }

    fn msg(n: u8) -> Item {
        Item { frame: Bytes::from(vec![n; 4]), topic: None, response: false }
    }

    fn topic(t: &str, n: u8) -> Item {
        Item { frame: Bytes::from(vec![n; 4]), topic: Some(Arc::from(t)), response: false }
    }

    #[test]
    fn hysteresis_and_limit() {
        let mut q = OutboundQueue::new(policy(10)); // U = 8, L = 2
        for n in 0..7 {
            assert_eq!(q.push(msg(n)), Ok(None));
        }
        assert_eq!(q.push(msg(7)), Ok(Some(Crossing::Upper)));
        assert_eq!(q.push(msg(8)), Ok(None));
        assert_eq!(q.push(msg(9)), Ok(None));
        assert_eq!(q.push(msg(10)), Err(Overflow));
        let mut lowers = 0;
        while let Some((_, c)) = q.pop() {
            lowers += usize::from(c == Some(Crossing::Lower));
            if q.depth() == 2 {
                assert_eq!(c, Some(Crossing::Lower));
            }
        }
        assert_eq!(lowers, 1);
        // No lower without an upper before it.
        assert_eq!(q.push(msg(0)), Ok(None));
        assert_eq!(q.pop().map(|p| p.1), Some(None));
    }

    #[test]
    fn conflation_replaces_in_place_and_compacts() {
        let mut q = OutboundQueue::new(policy(100));
        q.push(topic("a", 1)).ok();
        q.push(msg(9)).ok();
        q.push(topic("b", 1)).ok();
        q.push(topic("a", 2)).ok();
        assert_eq!(q.depth(), 4);
        assert_eq!(q.set_conflated(true), (true, None));
        assert_eq!(q.depth(), 3);
        assert_eq!(q.set_conflated(true), (false, None));
        q.push(topic("b", 3)).ok();
        assert_eq!(q.depth(), 3);
        let order: Vec<u8> = std::iter::from_fn(|| q.pop().map(|(i, _)| i.frame[0])).collect();
        assert_eq!(order, vec![2, 9, 3]);
    }

    #[test]
    fn bytes_limit() {
        let mut q = OutboundQueue::new(QueuePolicy { max_bytes: 10, ..policy(100) });
        assert_eq!(q.push(msg(1)), Ok(None));
        assert_eq!(q.push(msg(2)), Ok(None));
        assert_eq!(q.push(msg(3)), Err(Overflow));
    }
}
