//! The session registry: every session of this server, its properties, and
//! indexes on `$Principal`, each role and equality on user properties.
//!
//! Sharded by session id, each shard behind its own `RwLock`, so lookups and
//! changes of different sessions rarely contend and there is no global lock on
//! the hot path. A filter operation visits the shards one after another and in
//! each evaluates the filter only on the intersection of the index sets named
//! by [`CompiledFilter::index_hints`] (`shard.rs`: records in numbered slots,
//! indexes as roaring bitmaps of slots), scanning every record only when the
//! filter has no indexable conjunct (SPEC §9 P5).
//!
//! Session events are emitted *under the shard lock* of the session they are
//! about, so the events of one session reach every listener in the order the
//! changes happened, and a listener's snapshot of a shard (taken under the same
//! lock) can never miss or repeat a change.

mod record;
mod shard;

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

use usher_core::SessionId;
use usher_core::filter::CompiledFilter;
use usher_core::intern::{Interner, Sym};
use usher_core::props::{ALL_FIXED, ALL_USER, FixedKey, PropertySource};
use usher_core::protocol::CloseReason;

use crate::events::Events;
use crate::roles::RoleSet;
use crate::session::Session;

pub(crate) use record::{Record, ShortStr, UserProps, View};
use shard::{Candidates, Shard};

/// Number of shards; at most 64 (listeners keep one "live" bit per shard).
pub(crate) const SHARDS: usize = 16;

/// Which properties a caller asked for: `*F`, `*U` and names.
#[derive(Debug, Clone, Default)]
pub(crate) struct KeySpec {
    all_fixed: bool,
    all_user: bool,
    fixed: Vec<FixedKey>,
    /// Named user keys (only those ever interned can exist on a session).
    user: Vec<(Sym, Box<str>)>,
}

impl KeySpec {
    /// Parses a key list. Unknown `$` keys are ignored (nothing has them).
    pub(crate) fn parse(keys: &[String], interner: &Interner) -> Self {
        let mut spec = KeySpec::default();
        for k in keys {
            match k.as_str() {
                ALL_FIXED => spec.all_fixed = true,
                ALL_USER => spec.all_user = true,
                name => {
                    if let Some(f) = FixedKey::from_name(name) {
                        spec.fixed.push(f);
                    } else if let Some(sym) = interner.get(name) {
                        spec.user.push((sym, name.into()));
                    }
                }
            }
        }
        spec
    }

    /// True when `key` (a property name) is requested.
    pub(crate) fn wants(&self, key: &str) -> bool {
        match FixedKey::from_name(key) {
            Some(f) => self.all_fixed || self.fixed.contains(&f),
            None => self.all_user || self.user.iter().any(|(_, n)| &**n == key),
        }
    }

    /// The requested properties the session has.
    pub(crate) fn collect(&self, view: &View<'_>, interner: &Interner) -> BTreeMap<String, String> {
        let mut out = BTreeMap::new();
        for f in FixedKey::ALL {
            if self.all_fixed || self.fixed.contains(&f) {
                out.insert(f.name().to_owned(), view.fixed(f).as_str().to_owned());
            }
        }
        if self.all_user {
            for (sym, value) in view.rec.user.iter() {
                if let Some(name) = interner.resolve(sym) {
                    out.insert(name.to_string(), value.to_string());
                }
            }
        } else {
            for (sym, name) in &self.user {
                if let Some(v) = view.rec.user.get(*sym) {
                    out.insert(name.to_string(), v.to_owned());
                }
            }
        }
        out
    }
}

/// One property change, for session events: key, old, new.
pub(crate) type Change = (String, Option<String>, Option<String>);

/// The sharded registry.
#[derive(Debug)]
pub(crate) struct Registry {
    // std RwLocks: nothing awaits while a shard is locked.
    shards: Vec<RwLock<Shard>>,
    server_name: Arc<str>,
    interner: Interner,
}

impl Registry {
    /// An empty registry.
    pub(crate) fn new(server_name: Arc<str>, interner: Interner) -> Self {
        Self { shards: (0..SHARDS).map(|_| RwLock::new(Shard::default())).collect(), server_name, interner }
    }

