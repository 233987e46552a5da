//! The session registry: every session of this server, its properties, and
//! indexes on `$Principal`, each role and equality on user properties.
//!
//! Sharded by session id, each shard behind its own `RwLock`, so lookups and
//! changes of different sessions rarely contend and there is no global lock on
//! the hot path. A filter operation visits the shards one after another and in
//! each uses the smallest index set named by [`CompiledFilter::index_hints`]
//! instead of scanning every record.
//!
//! Session events are emitted *under the shard lock* of the session they are
//! about, so the events of one session reach every listener in the order the
//! changes happened, and a listener's snapshot of a shard (taken under the same
//! lock) can never miss or repeat a change.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::IpAddr;
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

use usher_core::SessionId;
use usher_core::filter::{CompiledFilter, IndexHint};
use usher_core::intern::{Interner, Sym};
use usher_core::props::{ALL_FIXED, ALL_USER, FixedKey, InlineText, PropValue, PropertySource};
use usher_core::protocol::{ClientType, CloseReason};

use crate::events::Events;
use crate::roles::RoleSet;
use crate::session::Session;

/// Number of shards; at most 64 (listeners keep one "live" bit per shard).
pub(crate) const SHARDS: usize = 16;

/// One session's properties and handle.
#[derive(Debug)]
pub(crate) struct Record {
    /// The session's shared half.
    pub session: Arc<Session>,
    /// `$SessionId`.
    pub id: SessionId,
    /// `$StartTime`, ms since the epoch.
    pub start_time: u64,
    /// `$Principal`.
    pub principal: Box<str>,
    /// `$Roles` (shared by every session with the same set).
    pub roles: Arc<RoleSet>,
    /// `$Environment`.
    pub environment: Box<str>,
    /// `$Country` (upper case).
    pub country: Box<str>,
    /// `$Language` (lower case).
    pub language: Box<str>,
    /// `$Connector` (shared by the listener's sessions).
    pub connector: Arc<str>,
    /// `$ClientIP`.
    pub client_ip: IpAddr,
    /// `$ClientType`.
    pub client_type: ClientType,
    /// `$Transport` is `WEBSOCKET_TLS` when true.
    pub tls: bool,
    /// User properties sorted by key symbol.
    pub user: Vec<(Sym, Box<str>)>,
}

impl Record {
    /// A user property.
    pub(crate) fn user_value(&self, key: Sym) -> Option<&str> {
        self.user.binary_search_by_key(&key, |(k, _)| *k).ok().map(|i| &*self.user[i].1)
    }
}

/// A record as filters see it (the server name is not stored per session).
#[derive(Debug, Clone, Copy)]
pub(crate) struct View<'a> {
    /// The record.
    pub rec: &'a Record,
    /// `$ServerName`.
    pub server_name: &'a str,
}

impl PropertySource for View<'_> {
    fn fixed(&self, key: FixedKey) -> PropValue<'_> {
        let r = self.rec;
        let inline = |t: Option<InlineText>| t.map(PropValue::Inline).unwrap_or(PropValue::Str(""));
        match key {
            FixedKey::SessionId => inline(InlineText::format(r.id)),
            FixedKey::Principal => PropValue::Str(&r.principal),
            FixedKey::Roles => PropValue::Str(&r.roles.text),
            FixedKey::ClientType => PropValue::Str(r.client_type.as_str()),
            FixedKey::Transport => PropValue::Str(if r.tls { "WEBSOCKET_TLS" } else { "WEBSOCKET" }),
            FixedKey::ServerName => PropValue::Str(self.server_name),
            FixedKey::Connector => PropValue::Str(&r.connector),
            FixedKey::ClientIp => inline(InlineText::format(r.client_ip)),
            FixedKey::StartTime => inline(InlineText::format(r.start_time)),
            FixedKey::Environment => PropValue::Str(&r.environment),
            FixedKey::Country => PropValue::Str(&r.country),
            FixedKey::Language => PropValue::Str(&r.language),
        }
    }

    fn user(&self, key: Sym) -> Option<&str> {
        self.rec.user_value(key)
    }

    fn has_role(&self, role: Sym) -> bool {
        self.rec.roles.has(role)
    }
}

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
            for (sym, value) in &view.rec.user {
                if let Some(name) = interner.resolve(*sym) {
                    out.insert(name.to_string(), value.to_string());
                }
            }
        } else {
            for (sym, name) in &self.user {
                if let Some(v) = view.rec.user_value(*sym) {
                    out.insert(name.to_string(), v.to_owned());
                }
            }
        }
        out
    }
}

/// One property change, for session events: key, old, new.
pub(crate) type Change = (String, Option<String>, Option<String>);

#[derive(Debug, Default)]
struct Shard {
    sessions: HashMap<u64, Record>,
    by_principal: HashMap<Box<str>, HashSet<u64>>,
    by_role: HashMap<Sym, HashSet<u64>>,
    by_user: HashMap<Sym, HashMap<Box<str>, HashSet<u64>>>,
}

impl Shard {
    fn index(&mut self, r: &Record) {
        let v = r.id.value;
        self.by_principal.entry(r.principal.clone()).or_default().insert(v);
        for role in &r.roles.syms {
            self.by_role.entry(*role).or_default().insert(v);
        }
        for (k, val) in &r.user {
            self.by_user.entry(*k).or_default().entry(val.clone()).or_default().insert(v);
        }
    }

