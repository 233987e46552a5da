//! Every `ClientControl` operation through the Rust client against a real
//! in-process server: results, error kinds and details (never message text).

mod common;

use std::collections::BTreeMap;

use common::*;
use usher_core::client::{NO_ROLES, Session, SessionEventParams};
use usher_core::protocol::{CloseReason, FetchRequest, QueueEvent, SessionEvent, SessionState, Throttler};
use usher_core::{ErrorDetails, ErrorKind, SessionId};

#[tokio::test]
async fn close_by_id_is_seen_as_closed_by_controller() {
    let server = server().await;
    let control = connect(server.url(), Some("control")).await;
    let victim = connect(server.url(), None).await;
    assert_eq!(within(control.clients().close(victim.id())).await, Ok(1));
    assert_eq!(within(victim.closed()).await, CloseReason::ClosedByController);
    assert_eq!(victim.close_reason(), Some(CloseReason::ClosedByController));
    // Its later requests fail at once.
    let e = within(victim.clients().count("all")).await.expect_err("closed");
    assert_eq!(e.kind, ErrorKind::SessionClosed);
    server.shutdown().await;
}

#[tokio::test]
async fn close_errors_have_kinds() {
    let server = server().await;
    let control = connect(server.url(), Some("control")).await;
    let anonymous = connect(server.url(), None).await;
    let admin = connect(server.url(), Some("admin")).await;
    let unknown = SessionId::new(control.id().server, u64::MAX - 1);
    let e = within(control.clients().close(unknown)).await.expect_err("no such session");
    assert_eq!(e.kind, ErrorKind::NoSuchSession);
    let e = within(control.clients().close(SessionId::new(0, 1))).await.expect_err("server part 0");
    assert_eq!(e.kind, ErrorKind::NoSuchSession);
    // An anonymous CLIENT may not close anyone, and learns nothing about ids.
    let e = within(anonymous.clients().close(control.id())).await.expect_err("denied");
    assert_eq!(e.kind, ErrorKind::AccessDenied);
    assert_eq!(e.details, ErrorDetails::Permission("MODIFY_SESSION".into()));
    let e = within(anonymous.clients().close(unknown)).await.expect_err("denied before lookup");
    assert_eq!(e.kind, ErrorKind::AccessDenied);
    // Dominance: CLIENT_CONTROL cannot close an administrator.
    let e = within(control.clients().close(admin.id())).await.expect_err("dominance");
    assert_eq!(e.kind, ErrorKind::AccessDenied);
    assert!(admin.close_reason().is_none());
    server.shutdown().await;
}

#[tokio::test]
async fn close_by_filter_closes_exactly_the_matching_sessions() {
    let server = server().await;
    let control = connect(server.url(), Some("control")).await;
    let mut victims = Vec::new();
    for _ in 0..3 {
        victims.push(tagged(server.url(), "group", "doomed").await);
    }
    let bystander = tagged(server.url(), "group", "safe").await;
    let result = within(control.clients().close_detailed("group is 'doomed'")).await.expect("close");
    assert_eq!(result.total, 3);
    assert_eq!(result.per_server.values().sum::<u64>(), 3);
    for v in &victims {
        assert_eq!(within(v.closed()).await, CloseReason::ClosedByController);
    }
    assert!(bystander.close_reason().is_none());
    assert_eq!(within(control.clients().close("group is 'nobody'")).await, Ok(0));
    // max_targets: more match than allowed, so none is closed.
    let more = [tagged(server.url(), "group", "two").await, tagged(server.url(), "group", "two").await];
    let e = within(control.clients().max_targets(1).close("group is 'two'")).await.expect_err("too many");
    assert_eq!(e.kind, ErrorKind::LimitExceeded);
    assert!(
        matches!(e.details, ErrorDetails::Limit { ref limit, count: Some(2), .. } if limit == "max_targets")
    );
    assert!(more.iter().all(|s| s.close_reason().is_none()));
    server.shutdown().await;
}

