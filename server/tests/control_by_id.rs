//! Control operations by session id: allowed, denied for want of each
//! permission, unknown ids, dominance, escalation, argument errors.

mod support;

use std::collections::BTreeMap;

use support::*;
use usher_core::protocol::{CloseReason, Push, QueueEvent, Reply, Request, Throttler};
use usher_core::{ErrorDetails, ErrorKind, SessionId, Target};

fn set_props(target: impl Into<Target>, props: &[(&str, Option<&str>)]) -> Request {
    Request::SetSessionProperties {
        target: target.into(),
        properties: props.iter().map(|(k, v)| ((*k).to_owned(), v.map(str::to_owned))).collect(),
        max_targets: None,
    }
}

#[tokio::test]
async fn close_by_id() -> anyhow::Result<()> {
    let server = server().await?;
    let mut target = anonymous(server.url(), &[]).await?;
    let mut control = control(server.url()).await?;
    let r = control.result(close(target.id())).await?;
    assert_eq!(r.total, 1);
    assert_eq!(r.per_server.get("test-server"), Some(&1));
    assert_eq!(target.closed_reason().await?, Some(CloseReason::ClosedByController));
    // Now gone.
    let e = control.err(close(target.id())).await?;
    assert_eq!(e.kind, ErrorKind::NoSuchSession);
    server.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn unknown_ids_are_no_such_session() -> anyhow::Result<()> {
    let server = server().await?;
    let mut control = control(server.url()).await?;
    let mine = control.id();
    for id in
        [SessionId::new(mine.server, 9_999_999), SessionId::new(0, 1), SessionId::new(mine.server ^ 1, 1)]
    {
        assert_eq!(control.err(close(id)).await?.kind, ErrorKind::NoSuchSession);
        let e = control.err(Request::GetSessionProperties { session: id, keys: vec!["*F".into()] }).await?;
        assert_eq!(e.kind, ErrorKind::NoSuchSession);
        assert_eq!(control.err(change_roles(id, &[], &["CLIENT"])).await?.kind, ErrorKind::NoSuchSession);
    }
    server.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn permissions_are_checked_before_the_id_is_looked_up() -> anyhow::Result<()> {
    let server = usher_server::start(matrix_config()?).await?;
    let target = anonymous(server.url(), &[]).await?;
    let mut client = anonymous(server.url(), &[]).await?;
    let missing = SessionId::new(target.id().server, 77_777);
    for id in [target.id(), missing] {
        // The same answer whether the session exists or not.
        assert_denied(&client.err(close(id)).await?, "MODIFY_SESSION");
        assert_denied(&client.err(change_roles(id, &["CLIENT"], &[])).await?, "MODIFY_SESSION");
        let get = Request::GetSessionProperties { session: id, keys: vec![] };
        assert_denied(&client.err(get).await?, "VIEW_SESSION");
        assert_denied(&client.err(set_props(id, &[("a", Some("1"))])).await?, "VIEW_SESSION");
        let conflate = Request::SetConflated { target: id.into(), conflated: true, max_targets: None };
        assert_denied(&client.err(conflate).await?, "MODIFY_SESSION");
        let throttle =
            Request::SetThrottled { target: id.into(), throttler: Throttler::Unthrottled, max_targets: None };
        assert_denied(&client.err(throttle).await?, "MODIFY_SESSION");
    }
    // Each missing permission is named.
    let mut viewer = as_principal(server.url(), "viewer").await?;
    assert_denied(&viewer.err(close(target.id())).await?, "MODIFY_SESSION");
    assert_denied(&viewer.err(set_props(target.id(), &[("a", Some("1"))])).await?, "MODIFY_SESSION");
    let mut modifier = as_principal(server.url(), "modifier").await?;
    assert_denied(&modifier.err(set_props(target.id(), &[("a", Some("1"))])).await?, "VIEW_SESSION");
    let get = Request::GetSessionProperties { session: target.id(), keys: vec![] };
    assert_denied(&modifier.err(get).await?, "VIEW_SESSION");
    server.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn dominance_by_id() -> anyhow::Result<()> {
    let server = server().await?;
    let admin = admin(server.url()).await?;
    let mut control = control(server.url()).await?;
    // CLIENT_CONTROL cannot close or strip an administrator.
    assert_denied(&control.err(close(admin.id())).await?, "MODIFY_SECURITY");
    assert_denied(&control.err(change_roles(admin.id(), &["ADMINISTRATOR"], &[])).await?, "MODIFY_SECURITY");
    assert_denied(&control.err(set_props(admin.id(), &[("a", Some("1"))])).await?, "MODIFY_SECURITY");
    let conflate = Request::SetConflated { target: admin.id().into(), conflated: true, max_targets: None };
    assert_denied(&control.err(conflate).await?, "MODIFY_SECURITY");
    server.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn no_escalation_even_on_itself() -> anyhow::Result<()> {
    let server = server().await?;
    let target = anonymous(server.url(), &[]).await?;
    let mut control = control(server.url()).await?;
    let me = control.id();
    for id in [target.id(), me] {
        let e = control.err(change_roles(id, &[], &["ADMINISTRATOR"])).await?;
        assert_denied(&e, "MODIFY_SECURITY");
        let e = control.err(change_roles(id, &[], &["OPERATOR"])).await?;
        assert_denied(&e, "MODIFY_SECURITY");
        // An undefined role needs MODIFY_SECURITY too.
        let e = control.err(change_roles(id, &[], &["NOT_DEFINED"])).await?;
        assert_denied(&e, "MODIFY_SECURITY");
    }
    // Nothing changed.
    let mut admin = admin(server.url()).await?;
    assert_eq!(admin.get_properties(me, &["$Roles"]).await?["$Roles"], r#""CLIENT_CONTROL","TOPIC_CONTROL""#);
    assert_eq!(admin.get_properties(target.id(), &["$Roles"]).await?["$Roles"], r#""CLIENT""#);
    // MODIFY_SECURITY may.
    assert_eq!(admin.result(change_roles(target.id(), &[], &["NOT_DEFINED"])).await?.total, 1);
    server.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn change_roles_argument_errors() -> anyhow::Result<()> {
    let server = server().await?;
    let target = anonymous(server.url(), &[]).await?;
    let mut admin = admin(server.url()).await?;
    let e = admin.err(change_roles(target.id(), &[], &[])).await?;
    assert_eq!(e.kind, ErrorKind::InvalidArgument);
    let e = admin.err(change_roles(target.id(), &["CLIENT"], &["CLIENT"])).await?;
    assert_eq!((e.kind, e.details), (ErrorKind::InvalidArgument, ErrorDetails::Argument("CLIENT".into())));
    let e = admin.err(change_roles(target.id(), &[], &["BAD ROLE"])).await?;
    assert_eq!((e.kind, e.details), (ErrorKind::InvalidArgument, ErrorDetails::Argument("BAD ROLE".into())));
    server.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn change_roles_applies_at_once() -> anyhow::Result<()> {
    let server = server().await?;
    let mut target = anonymous(server.url(), &[]).await?;
    let mut control = control(server.url()).await?;
    let r = control.result(change_roles(target.id(), &["CLIENT"], &["CLIENT_CONTROL"])).await?;
    assert_eq!(r.total, 1);
    let push = target.push_where(|p| matches!(p, Push::RolesChanged { .. })).await?;
    assert_eq!(push, Push::RolesChanged { roles: vec!["CLIENT_CONTROL".into()] });
    // The new permissions are in force: the target may now count sessions.
    let props = target.get_properties(control.id(), &["$Principal"]).await?;
    assert_eq!(props["$Principal"], "control");
    // Removing a role not held, adding one held: not an error, still counted.
    assert_eq!(
        control.result(change_roles(target.id(), &["TOPIC_CONTROL"], &["CLIENT_CONTROL"])).await?.total,
        1
    );
    server.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn losing_permissions_ends_registrations() -> anyhow::Result<()> {
    let server = server().await?;
    let mut target = anonymous(server.url(), &[]).await?;
    let mut admin = admin(server.url()).await?;
    admin.ok(change_roles(target.id(), &[], &["CLIENT_CONTROL"])).await?;
    target.push_where(|p| matches!(p, Push::RolesChanged { .. })).await?;
    let reg = Request::AddSessionListener { registration: 7, filter: None, keys: vec![], after: None };
    assert_eq!(target.ok(reg).await?, Reply::Done);
    assert_eq!(target.ok(Request::SetQueueHandler { registration: 8 }).await?, Reply::Done);
    admin.ok(change_roles(target.id(), &["CLIENT_CONTROL"], &[])).await?;
    for registration in [7, 8] {
        let e = target
            .push_where(
                |p| matches!(p, Push::RegistrationError { registration: r, .. } if *r == registration),
            )
            .await?;
        let Push::RegistrationError { error, .. } = e else { unreachable!() };
        assert_eq!(error.kind, ErrorKind::AccessDenied);
        target
            .push_where(|p| matches!(p, Push::RegistrationClosed { registration: r } if *r == registration))
            .await?;
    }
    server.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn set_properties_by_id() -> anyhow::Result<()> {
    let server = server().await?;
    let target = anonymous(server.url(), &[("Tier", "gold"), ("Gone", "x")]).await?;
    let mut control = control(server.url()).await?;
    let r = control
        .result(set_props(
            target.id(),
            &[("Tier", Some("silver")), ("Gone", None), ("New", Some("1")), ("$Country", Some("fr"))],
        ))
        .await?;
    assert_eq!(r.total, 1);
    let changed: BTreeMap<String, Option<String>> = [
        ("$Country".to_owned(), Some(String::new())),
        ("Gone".to_owned(), Some("x".to_owned())),
        ("New".to_owned(), None),
        ("Tier".to_owned(), Some("gold".to_owned())),
    ]
    .into();
    assert_eq!(r.changed, Some(changed));
    let props = control.get_properties(target.id(), &["*U", "$Country"]).await?;
    let expected: BTreeMap<String, String> = [("$Country", "FR"), ("New", "1"), ("Tier", "silver")]
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .into();
    assert_eq!(props, expected);
    // Read-only fixed keys and bad keys name the key; nothing changed.
    let e = control.err(set_props(target.id(), &[("New", Some("2")), ("$Principal", Some("x"))])).await?;
    assert_eq!(
        (e.kind, e.details),
        (ErrorKind::InvalidArgument, ErrorDetails::Argument("$Principal".into()))
    );
    let e = control.err(set_props(target.id(), &[("or", Some("2"))])).await?;
    assert_eq!((e.kind, e.details), (ErrorKind::InvalidArgument, ErrorDetails::Argument("or".into())));
    let big = "x".repeat(5000);
    let e = control.err(set_props(target.id(), &[("New", Some("2")), ("Huge", Some(&big))])).await?;
    assert_eq!(e.kind, ErrorKind::LimitExceeded);
    assert!(matches!(&e.details, ErrorDetails::Limit { key: Some(k), .. } if k == "Huge"), "{e:?}");
    assert_eq!(control.get_properties(target.id(), &["New"]).await?["New"], "1");
    server.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn conflation_and_throttling_by_id_report_real_changes_only() -> anyhow::Result<()> {
    let server = server().await?;
    let target = anonymous(server.url(), &[]).await?;
    let mut control = control(server.url()).await?;
    control.ok(Request::SetQueueHandler { registration: 1 }).await?;
    let conflate =
        |on| Request::SetConflated { target: target.id().into(), conflated: on, max_targets: None };
    assert_eq!(control.result(conflate(true)).await?.total, 1);
    assert_eq!(control.result(conflate(true)).await?.total, 1); // no change: no event
    let throttle = Request::SetThrottled {
        target: target.id().into(),
        throttler: Throttler::MessagesPerSecond(1000),
        max_targets: None,
    };
    assert_eq!(control.result(throttle).await?.total, 1);
    let events: Vec<QueueEvent> = control
        .take_pushes()
        .into_iter()
        .filter_map(|p| match p {
            Push::QueueEvent { event, .. } => Some(event),
            _ => None,
        })
        .collect();
    assert_eq!(events.len(), 2, "{events:?}");
    assert!(
        matches!(&events[0], QueueEvent::PolicyChanged { session, policy } if *session == target.id() && policy.conflated)
    );
    assert!(
        matches!(&events[1], QueueEvent::PolicyChanged { policy, .. } if policy.throttler == Throttler::MessagesPerSecond(1000))
    );
    let bad = Request::SetThrottled {
        target: target.id().into(),
        throttler: Throttler::BytesPerSecond(0),
        max_targets: None,
    };
    assert_eq!(control.err(bad).await?.kind, ErrorKind::InvalidArgument);
    // A second handler on the same session conflicts.
    let e = control.err(Request::SetQueueHandler { registration: 2 }).await?;
    assert_eq!(e.kind, ErrorKind::HandlerConflict);
    server.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn a_reloaded_store_applies_to_open_sessions_and_later_logins() -> anyhow::Result<()> {
    let server = usher_server::start(matrix_config()?).await?;
    let target = anonymous(server.url(), &[]).await?;
    let mut viewer = as_principal(server.url(), "viewer").await?;
    let get = || Request::GetSessionProperties { session: target.id(), keys: vec!["$Principal".into()] };
    viewer.ok(get()).await?;
    // VIEW_ONLY loses its permission; a new principal appears.
    let hash = usher_server::hash_password("new-pw")?;
    let text = format!(
        "[anonymous]\nroles = [\"CLIENT\"]\n[principals.viewer]\npassword_hash = \"{hash}\"\nroles = [\"VIEW_ONLY\"]\n[principals.newbie]\npassword_hash = \"{hash}\"\nroles = [\"CLIENT\"]\n[roles.VIEW_ONLY]\nglobal = []\n"
    );
    server.reload_security(&usher_core::security::SecurityStore::from_toml(&text)?);
    assert_denied(&viewer.err(get()).await?, "VIEW_SESSION");
    connect(server.url(), Some(("newbie", "new-pw")), &[]).await?;
    match try_connect(server.url(), hello(Some(("viewer", PW)), &[])).await? {
        Outcome::Reject(r) => assert_eq!(r.error.kind, ErrorKind::AuthenticationFailed),
        Outcome::Welcome(_) => anyhow::bail!("the old password still works"),
    }
    server.shutdown().await;
    Ok(())
}
