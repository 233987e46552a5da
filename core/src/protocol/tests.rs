//! Round trips for every message type, and the decoder's refusals.

use std::collections::BTreeMap;

use super::*;
use crate::error::FilterProblem;

fn round_trip<T>(value: T)
where
    T: Serialize + serde::de::DeserializeOwned + PartialEq + std::fmt::Debug,
{
    let bytes = encode(&value);
    let back: T = decode(&bytes).expect("decodes");
    assert_eq!(back, value);
}

fn id() -> SessionId {
    SessionId::new(0x8f3a_2c41_d09e_7b15, 7)
}

fn policy() -> QueuePolicy {
    QueuePolicy { conflated: true, throttler: Throttler::BytesPerSecond(1 << 20), ..Default::default() }
}

#[test]
fn client_messages_round_trip() {
    let props: BTreeMap<String, String> = [("Tier".into(), "1".into())].into();
    round_trip(ClientMessage::Hello(Hello {
        version: PROTOCOL_VERSION,
        client_type: ClientType::Python,
        environment: "PYTHON_3.11".into(),
        principal: Some("admin".into()),
        password: Some("secret".into()),
        properties: props,
    }));
    round_trip(ClientMessage::Bye);
    let target = Target::Filter("$Principal is 'client'".into());
    let requests = vec![
        Request::Close { target: Target::Id(id()), max_targets: None },
        Request::ChangeRoles {
            target: target.clone(),
            remove: vec!["CLIENT".into()],
            add: vec!["OPERATOR".into()],
            max_targets: Some(10),
        },
        Request::GetSessionProperties { session: id(), keys: vec!["*F".into(), "Tier".into()] },
        Request::SetSessionProperties {
            target: target.clone(),
            properties: [("a".to_owned(), Some("1".to_owned())), ("b".to_owned(), None)].into(),
            max_targets: None,
        },
        Request::SetConflated { target: target.clone(), conflated: true, max_targets: None },
        Request::SetThrottled {
            target: target.clone(),
            throttler: Throttler::MessagesPerSecond(5),
            max_targets: None,
        },
        Request::FetchSessions(FetchRequest {
            filter: "all".into(),
            keys: vec![],
            limit: Some(5),
            cursor: Some("c".into()),
        }),
        Request::Count { filter: "all".into() },
        Request::AddSessionListener {
            registration: 3,
            filter: None,
            keys: vec!["*U".into()],
            after: Some(17),
        },
        Request::SetQueueHandler { registration: 4 },
        Request::Unregister { registration: 4 },
        Request::AddTopic { path: "a/b".into(), value: vec![0, 1, 255] },
        Request::RemoveTopic { path: "a/b".into() },
        Request::UpdateTopic { path: "a/b".into(), value: vec![] },
        Request::Subscribe { selector: "a/*".into() },
        Request::Unsubscribe { selector: "a/*".into() },
    ];
    let mut names = std::collections::BTreeSet::new();
    for (n, request) in requests.into_iter().enumerate() {
        names.insert(request.name());
        round_trip(ClientMessage::Request { id: n as u64, request });
    }
    assert_eq!(names.len(), 16, "every request variant is covered once");
}

