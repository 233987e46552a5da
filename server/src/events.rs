//! Session listeners and queue handlers (SPEC §4.2, §4.3).
//!
//! The registry calls the `on_*` hooks while it holds the shard lock of the
//! session concerned, so every listener sees one session's events in order.
//! A listener becomes "live" shard by shard: its snapshot of a shard is taken
//! under that shard's lock and the shard's live bit set before the lock is
//! released, so no event is missed or doubled between snapshot and live.
//!
//! Delivery is a push into the owner's bounded outbound queue; an owner that
//! does not keep up is closed with `MESSAGE_QUEUE_LIMIT_REACHED` like any
//! slow consumer. Lock order: registry shard → these lists (read) → a
//! session's queue. Nothing here takes a shard lock.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use usher_core::filter::CompiledFilter;
use usher_core::intern::Interner;
use usher_core::protocol::{
    CloseReason, Push, QueueEvent, QueuePolicy, RegistrationId, SessionEvent, SessionState, WireError,
};
use usher_core::{Error, SessionId};

use crate::queue::Crossing;
use crate::registry::{Change, KeySpec, View};
use crate::session::Session;

/// One session-listener registration.
#[derive(Debug)]
pub(crate) struct Listener {
    /// The controller session that registered it.
    pub owner: Arc<Session>,
    /// The client's id for it.
    pub registration: RegistrationId,
    /// `None`: every session (the default filter `all`).
    filter: Option<CompiledFilter>,
    keys: KeySpec,
    after: Option<u64>,
    /// One bit per registry shard: set once the shard's snapshot is queued.
    live: AtomicU64,
    closed: AtomicBool,
}

impl Listener {
    /// A listener, live nowhere yet.
    pub(crate) fn new(
        owner: Arc<Session>,
        registration: RegistrationId,
        filter: Option<CompiledFilter>,
        keys: KeySpec,
        after: Option<u64>,
    ) -> Self {
        Self {
            owner,
            registration,
            filter,
            keys,
            after,
            live: AtomicU64::new(0),
            closed: AtomicBool::new(false),
        }
    }

    fn live_in(&self, shard: usize) -> bool {
        self.live.load(Ordering::Acquire) & (1 << shard) != 0 && !self.closed.load(Ordering::Acquire)
    }

    fn matches(&self, view: &View<'_>) -> bool {
        self.filter.as_ref().is_none_or(|f| f.matches(view))
    }

    fn wants(&self, view: &View<'_>) -> bool {
        self.after.is_none_or(|after| view.rec.start_time > after)
    }

    fn send(&self, events: &Events, event: SessionEvent) {
        self.owner.push(events, Push::SessionEvent { registration: self.registration, event });
    }
}

/// A queue-handler registration.
#[derive(Debug)]
pub(crate) struct QueueHandler {
    /// The controller session.
    pub owner: Arc<Session>,
    /// The client's id for it.
    pub registration: RegistrationId,
}

/// Every registration on this server.
#[derive(Debug, Default)]
pub(crate) struct Events {
    // std RwLocks: read on every session change, written only when a
    // registration is added or removed; nothing awaits while held.
    listeners: RwLock<Vec<Arc<Listener>>>,
    handlers: RwLock<Vec<Arc<QueueHandler>>>,
}