    /// The shard a session lives in.
    pub(crate) fn shard_of(id: SessionId) -> usize {
        (id.value % SHARDS as u64) as usize
    }

    fn read(&self, i: usize) -> RwLockReadGuard<'_, Shard> {
        self.shards[i].read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self, i: usize) -> RwLockWriteGuard<'_, Shard> {
        self.shards[i].write().unwrap_or_else(|e| e.into_inner())
    }

    fn view<'a>(&'a self, rec: &'a Record) -> View<'a> {
        View { rec, server_name: &self.server_name }
    }

    /// Adds a session and emits `ACTIVE` to listeners.
    pub(crate) fn insert(&self, rec: Record, events: &Events) {
        let i = Self::shard_of(rec.id);
        let mut shard = self.write(i);
        let slot = shard.insert(rec);
        if let Some(rec) = shard.at(slot) {
            events.on_active(i, &self.view(rec), &self.interner);
        }
    }

    /// Removes a session and emits `CLOSED` to listeners.
    pub(crate) fn remove(&self, id: SessionId, reason: CloseReason, events: &Events) -> Option<Record> {
        let i = Self::shard_of(id);
        let mut shard = self.write(i);
        let rec = shard.remove(id.value)?;
        events.on_closed(i, &self.view(&rec), reason, &self.interner);
        Some(rec)
    }

    /// Reads one session.
    pub(crate) fn get<R>(&self, id: SessionId, f: impl FnOnce(View<'_>) -> R) -> Option<R> {
        let shard = self.read(Self::shard_of(id));
        shard.get(id.value).map(|rec| f(self.view(rec)))
    }

    /// Changes one session. `f` returns its result and the property changes
    /// it made (or an error, in which case it must have changed nothing);
    /// listeners get a `PROPERTIES` event when a requested key changed.
    pub(crate) fn update<R, E>(
        &self,
        id: SessionId,
        events: &Events,
        f: impl FnOnce(&mut Record, &Interner) -> Result<(R, Vec<Change>), E>,
    ) -> Option<Result<R, E>> {
        let i = Self::shard_of(id);
        let mut shard = self.write(i);
        let (out, slot) = shard.update(id.value, |rec| {
            let before = events.matches_before(i, &self.view(rec));
            (f(rec, &self.interner), before)
        })?;
        let (out, before) = out;
        if let Ok((_, changes)) = &out
            && !changes.is_empty()
            && let Some(rec) = shard.at(slot)
        {
            events.on_properties(i, &self.view(rec), &before, changes, &self.interner);
        }
        Some(out.map(|(r, _)| r))
    }

    /// Replaces one session's assigned roles (changeRoles, SPEC §4.1) and
    /// returns its handle. Only the role index is touched, in place: the
    /// other indexes do not depend on roles, and the general [`update`]
    /// re-indexing every property cost most of a role change (SPEC §9 P4).
    /// Listeners get a `$Roles` PROPERTIES event when the text changed.
    ///
    /// [`update`]: Registry::update
    pub(crate) fn set_roles(
        &self,
        id: SessionId,
        events: &Events,
        roles: &Arc<RoleSet>,
    ) -> Option<Arc<Session>> {
        let i = Self::shard_of(id);
        let mut shard = self.write(i);
        let (slot, rec) = shard.get_mut(id.value)?;
        // Empty when no listener exists; none can become live in this shard
        // while its lock is held, so then no event is due.
        let before = events.matches_before(i, &self.view(rec));
        let old = std::mem::replace(&mut rec.roles, roles.clone());
        rec.session.set_roles(roles.clone());
        let session = rec.session.clone();
        shard.reindex_roles(slot, &old, roles);
        if !before.is_empty()
            && old.text != roles.text
            && let Some(rec) = shard.at(slot)
        {
            let change = ("$Roles".to_owned(), Some(old.text.to_string()), Some(roles.text.to_string()));
            events.on_properties(i, &self.view(rec), &before, &[change], &self.interner);
        }
        Some(session)
    }

    /// Calls `f` for every session the filter matches (shard by shard): the
    /// indexes give the candidates, the filter decides.
    pub(crate) fn for_each_match(&self, filter: &CompiledFilter, mut f: impl FnMut(View<'_>)) {
        let hints = filter.index_hints();
        let mut slots = Vec::new();
        for i in 0..SHARDS {
            let shard = self.read(i);
            match shard.candidates(hints) {
                Candidates::All => self.evaluate(shard.slot_count(), |k| shard.at(k as u32), filter, &mut f),
                Candidates::Slots(set) => {
                    slots.clear();
                    slots.extend(set.iter());
                    let slot = |k: usize| shard.at(slots[k]);
                    self.evaluate(slots.len(), slot, filter, &mut f);
                }
            }
        }
    }

    /// Calls `f` for every session the filter matches, evaluating every
    /// record (no index; the P5 benchmark's comparison).
    pub(crate) fn scan(&self, filter: &CompiledFilter, mut f: impl FnMut(View<'_>)) {
        for i in 0..SHARDS {
            let shard = self.read(i);
            self.evaluate(shard.slot_count(), |k| shard.at(k as u32), filter, &mut f);
        }
    }

    /// Evaluates the filter on the records `slot(0..n)`, in that order.
    ///
    /// The records a filter visits are scattered (every other one, or a few
    /// of an index set), and a filter reads a record's user properties only
    /// when its cheaper clauses pass, which makes each read a cache miss.
    /// So the loop asks for them early: the record [`PREFETCH_RECORD`]
    /// places ahead, and the properties of the one [`PREFETCH_PROPS`] places
    /// ahead (its record has arrived by then), and the misses overlap
    /// instead of stalling one after another.
    fn evaluate<'a>(
        &'a self,
        n: usize,
        slot: impl Fn(usize) -> Option<&'a Record>,
        filter: &CompiledFilter,
        f: &mut impl FnMut(View<'a>),
    ) {
        for k in 0..n {
            if k + PREFETCH_RECORD < n
                && let Some(ahead) = slot(k + PREFETCH_RECORD)
            {
                let at: *const Record = ahead;
                for line in (0..size_of::<Record>()).step_by(64) {
                    prefetch(at.cast::<u8>().wrapping_add(line));
                }
            }
            if k + PREFETCH_PROPS < n
                && let Some(ahead) = slot(k + PREFETCH_PROPS)
            {
                for p in ahead.user.prefetch_addresses() {
                    prefetch(p);
                }
            }
            if let Some(rec) = slot(k) {
                let view = self.view(rec);
                if filter.matches(&view) {
                    f(view);
                }
            }
        }
    }

    /// The ids (and start times) of every session the filter matches.
    pub(crate) fn select(&self, filter: &CompiledFilter) -> Vec<(u64, SessionId)> {
        let mut out = Vec::new();
        self.for_each_match(filter, |v| out.push((v.rec.start_time, v.rec.id)));
        out
    }

    /// Runs `f` on shard `i` under its read lock, with every record (for
    /// listener snapshots).
    pub(crate) fn with_shard(&self, i: usize, mut f: impl FnMut(Option<View<'_>>)) {
        let shard = self.read(i);
        for rec in shard.records() {
            f(Some(self.view(rec)));
        }
        // Called once more with `None` while still holding the lock, so the
        // caller can mark the shard live before any change can happen.
        f(None);
    }

    /// Every session handle (for shutdown).
    pub(crate) fn all_sessions(&self) -> Vec<Arc<Session>> {
        let mut out = Vec::new();
        for i in 0..SHARDS {
            out.extend(self.read(i).records().map(|r| r.session.clone()));
        }
        out
    }

    /// How many sessions there are.
    pub(crate) fn len(&self) -> usize {
        (0..SHARDS).map(|i| self.read(i).len()).sum()
    }
}

/// How many records ahead [`Registry::evaluate`] prefetches a record.
const PREFETCH_RECORD: usize = 16;
/// How many records ahead [`Registry::evaluate`] prefetches user properties.
const PREFETCH_PROPS: usize = 8;

#[inline(always)]
fn prefetch(p: *const u8) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: SSE is part of the x86_64 baseline, and a prefetch is only a
    // hint: it never faults or reads into the program, whatever the address.
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(p.cast())
    };
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}

#[cfg(test)]
mod tests;
