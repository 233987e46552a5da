//! The indexes agree with evaluating every record, through inserts,
//! removals (slots reused), property updates and role changes.

use std::sync::Arc;

use usher_core::SessionId;
use usher_core::filter::compile;
use usher_core::intern::Interner;
use usher_core::protocol::{ClientType, CloseReason, QueuePolicy};
use usher_core::security::RoleModel;

use super::{Record, Registry, ShortStr, UserProps};
use crate::events::Events;
use crate::roles::Roles;
use crate::session::Session;

const FILTERS: &[&str] = &[
    "$Principal is 'p1'",
    "$Principal in ['p0', 'p2', 'nobody']",
    "hasRoles ['A'] and Tier in ['1', '3']",
    "hasRoles ['A', 'B'] and Tier is '2' and $Principal is 'p2'",
    "Tier in ['9']",
    "Tier is '1' or $Principal is 'p0'",
    "not hasRoles ['A']",
    "Zone is 'z' and Tier in ['0', '1', '2', '3']",
];

fn record(roles: &Roles, interner: &Interner, n: u64) -> Record {
    let names: &[&str] = match n % 3 {
        0 => &["A"],
        1 => &["A", "B"],
        _ => &["B"],
    };
    let set = roles.resolve(names).expect("valid roles");
    let id = SessionId::new(1, n);
    let tier = (n % 4).to_string();
    let tier_key = interner.intern("Tier").expect("room");
    Record {
        session: Session::new(id, QueuePolicy::default(), set.clone(), 0),
        id,
        start_time: n,
        principal: ShortStr::from(format!("p{}", n % 3).as_str()),
        roles: set,
        environment: Box::from(""),
        country: Box::from(""),
        language: Box::from(""),
        connector: Arc::from("test"),
        client_ip: std::net::Ipv4Addr::LOCALHOST.into(),
        client_type: ClientType::Other,
        tls: false,
        user: UserProps::new([(tier_key, tier.as_str())]),
    }
}

fn check(registry: &Registry, interner: &Interner) {
    for text in FILTERS {
        let filter = compile(text, interner).expect("valid filter");
        let mut by_index = registry.select(&filter);
        let mut scanned = Vec::new();
        registry.scan(&filter, |v| scanned.push((v.rec.start_time, v.rec.id)));
        by_index.sort();
        scanned.sort();
        assert_eq!(by_index, scanned, "{text}");
    }
}

#[test]
fn indexes_agree_with_a_full_scan() {
    let interner = Interner::default();
    let roles = Roles::new(RoleModel::default(), interner.clone());
    let registry = Registry::new("test".into(), interner.clone());
    let events = Events::default();
    for n in 1..=200 {
        registry.insert(record(&roles, &interner, n), &events);
    }
    check(&registry, &interner);
    let zone = interner.intern("Zone").expect("room");
    let tier = interner.intern("Tier").expect("room");
    for n in (1..=200).step_by(3) {
        assert!(registry.remove(SessionId::new(1, n), CloseReason::ClosedByController, &events).is_some());
    }
    for n in (2..=200).step_by(5) {
        let out = registry.update(SessionId::new(1, n), &events, |rec, _| {
            rec.user = UserProps::new([(zone, "z"), (tier, "9")]);
            Ok::<_, ()>(((), Vec::new()))
        });
        assert!(out.is_some() == (n % 3 != 1), "session {n}");
    }
    let b_only = roles.resolve(&["B"]).expect("valid roles");
    for n in (3..=200).step_by(7) {
        let _ = registry.set_roles(SessionId::new(1, n), &events, &b_only);
    }
    // Slots freed above are reused by these.
    for n in 201..=260 {
        registry.insert(record(&roles, &interner, n), &events);
    }
    assert_eq!(registry.len(), 200 - 67 + 60);
    check(&registry, &interner);
    let all = compile("all", &interner).expect("valid filter");
    assert_eq!(registry.select(&all).len(), registry.len());
}
