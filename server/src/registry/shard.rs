//! One shard of the registry: its records in numbered slots and its indexes
//! as bitmaps of slot numbers.
//!
//! A filter's indexable conjuncts (`$Principal is`, each role of `hasRoles`,
//! `key is` on a user key) are answered by intersecting their bitmaps
//! (roaring bitmaps: a few bytes per member, dense sets as plain bit
//! arrays), so only sessions that pass all of them are evaluated, in slot
//! order, which is the order they sit in memory.

use std::borrow::Cow;
use std::collections::HashMap;

use roaring::RoaringBitmap;
use usher_core::filter::IndexHint;
use usher_core::intern::Sym;

use super::record::Record;
use crate::roles::RoleSet;

/// Records and indexes of one shard. Slots of removed records are reused;
/// the slot vector never shrinks (bound: the most sessions this shard held
/// at once, 8 bytes each). Records are boxed so the vector stays small when
/// it grows: by value, each doubling copied every record and left the old
/// copies behind as allocator garbage (SPEC §9 P1).
#[derive(Debug, Default)]
pub(super) struct Shard {
    /// Records by slot; `None` marks a free slot (listed in `free`).
    slots: Vec<Option<Box<Record>>>,
    free: Vec<u32>,
    /// Session id value → slot.
    by_id: HashMap<u64, u32>,
    by_principal: HashMap<Box<str>, RoaringBitmap>,
    by_role: HashMap<Sym, RoaringBitmap>,
    by_user: HashMap<Sym, HashMap<Box<str>, RoaringBitmap>>,
}

/// Removes `slot` from the set under `key`, and the set once empty.
fn unset<K: std::hash::Hash + Eq + ?Sized, Q: std::borrow::Borrow<K> + std::hash::Hash + Eq>(
    map: &mut HashMap<Q, RoaringBitmap>,
    key: &K,
    slot: u32,
) {
    if let Some(set) = map.get_mut(key) {
        set.remove(slot);
        if set.is_empty() {
            map.remove(key);
        }
    }
}

/// What the indexes say about a filter in one shard.
pub(super) enum Candidates<'a> {
    /// No indexable clause: evaluate every record.
    All,
    /// Only these slots can match.
    Slots(Cow<'a, RoaringBitmap>),
}

impl Shard {
    pub(super) fn len(&self) -> usize {
        self.by_id.len()
    }

    pub(super) fn slot(&self, id: u64) -> Option<u32> {
        self.by_id.get(&id).copied()
    }

    pub(super) fn get(&self, id: u64) -> Option<&Record> {
        self.at(self.slot(id)?)
    }

    pub(super) fn at(&self, slot: u32) -> Option<&Record> {
        self.slots.get(slot as usize)?.as_deref()
    }

    pub(super) fn get_mut(&mut self, id: u64) -> Option<(u32, &mut Record)> {
        let slot = self.slot(id)?;
        Some((slot, self.slots.get_mut(slot as usize)?.as_deref_mut()?))
    }

    /// How many slots there are (free ones included).
    pub(super) fn slot_count(&self) -> usize {
        self.slots.len()
    }

    /// Every record, in slot order.
    pub(super) fn records(&self) -> impl Iterator<Item = &Record> {
        self.slots.iter().flatten().map(|r| &**r)
    }

    /// Adds a record (replacing one with the same id) and indexes it.
    pub(super) fn insert(&mut self, rec: Record) -> u32 {
        if let Some(old) = self.by_id.get(&rec.id.value).copied() {
            self.take(old);
        }
        let slot = match self.free.pop() {
            Some(slot) => slot,
            None => {
                // A shard holds far fewer than 2^32 sessions (one process
                // holds at most a few hundred thousand sockets).
                let slot = u32::try_from(self.slots.len()).unwrap_or(u32::MAX);
                self.slots.push(None);
                slot
            }
        };
        self.index(slot, &rec);
        self.by_id.insert(rec.id.value, slot);
        self.slots[slot as usize] = Some(Box::new(rec));
        slot
    }

    /// Removes a session and its index entries.
    pub(super) fn remove(&mut self, id: u64) -> Option<Record> {
        let slot = self.by_id.remove(&id)?;
        let rec = self.slots.get_mut(slot as usize)?.take()?;
        self.unindex(slot, &rec);
        self.free.push(slot);
        Some(*rec)
    }

