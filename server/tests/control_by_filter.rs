//! Control operations by filter (needs `usher_core::filter`): totals,
//! dominance skips, `max_targets`, bad filters, permissions, self-close,
//! fetchSessions paging, count, filtered listeners.

mod support;

use std::collections::BTreeMap;

use support::*;
use usher_core::protocol::{
    CloseReason, FetchRequest, Push, Reply, Request, SessionEvent, SessionState, Throttler,
};
use usher_core::{ErrorDetails, ErrorKind, SessionId, Target};

fn set_props(target: Target, props: &[(&str, Option<&str>)]) -> Request {
    Request::SetSessionProperties {
        target,
        properties: props.iter().map(|(k, v)| ((*k).to_owned(), v.map(str::to_owned))).collect(),
        max_targets: None,
    }
}

/// Every by-filter request, with the given filter text.
fn all_filter_ops(f: &str) -> Vec<Request> {
    vec![
        close(filter(f)),
        change_roles(filter(f), &[], &["CLIENT"]),
        set_props(filter(f), &[("a", Some("1"))]),
        Request::SetConflated { target: filter(f), conflated: true, max_targets: None },
        Request::SetThrottled { target: filter(f), throttler: Throttler::Unthrottled, max_targets: None },
        Request::FetchSessions(FetchRequest { filter: f.into(), ..Default::default() }),
        Request::Count { filter: f.into() },
        Request::AddSessionListener { registration: 99, filter: Some(f.into()), keys: vec![], after: None },
    ]
}