impl Events {
    fn listeners(&self) -> std::sync::RwLockReadGuard<'_, Vec<Arc<Listener>>> {
        self.listeners.read().unwrap_or_else(|e| e.into_inner())
    }

    fn handlers(&self) -> std::sync::RwLockReadGuard<'_, Vec<Arc<QueueHandler>>> {
        self.handlers.read().unwrap_or_else(|e| e.into_inner())
    }

    /// How many registrations (listeners and handler) `owner` holds.
    pub(crate) fn count_owned(&self, owner: SessionId) -> usize {
        self.listeners().iter().filter(|l| l.owner.id == owner).count()
            + self.handlers().iter().filter(|h| h.owner.id == owner).count()
    }

    /// True when `owner` already uses this registration id.
    pub(crate) fn registration_in_use(&self, owner: SessionId, registration: RegistrationId) -> bool {
        self.listeners().iter().any(|l| l.owner.id == owner && l.registration == registration)
            || self.handlers().iter().any(|h| h.owner.id == owner && h.registration == registration)
    }

    /// Adds a listener; the caller then snapshots each shard with
    /// [`Events::snapshot_shard`].
    pub(crate) fn add_listener(&self, listener: Arc<Listener>) {
        listener.owner.mark_registered();
        let mut listeners = self.listeners.write().unwrap_or_else(|e| e.into_inner());
        if listener.owner.closing().is_none() {
            listeners.push(listener);
        }
    }

    /// Called by the registry's `with_shard` for each record (`Some`) and
    /// once at the end (`None`), under the shard's lock.
    pub(crate) fn snapshot_shard(
        &self,
        listener: &Listener,
        shard: usize,
        view: Option<View<'_>>,
        interner: &Interner,
    ) {
        match view {
            Some(view) => {
                if listener.wants(&view) && listener.matches(&view) {
                    listener
                        .send(self, state_event(&view, SessionState::Active, None, &listener.keys, interner));
                }
            }
            None => {
                listener.live.fetch_or(1 << shard, Ordering::AcqRel);
            }
        }
    }

    /// Adds the queue handler of `owner`; `HANDLER_CONFLICT` if it has one.
    pub(crate) fn add_handler(&self, handler: Arc<QueueHandler>) -> Result<(), Error> {
        handler.owner.mark_registered();
        let mut handlers = self.handlers.write().unwrap_or_else(|e| e.into_inner());
        if handler.owner.closing().is_some() {
            return Err(Error::session_closed());
        }
        if handlers.iter().any(|h| h.owner.id == handler.owner.id) {
            return Err(Error::new(
                usher_core::ErrorKind::HandlerConflict,
                "this session already has a queue event handler",
            ));
        }
        handlers.push(handler);
        Ok(())
    }

    fn take(&self, owner: SessionId, registration: RegistrationId) -> Option<Arc<Session>> {
        {
            let mut ls = self.listeners.write().unwrap_or_else(|e| e.into_inner());
            if let Some(pos) = ls.iter().position(|l| l.owner.id == owner && l.registration == registration) {
                let l = ls.swap_remove(pos);
                l.closed.store(true, Ordering::Release);
                return Some(l.owner.clone());
            }
        }
        let mut hs = self.handlers.write().unwrap_or_else(|e| e.into_inner());
        let pos = hs.iter().position(|h| h.owner.id == owner && h.registration == registration)?;
        Some(hs.swap_remove(pos).owner.clone())
    }

    /// Removes one registration of `owner` silently (the caller announces
    /// it). False when there was no such registration.
    pub(crate) fn remove(&self, owner: SessionId, registration: RegistrationId) -> bool {
        self.take(owner, registration).is_some()
    }

    /// Ends one registration of `owner`: optional error, then
    /// `RegistrationClosed`. False when there was no such registration.
    pub(crate) fn end(&self, owner: SessionId, registration: RegistrationId, error: Option<&Error>) -> bool {
        let Some(session) = self.take(owner, registration) else { return false };
        if let Some(e) = error {
            session.push(self, Push::RegistrationError { registration, error: WireError::from(e.clone()) });
        }
        session.push(self, Push::RegistrationClosed { registration });
        true
    }

    /// Every registration id `owner` holds.
    pub(crate) fn owned(&self, owner: SessionId) -> Vec<RegistrationId> {
        let mut out: Vec<RegistrationId> =
            self.listeners().iter().filter(|l| l.owner.id == owner).map(|l| l.registration).collect();
        out.extend(self.handlers().iter().filter(|h| h.owner.id == owner).map(|h| h.registration));
        out
    }

    /// Drops every registration of a closed session, silently.
    pub(crate) fn remove_owner(&self, owner: SessionId) {
        self.listeners.write().unwrap_or_else(|e| e.into_inner()).retain(|l| {
            let keep = l.owner.id != owner;
            if !keep {
                l.closed.store(true, Ordering::Release);
            }
            keep
        });
        self.handlers.write().unwrap_or_else(|e| e.into_inner()).retain(|h| h.owner.id != owner);
    }

    pub(crate) fn on_active(&self, shard: usize, view: &View<'_>, interner: &Interner) {
        for l in self.listeners().iter() {
            if l.live_in(shard) && l.wants(view) && l.matches(view) {
                l.send(self, state_event(view, SessionState::Active, None, &l.keys, interner));
            }
        }
    }

    pub(crate) fn on_closed(&self, shard: usize, view: &View<'_>, reason: CloseReason, interner: &Interner) {
        for l in self.listeners().iter() {
            if l.owner.id != view.rec.id && l.live_in(shard) && l.wants(view) && l.matches(view) {
                l.send(self, state_event(view, SessionState::Closed, Some(reason), &l.keys, interner));
            }
        }
    }

    /// Which listeners match the session before a change (empty when there
    /// are no listeners, so changes cost nothing then).
    pub(crate) fn matches_before(&self, _shard: usize, view: &View<'_>) -> Vec<(usize, bool)> {
        // Keyed by the listener's address: the list may change (swap_remove)
        // before `on_properties` runs.
        self.listeners().iter().map(|l| (Arc::as_ptr(l) as usize, l.matches(view))).collect()
    }

    pub(crate) fn on_properties(
        &self,
        shard: usize,
        view: &View<'_>,
        before: &[(usize, bool)],
        changes: &[Change],
        _interner: &Interner,
    ) {
        for l in self.listeners().iter() {
            if !l.live_in(shard) || !l.wants(view) {
                continue;
            }
            // A listener added between `matches_before` and now counts as
            // "did not match before".
            let addr = Arc::as_ptr(l) as usize;
            let was = before.iter().find(|(a, _)| *a == addr).is_some_and(|(_, m)| *m);
            let now = l.matches(view);
            if !was && !now {
                continue;
            }
            let changed: BTreeMap<String, (Option<String>, Option<String>)> = changes
                .iter()
                .filter(|(k, _, _)| l.keys.wants(k))
                .map(|(k, old, new)| (k.clone(), (old.clone(), new.clone())))
                .collect();
            if changed.is_empty() {
                continue;
            }
            l.send(self, SessionEvent::Properties { session: view.rec.id, changed, matches: now });
        }
    }

    /// Tells every queue handler about a threshold crossing.
    pub(crate) fn queue_crossing(&self, session: SessionId, crossing: Crossing, policy: QueuePolicy) {
        let event = match crossing {
            Crossing::Upper => QueueEvent::UpperThresholdCrossed { session, policy },
            Crossing::Lower => QueueEvent::LowerThresholdCrossed { session, policy },
        };
        self.queue_event(event);
    }

    /// Tells every queue handler about a real policy change.
    pub(crate) fn policy_changed(&self, session: SessionId, policy: QueuePolicy) {
        self.queue_event(QueueEvent::PolicyChanged { session, policy });
    }

    /// Tells every queue handler (also used for other servers' events).
    pub(crate) fn queue_event(&self, event: QueueEvent) {
        // Clone the list first: pushing to a handler's queue may cross its
        // own threshold, which re-enters here.
        let handlers: Vec<Arc<QueueHandler>> = self.handlers().clone();
        for h in handlers {
            h.owner.push(self, Push::QueueEvent { registration: h.registration, event: event.clone() });
        }
    }
}

fn state_event(
    view: &View<'_>,
    state: SessionState,
    reason: Option<CloseReason>,
    keys: &KeySpec,
    interner: &Interner,
) -> SessionEvent {
    SessionEvent::State { session: view.rec.id, state, reason, properties: keys.collect(view, interner) }
}
