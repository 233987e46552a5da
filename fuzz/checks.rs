//! What each fuzz target checks, for one input. Shared, through `#[path]`,
//! by the fuzz targets (`fuzz/fuzz_targets/*.rs`) and by the regression test
//! that replays `fuzz/regressions/<target>/*` under `cargo test`
//! (`server/tests/fuzz_regressions.rs`): the same assertions both ways.
//! Every check must hold, and nothing may panic, for any input.

#![allow(dead_code)]

use std::collections::BTreeMap;

use usher_core::filter::{compile, parse, print, testing::TestSession};
use usher_core::intern::Interner;
use usher_core::protocol::{ClientMessage, CloseReason, Hello, decode, encode};
use usher_core::{ErrorDetails, ErrorKind};
use usher_server::config::{PropertiesSection, Restriction};
use usher_server::hello::HelloRules;

/// Any text through the whole filter pipeline: parse, compile, evaluate,
/// print and re-parse, render problems. A filter that compiles prints to
/// text that parses to the same tree.
pub fn filter_parse(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let interner = Interner::with_capacity(64);
    match compile(text, &interner) {
        Ok(filter) => {
            let session = TestSession::new(&interner).principal("alice").roles(&["CLIENT"]).user("Tier", "1");
            let _ = filter.matches(&session);
            let printed = print(filter.ast());
            let again = parse(&printed).expect("printed filters parse");
            assert_eq!(again.without_spans(), filter.ast().without_spans(), "{printed}");
        }
        Err(e) => {
            assert!(!e.problems.is_empty());
            let _ = e.render(text);
        }
    }
}

/// Any bytes as a client message: decoding may fail, and whatever decodes
/// encodes and decodes back to the same message.
pub fn protocol_decode(data: &[u8]) {
    if let Ok(message) = decode::<ClientMessage>(data) {
        let again: ClientMessage = decode(&encode(&message)).expect("re-encoded messages decode");
        assert_eq!(again, message);
    }
}

/// Small limits and one restriction of each kind, so inputs reach every
/// branch of the property checks.
fn rules() -> HelloRules {
    let mut properties = PropertiesSection::default();
    properties.limits.max_user_properties = 4;
    properties.limits.max_value_bytes = 64;
    properties.limits.max_total_bytes = 160;
    let regex = Restriction { regex: Some("[a-z]{1,8}".into()), values: None };
    let values = Restriction { regex: None, values: Some(vec!["gold".into(), "silver".into()]) };
    properties.restrict = BTreeMap::from([("Desk".to_owned(), regex), ("Tier".to_owned(), values)]);
    HelloRules::new(&properties).expect("the fuzz rules compile")
}

/// Any bytes as the first frame of a connection: the server's hello checks
/// (decode, version, principal shape, properties) accept or refuse with a
/// consistent reason, and what they accept re-encodes to the same hello.
pub fn hello(data: &[u8]) {
    thread_local! {
        static RULES: HelloRules = rules();
    }
    RULES.with(|rules| match rules.check_frame(data) {
        Ok(hello) => accepted(&hello),
        Err((reason, error)) => refused(reason, error.kind, &error.details),
    });
}

fn accepted(hello: &Hello) {
    assert_eq!(hello.version, usher_core::protocol::PROTOCOL_VERSION);
    assert!(hello.properties.len() <= 4, "{hello:?}");
    for (key, value) in &hello.properties {
        assert!(value.len() <= 64 && !key.starts_with('$'), "{key:?}");
    }
    if let Some(tier) = hello.properties.get("Tier") {
        assert!(tier == "gold" || tier == "silver", "{tier:?}");
    }
    if let Some(desk) = hello.properties.get("Desk") {
        assert!((1..=8).contains(&desk.len()) && desk.bytes().all(|b| b.is_ascii_lowercase()), "{desk:?}");
    }
    let frame = encode(&ClientMessage::Hello(hello.clone()));
    let again: ClientMessage = decode(&frame).expect("an accepted hello re-encodes");
    assert_eq!(again, ClientMessage::Hello(hello.clone()));
}

fn refused(reason: CloseReason, kind: ErrorKind, details: &ErrorDetails) {
    match (reason, kind) {
        (CloseReason::ProtocolError, ErrorKind::Protocol) => assert_eq!(*details, ErrorDetails::None),
        (CloseReason::ProtocolError, ErrorKind::LimitExceeded) => {
            assert!(matches!(details, ErrorDetails::Limit { key: Some(_), .. }), "{details:?}")
        }
        (CloseReason::ProtocolError, ErrorKind::InvalidArgument) => {
            assert!(matches!(details, ErrorDetails::Argument(_)), "{details:?}")
        }
        (CloseReason::AuthenticationFailed, ErrorKind::AuthenticationFailed) => {}
        other => panic!("an unexpected refusal {other:?} {details:?}"),
    }
}
