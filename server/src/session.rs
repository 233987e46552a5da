//! The shared half of one session: its outbound queue, its roles, its
//! closing state. Any task may push to it (a controller's command, a topic
//! update, an event); only the session's own connection task drains it.
//!
//! Pushing never blocks and never takes a registry lock, so it is safe to
//! call while a registry shard is locked (session events are pushed under the
//! shard lock to keep per-session order). A push that would break the queue's
//! limit only *marks* the session closing with `MESSAGE_QUEUE_LIMIT_REACHED`;
//! the connection task then removes it from the registry.

use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use futures_util::task::AtomicWaker;
use usher_core::SessionId;
use usher_core::protocol::{
    CloseReason, Push, QueuePolicy, Reply, Response, ServerMessage, Throttler, WireError,
};

use crate::events::Events;
use crate::queue::{Crossing, Item, OutboundQueue};
use crate::roles::RoleSet;

/// What the writer should do next.
#[derive(Debug)]
pub(crate) enum Next {
    /// Write this.
    Item(Item),
    /// The session is closing for this reason; the queue holds what may still
    /// be written before the `Closing` push.
    Closing(CloseReason),
    /// Nothing to do: the connection is woken through [`Session::register`].
    Empty,
}

#[derive(Debug)]
struct State {
    queue: OutboundQueue,
    closing: Option<CloseReason>,
    in_flight: u32,
    roles: Arc<RoleSet>,
}

/// One session's shared state.
#[derive(Debug)]
pub(crate) struct Session {
    /// The session's id.
    pub id: SessionId,
    // A std Mutex, not a tokio one: nothing awaits while it is held, and it
    // is held for a few hundred nanoseconds at most.
    state: Mutex<State>,
    // Wakes the connection's task when something was queued, a ping is due
    // or the session started closing (even while its writer is blocked on a
    // client that does not read). One waker, no per-session future: an
    // `AtomicWaker` is a few words, a pinned `Notified` future ~64 bytes.
    // The task registers before checking its state, so no wake-up is lost.
    waker: AtomicWaker,
    /// When the last frame arrived (ms on the server's monotonic clock);
    /// read by the sweeper for the idle timeout.
    last_seen: AtomicU64,
    /// Set by the sweeper: the writer sends a ping when next idle.
    ping_due: AtomicBool,
    /// Set once the session registers a listener or handler / subscribes:
    /// closing or re-roling the (many) sessions that never did skips the
    /// server-wide registration and subscription lists (SPEC §9 P2–P4).
    /// SeqCst, with the closing check the adders make after setting them,
    /// so a registration racing a close is either refused or removed.
    registered: AtomicBool,
    subscribed: AtomicBool,
    /// Parking state ([`crate::park`]): [`PARKED`], [`PARK_HINT`],
    /// [`NEVER_PARK`]. One byte, in what was padding.
    park: AtomicU8,
}

/// The session's socket is held by the parking component, not by a task.
const PARKED: u8 = 1;
/// Set by the sweeper: the connection task should park if it stayed idle.
const PARK_HINT: u8 = 2;
/// The connection can never park (TLS): the sweeper stops hinting.
const NEVER_PARK: u8 = 4;