#[tokio::test]
async fn close_by_filter_acts_on_matches_only() -> anyhow::Result<()> {
    let server = server().await?;
    let mut gold = Vec::new();
    for _ in 0..3 {
        gold.push(anonymous(server.url(), &[("Tier", "gold")]).await?);
    }
    let mut plain = anonymous(server.url(), &[("Tier", "silver")]).await?;
    let mut control = control(server.url()).await?;
    let r = control.result(close(filter("Tier is 'gold'"))).await?;
    assert_eq!((r.total, r.denied), (3, 0));
    assert_eq!(r.per_server, BTreeMap::from([("test-server".to_owned(), 3)]));
    for g in &mut gold {
        assert_eq!(g.closed_reason().await?, Some(CloseReason::ClosedByController));
    }
    let me = plain.id();
    assert_eq!(
        plain.get_properties(me, &["Tier"]).await.map(|p| p.len()).unwrap_or(0),
        0,
        "CLIENT cannot view"
    );
    assert_eq!(control.result(Request::Count { filter: "all".into() }).await?.total, 2);
    // 0 matches is 0, not an error.
    assert_eq!(control.result(close(filter("Tier is 'none'"))).await?.total, 0);
    server.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn bad_filters_are_invalid_filter_with_positions() -> anyhow::Result<()> {
    let server = server().await?;
    let mut admin = admin(server.url()).await?;
    for op in all_filter_ops("Tier is") {
        let e = admin.err(op).await?;
        assert_eq!(e.kind, ErrorKind::InvalidFilter, "{e:?}");
        let ErrorDetails::Problems(problems) = &e.details else { anyhow::bail!("no problems: {e:?}") };
        assert!(
            !problems.is_empty() && problems.iter().all(|p| p.line >= 1 && p.column >= 1),
            "{problems:?}"
        );
    }
    // A `$` key that is not fixed is an error, not a silent match-all.
    let e = admin.err(close(filter("$principal ne 'admin'"))).await?;
    assert_eq!(e.kind, ErrorKind::InvalidFilter);
    server.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn permissions_come_before_the_filter_is_parsed() -> anyhow::Result<()> {
    let server = usher_server::start(matrix_config()?).await?;
    let mut client = anonymous(server.url(), &[]).await?;
    for op in all_filter_ops("((( not a filter") {
        let e = client.err(op).await?;
        assert_eq!(e.kind, ErrorKind::AccessDenied, "{e:?}");
    }
    // Each missing permission is named, for filter operations too.
    let mut viewer = as_principal(server.url(), "viewer").await?;
    let mut modifier = as_principal(server.url(), "modifier").await?;
    let mut viewmod = as_principal(server.url(), "viewmod").await?;
    // (A filter that matches nothing: viewmod dominates the other
    // single-permission sessions and itself, and would close them.)
    let none = || filter("Tier is 'none'");
    for op in [
        close(none()),
        change_roles(none(), &[], &["VIEW_ONLY"]),
        Request::SetConflated { target: none(), conflated: true, max_targets: None },
        Request::SetThrottled { target: none(), throttler: Throttler::Unthrottled, max_targets: None },
        set_props(none(), &[("a", Some("1"))]),
    ] {
        assert_denied(&viewer.err(op.clone()).await?, "MODIFY_SESSION");
        assert_denied(&modifier.err(op.clone()).await?, "VIEW_SESSION");
        // With both, the request passes.
        assert_eq!(viewmod.result(op).await?.total, 0);
    }
    for op in [Request::Count { filter: "all".into() }, Request::FetchSessions(FetchRequest::default())] {
        assert_denied(&modifier.err(op.clone()).await?, "VIEW_SESSION");
        viewer.ok(op).await?;
    }
    server.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn max_targets_acts_on_none() -> anyhow::Result<()> {
    let server = server().await?;
    let _a = anonymous(server.url(), &[("Tier", "gold")]).await?;
    let _b = anonymous(server.url(), &[("Tier", "gold")]).await?;
    let mut control = control(server.url()).await?;
    let e = control.err(Request::Close { target: filter("Tier is 'gold'"), max_targets: Some(1) }).await?;
    assert_eq!(e.kind, ErrorKind::LimitExceeded);
    assert_eq!(e.details, ErrorDetails::Limit { limit: "max_targets".into(), key: None, count: Some(2) });
    assert_eq!(control.result(Request::Count { filter: "Tier is 'gold'".into() }).await?.total, 2);
    let r = control.result(Request::Close { target: filter("Tier is 'gold'"), max_targets: Some(2) }).await?;
    assert_eq!(r.total, 2);
    server.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn dominance_skips_and_self_close_comes_last() -> anyhow::Result<()> {
    let server = server().await?;
    let mut admin = admin(server.url()).await?;
    let mut other = anonymous(server.url(), &[]).await?;
    let mut control = control(server.url()).await?;
    let id = control.send(close(filter("all"))).await?;
    let Reply::Result(r) = control.response_ok(id).await? else { anyhow::bail!("not a result") };
    // admin skipped; the anonymous session and the caller itself closed.
    assert_eq!((r.total, r.denied), (2, 1));
    assert_eq!(control.closed_reason().await?, Some(CloseReason::ClosedByController));
    let reply_at = control.arrivals.iter().position(|a| *a == Arrival::Response(id));
    let closing_at = control.arrivals.iter().position(|a| matches!(a, Arrival::Push(Push::Closing { .. })));
    assert!(reply_at < closing_at, "the reply comes before the caller's own close");
    assert_eq!(other.closed_reason().await?, Some(CloseReason::ClosedByController));
    let me = admin.id();
    assert_eq!(admin.get_properties(me, &["$Principal"]).await?["$Principal"], "admin");
    // A CLIENT_CONTROL session cannot strip an administrator by filter either.
    let mut control = support::control(server.url()).await?;
    // (Removing ADMINISTRATOR is refused earlier, by the no-escalation rule.)
    let r = control.result(change_roles(filter("$Principal is 'admin'"), &["CLIENT"], &[])).await?;
    assert_eq!((r.total, r.denied), (0, 1));
    server.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn change_roles_and_queue_policy_by_filter() -> anyhow::Result<()> {
    let server = server().await?;
    let mut a = anonymous(server.url(), &[("Tier", "gold")]).await?;
    let _b = anonymous(server.url(), &[("Tier", "silver")]).await?;
    let mut control = control(server.url()).await?;
    let r = control.result(change_roles(filter("Tier is 'gold'"), &[], &["TOPIC_CONTROL"])).await?;
    assert_eq!(r.total, 1);
    a.push_where(|p| matches!(p, Push::RolesChanged { roles } if roles.len() == 2)).await?;
    // hasRoles now selects it (an index-answered clause).
    assert_eq!(
        control
            .result(Request::Count { filter: "hasRoles ['TOPIC_CONTROL'] and Tier is 'gold'".into() })
            .await?
            .total,
        1
    );
    let r = control
        .result(Request::SetConflated {
            target: filter("Tier in ['gold', 'silver']"),
            conflated: true,
            max_targets: None,
        })
        .await?;
    assert_eq!(r.total, 2);
    let r = control
        .result(Request::SetThrottled {
            target: filter("$Principal is ''"),
            throttler: Throttler::MessagesPerSecond(10),
            max_targets: None,
        })
        .await?;
    assert_eq!(r.total, 2);
    server.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn set_properties_by_filter_rejects_per_session() -> anyhow::Result<()> {
    let mut config = config();
    config.properties.limits.max_user_properties = 2;
    let server = usher_server::start(config).await?;
    let _one = anonymous(server.url(), &[("Tier", "gold")]).await?;
    let two = anonymous(server.url(), &[("Tier", "gold"), ("Extra", "x")]).await?;
    let mut control = control(server.url()).await?;
    let e = control.err(set_props(filter("Tier is 'gold'"), &[("New", Some("1"))])).await?;
    assert_eq!(e.kind, ErrorKind::LimitExceeded);
    let ErrorDetails::Result(r) = &e.details else { anyhow::bail!("no result: {e:?}") };
    assert_eq!((r.total, r.rejected), (1, 1));
    assert_eq!(r.changed, None);
    // The rejected session is unchanged.
    assert_eq!(control.get_properties(two.id(), &["*U"]).await?.len(), 2);
    assert_eq!(control.result(Request::Count { filter: "New is '1'".into() }).await?.total, 1);
    server.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn fetch_sessions_pages_in_start_order() -> anyhow::Result<()> {
    let server = server().await?;
    let mut ids: Vec<(u64, SessionId)> = Vec::new();
    let mut clients = Vec::new();
    for n in 0..7 {
        let c = anonymous(server.url(), &[("N", &n.to_string())]).await?;
        ids.push((c.welcome.start_time, c.id()));
        clients.push(c);
    }
    ids.sort();
    let mut control = control(server.url()).await?;
    let mut cursor = None;
    let mut got = Vec::new();
    loop {
        let req = FetchRequest { filter: "has N".into(), keys: vec!["N".into()], limit: Some(3), cursor };
        let Reply::Sessions(page) = control.ok(Request::FetchSessions(req)).await? else {
            anyhow::bail!("no page")
        };
        assert_eq!(page.total, 7);
        assert!(page.sessions.len() <= 3);
        got.extend(page.sessions.iter().map(|s| s.id));
        assert!(page.sessions.iter().all(|s| s.properties.contains_key("N") && s.properties.len() == 1));
        if !page.has_more {
            assert_eq!(page.next_cursor, None);
            break;
        }
        cursor = page.next_cursor;
    }
    assert_eq!(got, ids.iter().map(|(_, id)| *id).collect::<Vec<_>>());
    let bad = FetchRequest { cursor: Some("nonsense".into()), ..Default::default() };
    assert_eq!(control.err(Request::FetchSessions(bad)).await?.kind, ErrorKind::InvalidArgument);
    server.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn filtered_listener_sees_matching_sessions_and_leaving() -> anyhow::Result<()> {
    let server = server().await?;
    let mut control = control(server.url()).await?;
    let listen = Request::AddSessionListener {
        registration: 5,
        filter: Some("Tier is 'gold'".into()),
        keys: vec!["Tier".into()],
        after: None,
    };
    control.ok(listen).await?;
    let _silver = anonymous(server.url(), &[("Tier", "silver")]).await?;
    let gold = anonymous(server.url(), &[("Tier", "gold")]).await?;
    let e = next5(&mut control).await?;
    assert!(
        matches!(e, SessionEvent::State { session, state: SessionState::Active, .. } if session == gold.id())
    );
    control.ok(set_props(gold.id().into(), &[("Tier", Some("bronze"))])).await?;
    let e = next5(&mut control).await?;
    assert!(
        matches!(e, SessionEvent::Properties { session, matches: false, .. } if session == gold.id()),
        "{e:?}"
    );
    // No longer matching: its close is not reported.
    control.ok(close(gold.id())).await?;
    control.get_properties(control.id(), &["$SessionId"]).await?;
    assert!(!control.take_pushes().iter().any(|p| matches!(p, Push::SessionEvent { registration: 5, .. })));
    server.shutdown().await;
    Ok(())
}

async fn next5(c: &mut Client) -> anyhow::Result<SessionEvent> {
    match c.push_where(|p| matches!(p, Push::SessionEvent { registration: 5, .. })).await? {
        Push::SessionEvent { event, .. } => Ok(event),
        _ => unreachable!(),
    }
}