#[tokio::test]
async fn invalid_filters_list_their_problems() {
    let server = server().await;
    let control = connect(server.url(), Some("control")).await;
    let e = within(control.clients().count("$Principal is")).await.expect_err("bad filter");
    assert_eq!(e.kind, ErrorKind::InvalidFilter);
    assert!(!e.problems().is_empty());
    assert!(e.problems().iter().all(|p| p.line >= 1 && p.column >= 1));
    let e = within(control.clients().close("$principal ne 'admin'")).await.expect_err("unknown fixed key");
    assert_eq!(e.kind, ErrorKind::InvalidFilter);
    server.shutdown().await;
}

#[tokio::test]
async fn change_roles_by_id_tells_the_target() {
    let server = server().await;
    let control = connect(server.url(), Some("control")).await;
    let victim = connect(server.url(), None).await;
    assert_eq!(victim.roles(), vec!["CLIENT".to_owned()]);
    let next = victim.roles_changed();
    assert_eq!(within(control.clients().change_roles(victim.id(), NO_ROLES, ["TOPIC_CONTROL"])).await, Ok(1));
    let roles = within(next).await.expect("roles changed");
    assert_eq!(roles, vec!["CLIENT".to_owned(), "TOPIC_CONTROL".to_owned()]);
    let props = within(control.clients().get_session_properties(victim.id(), ["$Roles"])).await.expect("get");
    assert_eq!(props.get("$Roles").map(String::as_str), Some("\"CLIENT\",\"TOPIC_CONTROL\""));
    // No escalation: control's roles do not hold ADMINISTRATOR.
    let e = within(control.clients().change_roles(victim.id(), NO_ROLES, ["ADMINISTRATOR"]))
        .await
        .expect_err("x");
    assert_eq!(e.kind, ErrorKind::AccessDenied);
    // Local checks, then the server's own.
    let e = within(control.clients().change_roles(victim.id(), ["A"], ["A"])).await.expect_err("both");
    assert_eq!(e.kind, ErrorKind::InvalidArgument);
    server.shutdown().await;
}

#[tokio::test]
async fn change_roles_by_filter_counts_and_skips_dominant_sessions() {
    let server = server().await;
    let control = connect(server.url(), Some("control")).await;
    let a = tagged(server.url(), "team", "blue").await;
    let b = tagged(server.url(), "team", "blue").await;
    let result =
        within(control.clients().change_roles_detailed("team is 'blue'", NO_ROLES, ["TOPIC_CONTROL"])).await;
    assert_eq!(result.expect("change").total, 2);
    for s in [&a, &b] {
        let props = within(control.clients().get_session_properties(s.id(), ["$Roles"])).await.expect("get");
        assert_eq!(props.get("$Roles").map(String::as_str), Some("\"CLIENT\",\"TOPIC_CONTROL\""));
    }
    let _admin = connect(server.url(), Some("admin")).await;
    let r = within(control.clients().change_roles_detailed(
        "hasRoles ['ADMINISTRATOR']",
        ["ADMINISTRATOR"],
        NO_ROLES,
    ))
    .await;
    // Removing ADMINISTRATOR needs holding it: refused outright.
    assert_eq!(r.expect_err("escalation").kind, ErrorKind::AccessDenied);
    server.shutdown().await;
}