    fn take(&mut self, slot: u32) {
        if let Some(rec) = self.slots.get_mut(slot as usize).and_then(Option::take) {
            self.by_id.remove(&rec.id.value);
            self.unindex(slot, &rec);
            self.free.push(slot);
        }
    }

    /// Changes a record with `f`, keeping the indexes in step.
    /// Returns `f`'s result and the record's slot.
    pub(super) fn update<R>(&mut self, id: u64, f: impl FnOnce(&mut Record) -> R) -> Option<(R, u32)> {
        let slot = self.slot(id)?;
        let mut rec = self.slots.get_mut(slot as usize)?.take()?;
        self.unindex(slot, &rec);
        let out = f(&mut rec);
        self.index(slot, &rec);
        self.slots[slot as usize] = Some(rec);
        Some((out, slot))
    }

    /// Moves `slot` from the role sets of `old` to those of `new`.
    pub(super) fn reindex_roles(&mut self, slot: u32, old: &RoleSet, new: &RoleSet) {
        for sym in old.syms.iter().filter(|s| !new.has(**s)) {
            unset(&mut self.by_role, sym, slot);
        }
        for sym in new.syms.iter().filter(|s| !old.has(**s)) {
            self.by_role.entry(*sym).or_default().insert(slot);
        }
    }

    fn index(&mut self, slot: u32, r: &Record) {
        self.by_principal.entry((*r.principal).into()).or_default().insert(slot);
        for role in &r.roles.syms {
            self.by_role.entry(*role).or_default().insert(slot);
        }
        for (k, val) in r.user.iter() {
            self.by_user.entry(k).or_default().entry(val.into()).or_default().insert(slot);
        }
    }

    fn unindex(&mut self, slot: u32, r: &Record) {
        unset(&mut self.by_principal, &*r.principal, slot);
        for role in &r.roles.syms {
            unset(&mut self.by_role, role, slot);
        }
        for (k, val) in r.user.iter() {
            if let Some(by_val) = self.by_user.get_mut(&k) {
                unset(by_val, val, slot);
                if by_val.is_empty() {
                    self.by_user.remove(&k);
                }
            }
        }
    }

    /// The slots that pass every indexable clause: the intersection of
    /// their sets (an `in` clause's set is the union of its values'),
    /// smallest first.
    pub(super) fn candidates(&self, hints: &[IndexHint]) -> Candidates<'_> {
        let mut sets: Vec<Cow<'_, RoaringBitmap>> = Vec::with_capacity(hints.len());
        for hint in hints {
            let set = match hint {
                IndexHint::Principal(p) => self.by_principal.get(&**p).map(Cow::Borrowed),
                IndexHint::Role(r) => self.by_role.get(r).map(Cow::Borrowed),
                IndexHint::UserEq(k, v) => self.by_user.get(k).and_then(|m| m.get(&**v)).map(Cow::Borrowed),
                IndexHint::PrincipalIn(values) => {
                    union(values.iter().filter_map(|p| self.by_principal.get(&**p)))
                }
                IndexHint::UserIn(k, values) => {
                    self.by_user.get(k).and_then(|m| union(values.iter().filter_map(|v| m.get(&**v))))
                }
            };
            match set {
                Some(set) => sets.push(set),
                None => return Candidates::Slots(Cow::Owned(RoaringBitmap::new())),
            }
        }
        sets.sort_by_key(|s| s.len());
        let mut sets = sets.into_iter();
        let Some(mut out) = sets.next() else { return Candidates::All };
        for set in sets {
            *out.to_mut() &= &*set;
            if out.is_empty() {
                break;
            }
        }
        Candidates::Slots(out)
    }
}

/// The union of `sets`; `None` when there is none.
fn union<'a>(sets: impl Iterator<Item = &'a RoaringBitmap>) -> Option<Cow<'a, RoaringBitmap>> {
    let mut out: Option<Cow<'a, RoaringBitmap>> = None;
    for set in sets {
        match &mut out {
            None => out = Some(Cow::Borrowed(set)),
            Some(acc) => *acc.to_mut() |= set,
        }
    }
    out
}
