//! Session listeners (SPEC §4.2): snapshot before the reply, live ACTIVE,
//! CLOSED and PROPERTIES events, `after`, limits and permissions.

mod support;

use std::collections::BTreeMap;

use support::*;
use usher_core::protocol::{CloseReason, Push, Reply, Request, SessionEvent, SessionState};
use usher_core::{ErrorDetails, ErrorKind, SessionId};

fn listen(registration: u32, keys: &[&str], after: Option<u64>) -> Request {
    Request::AddSessionListener {
        registration,
        filter: None,
        keys: keys.iter().map(|k| (*k).to_owned()).collect(),
        after,
    }
}

fn events_of(arrivals: &[Arrival], registration: u32) -> Vec<SessionEvent> {
    arrivals
        .iter()
        .filter_map(|a| match a {
            Arrival::Push(Push::SessionEvent { registration: r, event }) if *r == registration => {
                Some(event.clone())
            }
            _ => None,
        })
        .collect()
}

async fn next_event(c: &mut Client, registration: u32) -> anyhow::Result<SessionEvent> {
    match c
        .push_where(|p| matches!(p, Push::SessionEvent { registration: r, .. } if *r == registration))
        .await?
    {
        Push::SessionEvent { event, .. } => Ok(event),
        _ => unreachable!(),
    }
}

#[tokio::test]
async fn snapshot_comes_before_the_reply() -> anyhow::Result<()> {
    let server = server().await?;
    let a = anonymous(server.url(), &[("Tier", "gold")]).await?;
    let b = anonymous(server.url(), &[]).await?;
    let mut control = control(server.url()).await?;
    let id = control.send(listen(1, &["Tier", "$Principal"], None)).await?;
    assert_eq!(control.response_ok(id).await?, Reply::Done);
    let pos = control.arrivals.iter().position(|x| *x == Arrival::Response(id)).unwrap_or(usize::MAX);
    let snapshot = events_of(&control.arrivals[..pos], 1);
    let mut seen: BTreeMap<SessionId, BTreeMap<String, String>> = BTreeMap::new();
    for e in snapshot {
        match e {
            SessionEvent::State { session, state: SessionState::Active, reason: None, properties } => {
                assert!(seen.insert(session, properties).is_none(), "ACTIVE twice for {session}");
            }
            other => anyhow::bail!("unexpected snapshot event {other:?}"),
        }
    }
    assert_eq!(seen.len(), 3, "a, b and the controller itself");
    assert_eq!(seen[&a.id()].get("Tier").map(String::as_str), Some("gold"));
    assert_eq!(seen[&b.id()].get("Tier"), None);
    assert_eq!(seen[&control.id()].get("$Principal").map(String::as_str), Some("control"));
    server.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn after_excludes_older_sessions() -> anyhow::Result<()> {
    let server = server().await?;
    let old = anonymous(server.url(), &[]).await?;
    let mut control = control(server.url()).await?;
    let id =
        control.send(listen(1, &[], Some(old.welcome.start_time.max(control.welcome.start_time)))).await?;
    control.response_ok(id).await?;
    assert!(events_of(&control.arrivals, 1).is_empty());
    // Sessions started in the same millisecond as `after` are excluded
    // too; connect until one starts later: it is the first event.
    let after = old.welcome.start_time.max(control.welcome.start_time);
    let mut others = Vec::new();
    let new = loop {
        let c = anonymous(server.url(), &[]).await?;
        if c.welcome.start_time > after {
            break c;
        }
        others.push(c);
    };
    let e = next_event(&mut control, 1).await?;
    assert_eq!(e.session(), new.id());
    drop(old);
    server.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn live_events_in_order() -> anyhow::Result<()> {
    let server = server().await?;
    let mut control = control(server.url()).await?;
    control.ok(listen(3, &["Tier", "$Roles"], None)).await?;
    control.take_pushes();
    let target = anonymous(server.url(), &[("Tier", "gold"), ("Other", "x")]).await?;
    let e = next_event(&mut control, 3).await?;
    assert!(
        matches!(&e, SessionEvent::State { session, state: SessionState::Active, properties, .. }
        if *session == target.id() && properties.get("Tier").map(String::as_str) == Some("gold")),
        "{e:?}"
    );
    // An unrequested key changes: no event. A requested one: PROPERTIES.
    let set = |k: &str, v: &str| Request::SetSessionProperties {
        target: target.id().into(),
        properties: [(k.to_owned(), Some(v.to_owned()))].into(),
        max_targets: None,
    };
    control.ok(set("Other", "y")).await?;
    control.ok(set("Tier", "silver")).await?;
    let e = next_event(&mut control, 3).await?;
    let expected: BTreeMap<String, (Option<String>, Option<String>)> =
        [("Tier".to_owned(), (Some("gold".to_owned()), Some("silver".to_owned())))].into();
    assert_eq!(e, SessionEvent::Properties { session: target.id(), changed: expected, matches: true });
    // Role changes appear as $Roles.
    control.ok(change_roles(target.id(), &[], &["TOPIC_CONTROL"])).await?;
    let e = next_event(&mut control, 3).await?;
    assert!(
        matches!(&e, SessionEvent::Properties { changed, .. }
        if changed.get("$Roles") == Some(&(Some(r#""CLIENT""#.into()), Some(r#""CLIENT","TOPIC_CONTROL""#.into())))),
        "{e:?}"
    );
    control.ok(close(target.id())).await?;
    let e = next_event(&mut control, 3).await?;
    assert!(
        matches!(&e, SessionEvent::State { state: SessionState::Closed, reason: Some(CloseReason::ClosedByController), properties, .. }
        if properties.get("Tier").map(String::as_str) == Some("silver")),
        "{e:?}"
    );
    server.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn registration_limit_unregister_and_permissions() -> anyhow::Result<()> {
    let mut config = matrix_config()?;
    config.limits.max_registrations = 4;
    let server = usher_server::start(config).await?;
    let mut control = control(server.url()).await?;
    for n in 0..4 {
        control.ok(listen(n, &[], None)).await?;
    }
    let e = control.err(listen(4, &[], None)).await?;
    assert_eq!(e.kind, ErrorKind::LimitExceeded);
    assert!(matches!(&e.details, ErrorDetails::Limit { limit, .. } if limit == "max_registrations"));
    let id = control.send(Request::Unregister { registration: 2 }).await?;
    assert_eq!(control.response_ok(id).await?, Reply::Done);
    control.push_where(|p| *p == Push::RegistrationClosed { registration: 2 }).await?;
    let closed_at = control
        .arrivals
        .iter()
        .position(|a| *a == Arrival::Push(Push::RegistrationClosed { registration: 2 }));
    let done_at = control.arrivals.iter().position(|a| *a == Arrival::Response(id));
    assert!(done_at < closed_at, "RegistrationClosed follows the reply");
    control.ok(listen(9, &[], None)).await?;
    assert_eq!(control.err(Request::Unregister { registration: 2 }).await?.kind, ErrorKind::InvalidArgument);
    let mut viewer = as_principal(server.url(), "viewer").await?;
    assert_denied(&viewer.err(listen(1, &[], None)).await?, "REGISTER_HANDLER");
    assert_denied(&viewer.err(Request::SetQueueHandler { registration: 1 }).await?, "REGISTER_HANDLER");
    let mut registrar = as_principal(server.url(), "registrar").await?;
    assert_denied(&registrar.err(listen(1, &[], None)).await?, "VIEW_SESSION");
    assert_denied(&registrar.err(Request::SetQueueHandler { registration: 1 }).await?, "VIEW_SESSION");
    server.shutdown().await;
    Ok(())
}