    fn unindex(&mut self, r: &Record) {
        let v = r.id.value;
        if let Some(set) = self.by_principal.get_mut(&r.principal) {
            set.remove(&v);
            if set.is_empty() {
                self.by_principal.remove(&r.principal);
            }
        }
        for role in &r.roles.syms {
            if let Some(set) = self.by_role.get_mut(role) {
                set.remove(&v);
                if set.is_empty() {
                    self.by_role.remove(role);
                }
            }
        }
        for (k, val) in &r.user {
            if let Some(by_val) = self.by_user.get_mut(k) {
                if let Some(set) = by_val.get_mut(val) {
                    set.remove(&v);
                    if set.is_empty() {
                        by_val.remove(val);
                    }
                }
                if by_val.is_empty() {
                    self.by_user.remove(k);
                }
            }
        }
    }

    /// The smallest candidate set the hints allow; `None` means scan all.
    /// `Some(None)` means a hint has no entries: nothing in this shard matches.
    fn candidates(&self, hints: &[IndexHint]) -> Option<Option<&HashSet<u64>>> {
        let mut best: Option<Option<&HashSet<u64>>> = None;
        for hint in hints {
            let set = match hint {
                IndexHint::Principal(p) => self.by_principal.get(&**p),
                IndexHint::Role(r) => self.by_role.get(r),
                IndexHint::UserEq(k, v) => self.by_user.get(k).and_then(|m| m.get(&**v)),
            };
            best = match (best, set) {
                (_, None) => return Some(None),
                (None, Some(s)) => Some(Some(s)),
                (Some(Some(b)), Some(s)) => Some(Some(if s.len() < b.len() { s } else { b })),
                (Some(None), _) => return Some(None),
            };
        }
        best
    }
}

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
        shard.index(&rec);
        let id = rec.id.value;
        shard.sessions.insert(id, rec);
        if let Some(rec) = shard.sessions.get(&id) {
            events.on_active(i, &self.view(rec), &self.interner);
        }
    }

    /// Removes a session and emits `CLOSED` to listeners.
    pub(crate) fn remove(&self, id: SessionId, reason: CloseReason, events: &Events) -> Option<Record> {
        let i = Self::shard_of(id);
        let mut shard = self.write(i);
        let rec = shard.sessions.remove(&id.value)?;
        shard.unindex(&rec);
        events.on_closed(i, &self.view(&rec), reason, &self.interner);
        Some(rec)
    }

    /// Reads one session.
    pub(crate) fn get<R>(&self, id: SessionId, f: impl FnOnce(View<'_>) -> R) -> Option<R> {
        let shard = self.read(Self::shard_of(id));
        shard.sessions.get(&id.value).map(|rec| f(self.view(rec)))
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
        let mut guard = self.write(i);
        let shard = &mut *guard;
        let mut rec = shard.sessions.remove(&id.value)?;
        shard.unindex(&rec);
        let before = events.matches_before(i, &self.view(&rec));
        let out = f(&mut rec, &self.interner);
        shard.index(&rec);
        if let Ok((_, changes)) = &out
            && !changes.is_empty()
        {
            events.on_properties(i, &self.view(&rec), &before, changes, &self.interner);
        }
        shard.sessions.insert(id.value, rec);
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
        let mut guard = self.write(i);
        let Shard { sessions, by_role, .. } = &mut *guard;
        let rec = sessions.get_mut(&id.value)?;
        // Empty when no listener exists; none can become live in this shard
        // while its lock is held, so then no event is due.
        let before = events.matches_before(i, &self.view(rec));
        let old = std::mem::replace(&mut rec.roles, roles.clone());
        rec.session.set_roles(roles.clone());
        let v = id.value;
        for sym in old.syms.iter().filter(|s| !roles.has(**s)) {
            if let Some(set) = by_role.get_mut(sym) {
                set.remove(&v);
                if set.is_empty() {
                    by_role.remove(sym);
                }
            }
        }
        for sym in roles.syms.iter().filter(|s| !old.has(**s)) {
            by_role.entry(*sym).or_default().insert(v);
        }
        if !before.is_empty() && old.text != roles.text {
            let change = ("$Roles".to_owned(), Some(old.text.to_string()), Some(roles.text.to_string()));
            events.on_properties(i, &self.view(rec), &before, &[change], &self.interner);
        }
        Some(rec.session.clone())
    }

    /// Calls `f` for every session the filter matches (shard by shard).
    pub(crate) fn for_each_match(&self, filter: &CompiledFilter, mut f: impl FnMut(View<'_>)) {
        let hints = filter.index_hints();
        for i in 0..SHARDS {
            let shard = self.read(i);
            match shard.candidates(hints) {
                Some(None) => {}
                Some(Some(ids)) => {
                    for v in ids {
                        if let Some(rec) = shard.sessions.get(v) {
                            let view = self.view(rec);
                            if filter.matches(&view) {
                                f(view);
                            }
                        }
                    }
                }
                None => {
                    for rec in shard.sessions.values() {
                        let view = self.view(rec);
                        if filter.matches(&view) {
                            f(view);
                        }
                    }
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
        for rec in shard.sessions.values() {
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
            out.extend(self.read(i).sessions.values().map(|r| r.session.clone()));
        }
        out
    }

    /// How many sessions there are.
    pub(crate) fn len(&self) -> usize {
        (0..SHARDS).map(|i| self.read(i).sessions.len()).sum()
    }
}