#[tokio::test]
async fn session_properties_get_and_set() {
    let server = server().await;
    let control = connect(server.url(), Some("control")).await;
    let victim = tagged(server.url(), "team", "ops").await;
    let clients = control.clients();
    let props = within(clients.get_session_properties(victim.id(), ["*F", "*U"])).await.expect("get");
    assert_eq!(props.get("$SessionId"), Some(&victim.id().to_string()));
    assert_eq!(props.get("$Principal").map(String::as_str), Some(""));
    assert_eq!(props.get("$ClientType").map(String::as_str), Some("RUST"));
    assert!(props.get("$Environment").is_some_and(|e| e.starts_with("RUST_")));
    assert_eq!(props.get("team").map(String::as_str), Some("ops"));

    let r = within(
        clients.set_session_properties_detailed(victim.id(), [("team", Some("dev")), ("new", Some("1"))]),
    )
    .await
    .expect("set");
    assert_eq!(r.total, 1);
    let changed = r.changed.expect("changed keys by id");
    assert_eq!(changed.get("team"), Some(&Some("ops".to_owned())));
    assert_eq!(changed.get("new"), Some(&None));
    assert_eq!(within(clients.set_session_properties(victim.id(), [("new", None::<String>)])).await, Ok(1));
    let props = within(clients.get_session_properties(victim.id(), ["team", "new"])).await.expect("get");
    assert_eq!(props, BTreeMap::from([("team".to_owned(), "dev".to_owned())]));

    let e = within(clients.set_session_properties(victim.id(), [("$Principal", Some("x"))]))
        .await
        .expect_err("ro");
    assert_eq!(
        (e.kind, e.details),
        (ErrorKind::InvalidArgument, ErrorDetails::Argument("$Principal".into()))
    );
    let big = "x".repeat(5000);
    let e =
        within(clients.set_session_properties(victim.id(), [("team", Some(big))])).await.expect_err("limit");
    assert_eq!(e.kind, ErrorKind::LimitExceeded);
    let anonymous = connect(server.url(), None).await;
    let e =
        within(anonymous.clients().get_session_properties(victim.id(), ["*F"])).await.expect_err("denied");
    assert_eq!(e.details, ErrorDetails::Permission("VIEW_SESSION".into()));
    server.shutdown().await;
}

#[tokio::test]
async fn set_session_properties_by_filter() {
    let server = server().await;
    let control = connect(server.url(), Some("control")).await;
    let _a = tagged(server.url(), "zone", "eu").await;
    let _b = tagged(server.url(), "zone", "eu").await;
    assert_eq!(
        within(control.clients().set_session_properties("zone is 'eu'", [("tier", Some("gold"))])).await,
        Ok(2)
    );
    assert_eq!(within(control.clients().count("tier is 'gold'")).await, Ok(2));
    server.shutdown().await;
}

#[tokio::test]
async fn conflation_and_throttling_are_reported_to_the_queue_handler() {
    let server = server().await;
    let control = connect(server.url(), Some("control")).await;
    let victim = connect(server.url(), None).await;
    let mut events = within(control.clients().queue_events()).await.expect("register");
    let e = within(control.clients().queue_events()).await.expect_err("second handler");
    assert_eq!(e.kind, ErrorKind::HandlerConflict);
    assert_eq!(within(control.clients().set_conflated(victim.id(), true)).await, Ok(1));
    let event = next_matching(&mut events, |e| matches!(e, QueueEvent::PolicyChanged { .. })).await;
    assert_eq!(event.session(), victim.id());
    assert!(event.policy().conflated);
    let throttler = Throttler::MessagesPerSecond(50);
    assert_eq!(within(control.clients().set_throttled(victim.id(), throttler)).await, Ok(1));
    let event = next_matching(&mut events, |e| matches!(e, QueueEvent::PolicyChanged { .. })).await;
    assert_eq!(event.policy().throttler, throttler);
    within(events.close()).await.expect("unregister");
    // The handler slot is free again.
    let again = within(control.clients().queue_events()).await.expect("register again");
    drop(again);
    server.shutdown().await;
}

#[tokio::test]
async fn conflate_and_throttle_by_filter() {
    let server = server().await;
    let control = connect(server.url(), Some("control")).await;
    let _a = tagged(server.url(), "feed", "slow").await;
    assert_eq!(within(control.clients().set_conflated("feed is 'slow'", true)).await, Ok(1));
    let r =
        within(control.clients().set_throttled_detailed("feed is 'slow'", Throttler::BytesPerSecond(1000)))
            .await;
    assert_eq!(r.expect("throttle").total, 1);
    server.shutdown().await;
}