#[test]
fn server_messages_round_trip() {
    round_trip(ServerMessage::Welcome(Welcome {
        session_id: id(),
        server_name: "usher".into(),
        roles: vec!["CLIENT".into()],
        queue_policy: policy(),
        limits: SessionLimits::default(),
        start_time: 1_700_000_000_000,
    }));
    round_trip(ServerMessage::Reject(Reject {
        reason: CloseReason::AuthenticationFailed,
        error: WireError {
            kind: ErrorKind::AuthenticationFailed,
            message: "no".into(),
            details: ErrorDetails::None,
        },
    }));
    let result = FilterResult {
        total: 3,
        per_server: [("a".to_owned(), 2), ("b".to_owned(), 1)].into(),
        unreachable: vec!["c".into()],
        denied: 1,
        rejected: 0,
        changed: Some([("k".to_owned(), None), ("j".to_owned(), Some("old".to_owned()))].into()),
    };
    let replies = vec![
        Reply::Result(result.clone()),
        Reply::Properties([("$Principal".to_owned(), "admin".to_owned())].into()),
        Reply::Sessions(SessionPage {
            sessions: vec![SessionInfo { id: id(), properties: BTreeMap::new() }],
            total: 1,
            has_more: false,
            next_cursor: None,
            unreachable: vec![],
        }),
        Reply::Done,
    ];
    for (n, reply) in replies.into_iter().enumerate() {
        round_trip(ServerMessage::Response(Response { id: n as u64, result: Ok(reply) }));
    }
    let errors = vec![
        ErrorDetails::None,
        ErrorDetails::Permission("VIEW_SESSION".into()),
        ErrorDetails::Problems(vec![FilterProblem { line: 1, column: 4, message: "m".into() }]),
        ErrorDetails::Limit { limit: "max_targets".into(), key: None, count: Some(12) },
        ErrorDetails::Argument("add".into()),
        ErrorDetails::Result(Box::new(result)),
    ];
    for details in errors {
        let error = WireError { kind: ErrorKind::InvalidArgument, message: "m".into(), details };
        round_trip(ServerMessage::Response(Response { id: 9, result: Err(error) }));
    }
    let pushes = vec![
        Push::SessionEvent {
            registration: 1,
            event: SessionEvent::State {
                session: id(),
                state: SessionState::Closed,
                reason: Some(CloseReason::ClosedByController),
                properties: [("$Principal".to_owned(), "x".to_owned())].into(),
            },
        },
        Push::SessionEvent {
            registration: 1,
            event: SessionEvent::Properties {
                session: id(),
                changed: [("$Roles".to_owned(), (Some("\"A\"".to_owned()), None))].into(),
                matches: true,
            },
        },
        Push::QueueEvent {
            registration: 2,
            event: QueueEvent::UpperThresholdCrossed { session: id(), policy: policy() },
        },
        Push::QueueEvent {
            registration: 2,
            event: QueueEvent::LowerThresholdCrossed { session: id(), policy: policy() },
        },
        Push::QueueEvent {
            registration: 2,
            event: QueueEvent::PolicyChanged { session: id(), policy: policy() },
        },
        Push::RegistrationError {
            registration: 2,
            error: WireError {
                kind: ErrorKind::AccessDenied,
                message: "m".into(),
                details: ErrorDetails::None,
            },
        },
        Push::RegistrationClosed { registration: 2 },
        Push::TopicValue { path: "a".into(), value: b"v".to_vec() },
        Push::TopicUnsubscribed { path: "a".into() },
        Push::RolesChanged { roles: vec!["A".into()] },
        Push::Closing { reason: CloseReason::ServerShutdown, message: "bye".into() },
    ];
    for push in pushes {
        round_trip(ServerMessage::Push(push));
    }
}

#[test]
fn decoder_refuses_garbage_without_panicking() {
    assert!(decode::<ClientMessage>(&[]).is_err());
    assert!(decode::<ClientMessage>(&[0xc1]).is_err());
    assert!(decode::<ClientMessage>(b"\xa3Bye\x00").is_err(), "trailing bytes");
    assert!(decode::<ClientMessage>(b"\xa3Bye").is_ok());
    // A map claiming 2^32-1 entries must fail fast, not allocate.
    assert!(decode::<ClientMessage>(&[0xdf, 0xff, 0xff, 0xff, 0xff]).is_err());
    // Deep nesting must fail, not overflow the stack.
    let deep = vec![0x91u8; 100_000];
    assert!(decode::<ClientMessage>(&deep).is_err());
}

#[test]
fn hello_debug_redacts_the_password() {
    let hello = Hello {
        version: 1,
        client_type: ClientType::Rust,
        environment: String::new(),
        principal: Some("admin".into()),
        password: Some("hunter2".into()),
        properties: BTreeMap::new(),
    };
    let text = format!("{hello:?}");
    assert!(!text.contains("hunter2") && text.contains("<redacted>"));
}