impl Session {
    /// A new session with an empty queue.
    pub(crate) fn new(id: SessionId, policy: QueuePolicy, roles: Arc<RoleSet>, now_ms: u64) -> Arc<Self> {
        Arc::new(Self {
            id,
            state: Mutex::new(State {
                queue: OutboundQueue::new(policy),
                closing: None,
                in_flight: 0,
                roles,
            }),
            waker: AtomicWaker::new(),
            last_seen: AtomicU64::new(now_ms),
            ping_due: AtomicBool::new(false),
            registered: AtomicBool::new(false),
            subscribed: AtomicBool::new(false),
            park: AtomicU8::new(0),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // Poisoning only means a panic elsewhere; the state stays usable.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The assigned roles.
    pub(crate) fn roles(&self) -> Arc<RoleSet> {
        self.lock().roles.clone()
    }

    /// Replaces the roles (the registry record is updated by the caller).
    pub(crate) fn set_roles(&self, roles: Arc<RoleSet>) {
        self.lock().roles = roles;
    }

    /// Records traffic from the client.
    pub(crate) fn touch(&self, now_ms: u64) {
        self.last_seen.store(now_ms, Ordering::Relaxed);
    }

    /// When the client was last heard from.
    pub(crate) fn last_seen(&self) -> u64 {
        self.last_seen.load(Ordering::Relaxed)
    }

    /// Notes that the session holds (or held) a registration.
    pub(crate) fn mark_registered(&self) {
        self.registered.store(true, Ordering::SeqCst);
    }

    /// True when the session may hold a registration.
    pub(crate) fn ever_registered(&self) -> bool {
        self.registered.load(Ordering::SeqCst)
    }

    /// Notes that the session holds (or held) a subscription.
    pub(crate) fn mark_subscribed(&self) {
        self.subscribed.store(true, Ordering::SeqCst);
    }

    /// True when the session may hold a subscription.
    pub(crate) fn ever_subscribed(&self) -> bool {
        self.subscribed.load(Ordering::SeqCst)
    }

    /// Asks the writer to ping.
    pub(crate) fn request_ping(&self) {
        self.ping_due.store(true, Ordering::Relaxed);
        self.waker.wake();
    }

    /// True (once) when a ping is due.
    pub(crate) fn take_ping(&self) -> bool {
        self.ping_due.swap(false, Ordering::Relaxed)
    }

    /// Puts back a ping taken but not sent (no wake-up: the caller resumes).
    pub(crate) fn restore_ping(&self) {
        self.ping_due.store(true, Ordering::SeqCst);
    }

    /// True when a ping is due and nothing else needs the connection task
    /// (the parking component then writes the ping itself).
    pub(crate) fn only_ping_due(&self) -> bool {
        self.ping_due.load(Ordering::SeqCst) && !self.closing_or_queued()
    }

    /// True when the session is closing or has something queued.
    fn closing_or_queued(&self) -> bool {
        let st = self.lock();
        st.closing.is_some() || st.queue.depth() > 0
    }

    /// Asks the connection task to park if it stays idle (the sweeper, for a
    /// session silent for the park delay). Does nothing for a session that
    /// is parked, already hinted, or can never park, so an idle server does
    /// not wake its tasks for nothing.
    pub(crate) fn hint_park(&self) {
        let mut flags = self.park.load(Ordering::Relaxed);
        loop {
            if flags & (PARKED | PARK_HINT | NEVER_PARK) != 0 {
                return;
            }
            match self.park.compare_exchange_weak(
                flags,
                flags | PARK_HINT,
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => break,
                Err(now) => flags = now,
            }
        }
        self.waker.wake();
    }

    /// True (once) when the sweeper hinted that the session may park.
    pub(crate) fn take_park_hint(&self) -> bool {
        self.park.fetch_and(!PARK_HINT, Ordering::Relaxed) & PARK_HINT != 0
    }

    /// Notes that this session's connection can never park (TLS).
    pub(crate) fn never_park(&self) {
        self.park.fetch_or(NEVER_PARK, Ordering::Relaxed);
    }

    /// Marks the session parked or resumed (read by the sweeper).
    pub(crate) fn set_parked(&self, parked: bool) {
        if parked {
            self.park.fetch_or(PARKED, Ordering::Relaxed);
        } else {
            self.park.fetch_and(!PARKED, Ordering::Relaxed);
        }
    }

    /// True when something needs the connection task: a queued message, a
    /// close, a ping due. Checked by the parking component after it
    /// registered its waker, so a push racing the park is never lost.
    pub(crate) fn needs_task(&self) -> bool {
        self.ping_due.load(Ordering::SeqCst) || self.closing_or_queued()
    }

    /// Why the session is closing, when it is and nothing is queued to be
    /// written before its `Closing` push.
    pub(crate) fn closing_with_nothing_queued(&self) -> Option<CloseReason> {
        let st = self.lock();
        st.closing.filter(|_| st.queue.depth() == 0)
    }

    /// Why the session is closing, if it is.
    pub(crate) fn closing(&self) -> Option<CloseReason> {
        self.lock().closing
    }

    /// Registers the connection task's waker (before it checks the queue).
    pub(crate) fn register(&self, waker: &std::task::Waker) {
        self.waker.register(waker);
    }

    /// Queues an encoded message. Returns false when it was not queued
    /// (closing, or the queue limit was hit, which starts the close).
    pub(crate) fn enqueue(&self, events: &Events, item: Item) -> bool {
        let outcome = {
            let mut st = self.lock();
            if st.closing.is_some() {
                return false;
            }
            match st.queue.push(item) {
                Ok(crossing) => Ok(crossing.map(|c| (c, st.queue.policy()))),
                Err(_) => {
                    st.closing = Some(CloseReason::MessageQueueLimitReached);
                    // The backlog is the problem: drop it so the Closing push
                    // goes out first.
                    st.queue.clear();
                    Err(())
                }
            }
        };
        self.waker.wake();
        match outcome {
            Ok(Some((crossing, policy))) => {
                events.queue_crossing(self.id, crossing, policy);
                true
            }
            Ok(None) => true,
            Err(()) => false,
        }
    }

    /// Queues a push.
    pub(crate) fn push(&self, events: &Events, push: Push) -> bool {
        let frame = Bytes::from(usher_core::protocol::encode(&ServerMessage::Push(push)));
        self.enqueue(events, Item { frame, topic: None, response: false })
    }

    /// Queues the response to request `id`.
    pub(crate) fn respond(&self, events: &Events, id: u64, result: Result<Reply, WireError>) -> bool {
        let frame =
            Bytes::from(usher_core::protocol::encode(&ServerMessage::Response(Response { id, result })));
        self.enqueue(events, Item { frame, topic: None, response: true })
    }

    /// Counts a new request in flight; false when that passes `max`.
    pub(crate) fn begin_request(&self, max: u32) -> bool {
        let mut st = self.lock();
        st.in_flight += 1;
        st.in_flight <= max
    }

    /// Marks the session closing (the first reason wins) and wakes the
    /// writer. Returns the reason in effect.
    pub(crate) fn mark_closing(&self, reason: CloseReason) -> CloseReason {
        let effective = {
            let mut st = self.lock();
            *st.closing.get_or_insert(reason)
        };
        self.waker.wake();
        effective
    }

    /// The next thing for the writer. Once the session is closing this is
    /// always `Closing`; the final drain uses [`Session::drain_one`].
    pub(crate) fn next(&self, events: &Events) -> Next {
        self.pop(events, false)
    }

    /// The next queued item even while closing (the bounded final drain).
    pub(crate) fn drain_one(&self, events: &Events) -> Option<Item> {
        match self.pop(events, true) {
            Next::Item(item) => Some(item),
            _ => None,
        }
    }

    fn pop(&self, events: &Events, draining: bool) -> Next {
        let popped = {
            let mut st = self.lock();
            if let Some(reason) = st.closing
                && !draining
            {
                return Next::Closing(reason);
            }
            match st.queue.pop() {
                Some((item, crossing)) => {
                    if item.response {
                        st.in_flight = st.in_flight.saturating_sub(1);
                    }
                    let policy = st.queue.policy();
                    Ok((item, crossing.map(|c| (c, policy))))
                }
                None => Err(st.closing),
            }
        };
        match popped {
            Ok((item, crossing)) => {
                if let Some((c, policy)) = crossing {
                    events.queue_crossing(self.id, c, policy);
                }
                Next::Item(item)
            }
            Err(Some(reason)) => Next::Closing(reason),
            Err(None) => Next::Empty,
        }
    }

    /// The current throttler (read by the writer before each write).
    pub(crate) fn throttler(&self) -> Throttler {
        self.lock().queue.policy().throttler
    }

    /// Sets conflation; reports a real change as a policy event.
    pub(crate) fn set_conflated(&self, events: &Events, on: bool) {
        let (changed, crossing, policy) = {
            let mut st = self.lock();
            let (changed, crossing) = st.queue.set_conflated(on);
            (changed, crossing, st.queue.policy())
        };
        self.report_policy(events, changed, crossing, policy);
    }

    /// Sets the throttler; reports a real change as a policy event.
    pub(crate) fn set_throttler(&self, events: &Events, throttler: Throttler) {
        let (changed, policy) = {
            let mut st = self.lock();
            (st.queue.set_throttler(throttler), st.queue.policy())
        };
        self.report_policy(events, changed, None, policy);
        // A slower throttler must not leave the writer sleeping on the old pace.
        self.waker.wake();
    }

    fn report_policy(&self, events: &Events, changed: bool, crossing: Option<Crossing>, policy: QueuePolicy) {
        if changed {
            events.policy_changed(self.id, policy);
        }
        if let Some(c) = crossing {
            events.queue_crossing(self.id, c, policy);
        }
    }

    /// Drops queued values of topics the session may no longer read.
    pub(crate) fn purge_topics(&self, events: &Events, lost: impl Fn(&str) -> bool) {
        let (crossing, policy) = {
            let mut st = self.lock();
            (st.queue.purge_topics(lost), st.queue.policy())
        };
        if let Some(c) = crossing {
            events.queue_crossing(self.id, c, policy);
        }
    }
}