#[tokio::test]
async fn fetch_sessions_pages_in_start_order() {
    let server = server().await;
    let control = connect(server.url(), Some("control")).await;
    let mut ids = vec![control.id()];
    let mut others = Vec::new();
    for _ in 0..4 {
        let session = tagged(server.url(), "page", "me").await;
        ids.push(session.id());
        others.push(session);
    }
    let clients = control.clients();
    let mut seen = Vec::new();
    let mut cursor = None;
    loop {
        let request = FetchRequest {
            filter: "all".into(),
            keys: vec!["$SessionId".into()],
            limit: Some(2),
            cursor: cursor.take(),
        };
        let page = within(clients.fetch_sessions(request)).await.expect("fetch");
        assert_eq!(page.total, 5);
        assert!(page.sessions.len() <= 2);
        for s in &page.sessions {
            assert_eq!(s.properties.get("$SessionId"), Some(&s.id.to_string()));
        }
        seen.extend(page.sessions.iter().map(|s| s.id));
        if !page.has_more {
            break;
        }
        cursor = page.next_cursor;
    }
    assert_eq!(seen, ids, "every session once, in start order");
    assert_eq!(within(clients.count("page is 'me'")).await, Ok(4));
    let r = within(clients.count_detailed("all")).await.expect("count");
    assert_eq!(r.per_server.get("test-server"), Some(&5));
    server.shutdown().await;
}

#[tokio::test]
async fn many_concurrent_requests_on_one_session() {
    let server = server().await;
    let control = connect(server.url(), Some("control")).await;
    let victim = tagged(server.url(), "n", "1").await;
    let clients = control.clients();
    // More than the server's 1,024 in flight: the client queues the rest.
    let calls: Vec<_> = (0..3000).map(|_| clients.get_session_properties(victim.id(), ["n"])).collect();
    let results = within(futures_util::future::join_all(calls)).await;
    if let Some(bad) = results.iter().find(|r| r.as_ref().ok().and_then(|m| m.get("n")).is_none()) {
        panic!("{bad:?}, session {:?}", control.close_reason());
    }
    assert!(
        results.iter().all(|r| r.as_ref().ok().and_then(|m| m.get("n")).map(String::as_str) == Some("1"))
    );
    assert!(control.close_reason().is_none(), "the server never saw the bound broken");
    server.shutdown().await;
}

#[tokio::test]
async fn requests_pending_at_close_fail_with_session_closed() {
    let server = server().await;
    let control = connect(server.url(), Some("control")).await;
    let target = connect(server.url(), Some("control")).await;
    let calls: Vec<_> =
        (0..2000).map(|_| target.clients().get_session_properties(control.id(), ["*F"])).collect();
    let all = futures_util::future::join_all(calls);
    let closer = control.clients().close(target.id());
    let (results, closed) = within(futures_util::future::join(all, closer)).await;
    assert_eq!(closed, Ok(1));
    // Nothing hangs; every call either got its answer or SESSION_CLOSED.
    assert!(results.iter().all(|r| r.as_ref().map_or_else(|e| e.kind == ErrorKind::SessionClosed, |_| true)));
    // The server lingers on close (reads and discards what the client still
    // sends), so no reset destroys the `Closing` push.
    let reason = within(target.closed()).await;
    assert_eq!(reason, CloseReason::ClosedByController);
    server.shutdown().await;
}

