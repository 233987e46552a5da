//! Proves that evaluating a compiled filter does not allocate (SPEC §3): a
//! counting global allocator records every allocation made by this thread
//! while filters covering every compiled node are evaluated.
//!
//! `matches` is the one node that may allocate on first use on a thread (the
//! regex crate creates its per-thread cache lazily and grows its lazy DFA as
//! it meets new states), so every filter is evaluated once over the sessions
//! before counting; after that warm-up, nothing allocates.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use usher_core::SessionId;
use usher_core::filter::compile;
use usher_core::intern::{Interner, Sym};
use usher_core::props::{FixedKey, InlineText, PropValue, PropertySource, roles_text};

struct Counting;

thread_local! {
    // `const` initialisation: reading it never allocates, so the allocator
    // can use it without recursing.
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

// SAFETY: forwards every call unchanged to `System`; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _ = ALLOCATIONS.try_with(|c| c.set(c.get() + 1));
        // SAFETY: the caller upholds `GlobalAlloc::alloc`'s contract.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `System.alloc` with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let _ = ALLOCATIONS.try_with(|c| c.set(c.get() + 1));
        // SAFETY: the caller upholds `GlobalAlloc::realloc`'s contract.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocations() -> u64 {
    ALLOCATIONS.with(Cell::get)
}

/// A session stored the way a lean registry stores it: interned keys in a
/// sorted vector, roles as sorted symbols, the id formatted on demand.
struct Lean {
    id: SessionId,
    principal: Box<str>,
    roles_text: Box<str>,
    roles: Vec<Sym>,
    user: Vec<(Sym, Box<str>)>,
}

impl PropertySource for Lean {
    fn fixed(&self, key: FixedKey) -> PropValue<'_> {
        match key {
            FixedKey::SessionId => InlineText::format(self.id).map_or(PropValue::Str(""), PropValue::Inline),
            FixedKey::Principal => PropValue::Str(&self.principal),
            FixedKey::Roles => PropValue::Str(&self.roles_text),
            FixedKey::StartTime => {
                InlineText::format(1_700_000_000_000u64).map_or(PropValue::Str(""), PropValue::Inline)
            }
            _ => PropValue::Str(""),
        }
    }

    fn user(&self, key: Sym) -> Option<&str> {
        self.user.binary_search_by_key(&key, |(k, _)| *k).ok().map(|i| &*self.user[i].1)
    }

    fn has_role(&self, role: Sym) -> bool {
        self.roles.binary_search(&role).is_ok()
    }
}

fn session(i: &Interner, n: u64, principal: &str, roles: &[&str], user: &[(&str, &str)]) -> Lean {
    let mut user: Vec<(Sym, Box<str>)> =
        user.iter().map(|(k, v)| (i.intern(k).expect("room"), (*v).into())).collect();
    user.sort_unstable_by_key(|(k, _)| *k);
    let mut role_syms: Vec<Sym> = roles.iter().map(|r| i.intern(r).expect("room")).collect();
    role_syms.sort_unstable();
    Lean {
        id: SessionId::new(0xabc, n),
        principal: principal.into(),
        roles_text: roles_text(roles).into(),
        roles: role_syms,
        user,
    }
}

#[test]
fn evaluation_does_not_allocate() {
    let i = Interner::default();
    let sessions = [
        session(&i, 1, "alice", &["CLIENT"], &[("Tier", "1"), ("Dept", "eng")]),
        session(&i, 2, "bob", &["CLIENT", "OPERATOR"], &[("Tier", "2"), ("Dept", "sales")]),
        session(&i, 3, "", &["CLIENT"], &[]),
        session(&i, 4, "carol", &[], &[("Tier", "3"), ("Note", "ünïcödé")]),
    ];
    // Every compiled node: constants, and/or/not, eq on fixed (stored and
    // formatted) and user keys, in, has, hasRoles, matches.
    let filters = [
        ("$Principal is 'alice' and hasRoles ['CLIENT'] and Tier in ['1', '2']", 1),
        ("$Principal ne 'alice' or Tier is '3'", 3),
        ("not (has Dept and Dept eq 'eng')", 3),
        ("$SessionId is '0000000000000abc-0000000000000002'", 1),
        ("$StartTime matches '17\\\\d+'", 4),
        ("$Roles is '\"CLIENT\",\"OPERATOR\"'", 1),
        ("Note matches '.*cöd.*' or Dept matches '(?i)ENG|sales'", 3),
        ("hasRoles ['CLIENT', 'OPERATOR'] or all", 4),
        ("Missing is 'x' or not has Missing2 and Tier in ['1', '3', '9']", 2),
    ];
    let compiled: Vec<_> = filters.iter().map(|(f, _)| compile(f, &i).expect(f)).collect();
    // Warm up the regex caches of this thread (see the module docs).
    for f in &compiled {
        for s in &sessions {
            f.matches(s);
        }
    }
    let mut counts = vec![0usize; compiled.len()];
    let before = allocations();
    for _ in 0..1000 {
        for (f, count) in compiled.iter().zip(counts.iter_mut()) {
            *count += sessions.iter().filter(|s| f.matches(*s)).count();
        }
    }
    let after = allocations();
    assert_eq!(after - before, 0, "evaluation allocated");
    for ((text, want), got) in filters.iter().zip(counts) {
        assert_eq!(got, want * 1000, "{text}");
    }
}

#[test]
fn the_counter_counts() {
    let before = allocations();
    let v = std::hint::black_box(vec![1u8; 16]);
    assert!(allocations() > before, "the counting allocator must see allocations");
    drop(v);
}