#[tokio::test]
async fn session_events_stream_snapshot_open_close() {
    let server = server().await;
    let control = connect(server.url(), Some("control")).await;
    let existing = tagged(server.url(), "kind", "watched").await;
    let params = SessionEventParams::new().properties(["kind"]);
    let mut events = within(control.clients().session_events(params)).await.expect("register");
    let snapshot = next_matching(&mut events, |e: &SessionEvent| e.session() == existing.id()).await;
    assert!(matches!(snapshot, SessionEvent::State { state: SessionState::Active, .. }));
    let newcomer = tagged(server.url(), "kind", "new").await;
    let opened = next_matching(&mut events, |e: &SessionEvent| e.session() == newcomer.id()).await;
    let SessionEvent::State { state: SessionState::Active, properties, .. } = opened else {
        panic!("{opened:?}")
    };
    assert_eq!(properties.get("kind").map(String::as_str), Some("new"));
    within(newcomer.close()).await.expect("close");
    let closed = next_matching(&mut events, |e: &SessionEvent| e.session() == newcomer.id()).await;
    assert!(matches!(
        closed,
        SessionEvent::State { state: SessionState::Closed, reason: Some(CloseReason::ClosedByClient), .. }
    ));
    within(control.clients().set_session_properties(existing.id(), [("kind", Some("changed"))]))
        .await
        .expect("set");
    let changed =
        next_matching(&mut events, |e: &SessionEvent| matches!(e, SessionEvent::Properties { .. })).await;
    let SessionEvent::Properties { changed, .. } = changed else { panic!() };
    assert_eq!(changed.get("kind"), Some(&(Some("watched".to_owned()), Some("changed".to_owned()))));
    server.shutdown().await;
}

#[tokio::test]
async fn losing_the_permission_ends_the_registration_with_access_denied() {
    let server = server().await;
    let admin = connect(server.url(), Some("admin")).await;
    let control: Session = connect(server.url(), Some("control")).await;
    let mut events = within(control.clients().queue_events()).await.expect("register");
    let r = admin.clients().change_roles(control.id(), ["CLIENT_CONTROL"], NO_ROLES);
    assert_eq!(within(r).await, Ok(1));
    let error = within(async {
        loop {
            match futures_util::StreamExt::next(&mut events).await {
                Some(Ok(_)) => {}
                Some(Err(e)) => return e,
                None => panic!("ended without an error"),
            }
        }
    })
    .await;
    assert_eq!(error.kind, ErrorKind::AccessDenied);
    assert!(within(futures_util::StreamExt::next(&mut events)).await.is_none());
    server.shutdown().await;
}

/// Records what a trait listener is told.
struct Recorder(tokio::sync::mpsc::UnboundedSender<String>);

impl usher_core::client::SessionEventListener for Recorder {
    fn on_event(&mut self, event: SessionEvent) {
        let kind = match &event {
            SessionEvent::State { state: SessionState::Active, .. } => "ACTIVE",
            SessionEvent::State { .. } => "CLOSED",
            SessionEvent::Properties { .. } => "PROPERTIES",
        };
        let _ = self.0.send(format!("{kind} {}", event.session()));
    }
    fn on_error(&mut self, error: usher_core::Error) {
        let _ = self.0.send(format!("error {}", error.kind));
    }
    fn on_close(&mut self) {
        let _ = self.0.send("close".into());
    }
}

#[tokio::test]
async fn session_event_trait_listener_sees_snapshot_open_close_then_its_own_close() {
    let server = server().await;
    let control = connect(server.url(), Some("control")).await;
    let existing = connect(server.url(), None).await;
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let registration =
        within(control.clients().add_session_event_listener(Recorder(tx), SessionEventParams::new()))
            .await
            .expect("register");
    // The snapshot was delivered before registration resolved.
    let mut snapshot = Vec::new();
    while let Ok(line) = rx.try_recv() {
        snapshot.push(line);
    }
    assert!(snapshot.contains(&format!("ACTIVE {}", existing.id())), "{snapshot:?}");
    assert!(snapshot.contains(&format!("ACTIVE {}", control.id())), "{snapshot:?}");
    let newcomer = connect(server.url(), None).await;
    let id = newcomer.id();
    within(newcomer.close()).await.expect("close");
    let mut seen = Vec::new();
    while !seen.contains(&format!("CLOSED {id}")) {
        seen.push(within(rx.recv()).await.expect("an event"));
    }
    assert!(seen.contains(&format!("ACTIVE {id}")), "{seen:?}");
    within(registration.close()).await.expect("unregister");
    let mut rest = Vec::new();
    while let Ok(line) = rx.try_recv() {
        rest.push(line);
    }
    assert_eq!(rest.last().map(String::as_str), Some("close"), "on_close ran before close() returned");
    assert_eq!(rest.iter().filter(|l| *l == "close").count(), 1);
    server.shutdown().await;
}

#[tokio::test]
async fn an_anonymous_session_is_denied_every_control_operation() {
    let server = server().await;
    let other = connect(server.url(), None).await;
    let me = connect(server.url(), None).await;
    let c = me.clients();
    let id = other.id();
    let denied = |r: Result<u64, usher_core::Error>| r.expect_err("denied");
    let errors = vec![
        denied(within(c.close(id)).await),
        denied(within(c.change_roles(id, NO_ROLES, ["CLIENT"])).await),
        denied(within(c.set_session_properties(id, [("k", Some("v"))])).await),
        denied(within(c.set_conflated(id, true)).await),
        denied(within(c.set_throttled(id, Throttler::Unthrottled)).await),
        denied(within(c.count("all")).await),
        within(c.get_session_properties(id, ["*F"])).await.expect_err("denied"),
        within(c.fetch_sessions(FetchRequest::default())).await.expect_err("denied"),
        within(c.session_events(SessionEventParams::new())).await.expect_err("denied"),
        within(c.queue_events()).await.expect_err("denied"),
    ];
    for e in errors {
        assert_eq!(e.kind, ErrorKind::AccessDenied, "{e:?}");
        assert!(matches!(e.details, ErrorDetails::Permission(ref p) if !p.is_empty()), "{e:?}");
    }
    // Denied before the id is looked up: an unknown id gives the same answer.
    let e = within(c.set_conflated(SessionId::new(id.server, u64::MAX), true)).await.expect_err("denied");
    assert_eq!(e.kind, ErrorKind::AccessDenied);
    assert!(other.close_reason().is_none() && me.close_reason().is_none());
    server.shutdown().await;
}

#[tokio::test]
async fn a_caller_that_closes_itself_gets_its_reply_first() {
    let server = server().await;
    let control = connect(server.url(), Some("control")).await;
    assert_eq!(within(control.clients().close(control.id())).await, Ok(1));
    assert_eq!(within(control.closed()).await, CloseReason::ClosedByController);
    server.shutdown().await;
}

#[tokio::test]
async fn registrations_are_bounded_per_session() {
    let server = server().await;
    let control = connect(server.url(), Some("control")).await;
    let max = control.limits().max_registrations as usize;
    let mut held = Vec::new();
    for _ in 0..max {
        held.push(
            within(control.clients().session_events(SessionEventParams::new())).await.expect("register"),
        );
    }
    let e =
        within(control.clients().session_events(SessionEventParams::new())).await.expect_err("one too many");
    assert_eq!(e.kind, ErrorKind::LimitExceeded);
    // Closing one frees its slot.
    if let Some(one) = held.pop() {
        within(one.close()).await.expect("unregister");
    }
    within(control.clients().session_events(SessionEventParams::new())).await.expect("a free slot again");
    server.shutdown().await;
}

#[tokio::test]
async fn after_skips_the_snapshot_of_older_sessions() {
    let server = server().await;
    let control = connect(server.url(), Some("control")).await;
    let old = connect(server.url(), None).await;
    let params = SessionEventParams::new().after(old.start_time());
    let mut events = within(control.clients().session_events(params)).await.expect("register");
    let newcomer = loop {
        // `$StartTime` has millisecond resolution: wait for a session that
        // really started later than `old`.
        let s = connect(server.url(), None).await;
        if s.start_time() > old.start_time() {
            break s;
        }
    };
    let first = next_matching(&mut events, |_| true).await;
    assert_eq!(first.session(), newcomer.id(), "no snapshot event for sessions started up to `after`");
    server.shutdown().await;
}
