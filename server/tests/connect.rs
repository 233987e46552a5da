//! Hello, welcome and rejection; fixed and proposed properties; listeners.

mod support;

use std::net::SocketAddr;

use support::*;
use usher_core::ErrorKind;
use usher_core::protocol::{CloseReason, PROTOCOL_VERSION};
use usher_server::config::ListenerConfig;

#[tokio::test]
async fn welcome_carries_id_roles_policy_and_limits() -> anyhow::Result<()> {
    let server = server().await?;
    let a = anonymous(server.url(), &[]).await?;
    let b = admin(server.url()).await?;
    assert_eq!(a.welcome.server_name, "test-server");
    assert_eq!(a.welcome.roles, vec!["CLIENT".to_owned()]);
    assert_eq!(b.welcome.roles, vec!["ADMINISTRATOR".to_owned()]);
    assert_ne!(a.id(), b.id());
    assert_eq!(a.id().server, b.id().server);
    assert_ne!(a.id().server, 0);
    assert_eq!(a.welcome.queue_policy.max_depth, 1000);
    assert_eq!(a.welcome.limits.max_in_flight, 1024);
    server.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn wrong_password_and_unknown_principal_are_refused_alike() -> anyhow::Result<()> {
    let server = server().await?;
    for principal in [("admin", "nope"), ("nobody", "admin-pw")] {
        match try_connect(server.url(), hello(Some(principal), &[])).await? {
            Outcome::Reject(r) => {
                assert_eq!(r.reason, CloseReason::AuthenticationFailed);
                assert_eq!(r.error.kind, ErrorKind::AuthenticationFailed);
            }
            Outcome::Welcome(_) => anyhow::bail!("{principal:?} was let in"),
        }
    }
    server.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn unknown_protocol_version_is_rejected_with_a_reason() -> anyhow::Result<()> {
    let server = server().await?;
    let mut h = hello(None, &[]);
    h.version = PROTOCOL_VERSION + 41;
    match try_connect(server.url(), h).await? {
        Outcome::Reject(r) => {
            assert_eq!(r.reason, CloseReason::ProtocolError);
            assert_eq!(r.error.kind, ErrorKind::Protocol);
            assert!(r.error.message.contains(&(PROTOCOL_VERSION + 41).to_string()));
        }
        Outcome::Welcome(_) => anyhow::bail!("accepted a future version"),
    }
    server.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn anonymous_can_be_denied() -> anyhow::Result<()> {
    let mut config = config();
    config.store = Some(usher_core::security::SecurityStore::from_toml("[anonymous]\ndeny = true\n")?);
    let server = usher_server::start(config).await?;
    match try_connect(server.url(), hello(None, &[])).await? {
        Outcome::Reject(r) => assert_eq!(r.error.kind, ErrorKind::AuthenticationFailed),
        Outcome::Welcome(_) => anyhow::bail!("anonymous let in"),
    }
    server.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn proposed_properties_are_validated() -> anyhow::Result<()> {
    let mut config = config();
    config.properties.limits.max_value_bytes = 8;
    config.properties.restrict.insert(
        "Tier".into(),
        usher_server::config::Restriction { regex: None, values: Some(vec!["gold".into(), "silver".into()]) },
    );
    let server = usher_server::start(config).await?;
    type Case<'a> = (&'a [(&'a str, &'a str)], ErrorKind, &'a str);
    let cases: [Case<'_>; 4] = [
        (&[("Big", "123456789")], ErrorKind::LimitExceeded, "Big"),
        (&[("and", "1")], ErrorKind::InvalidArgument, "and"),
        (&[("9bad", "1")], ErrorKind::InvalidArgument, "9bad"),
        (&[("Tier", "bronze")], ErrorKind::InvalidArgument, "Tier"),
    ];
    for (props, kind, key) in cases {
        match try_connect(server.url(), hello(None, props)).await? {
            Outcome::Reject(r) => {
                assert_eq!(r.error.kind, kind, "{props:?}");
                let named = match &r.error.details {
                    usher_core::ErrorDetails::Limit { key: Some(k), .. } => k.clone(),
                    usher_core::ErrorDetails::Argument(k) => k.clone(),
                    other => anyhow::bail!("no key named: {other:?}"),
                };
                assert_eq!(named, key);
            }
            Outcome::Welcome(_) => anyhow::bail!("{props:?} accepted"),
        }
    }
    anonymous(server.url(), &[("Tier", "gold"), ("Small", "12345678")]).await?;
    server.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn every_fixed_property_is_set() -> anyhow::Result<()> {
    let mut config = config();
    config.listeners.push(ListenerConfig {
        name: "second".into(),
        address: SocketAddr::from(([127, 0, 0, 1], 0)),
        ..Default::default()
    });
    let server = usher_server::start(config).await?;
    assert_eq!(server.urls().len(), 2);
    let target = connect(&server.urls()[1], Some(("client", CLIENT_PW)), &[("Tier", "gold")]).await?;
    let mut admin = admin(server.url()).await?;
    let props = admin.get_properties(target.id(), &["*F", "*U"]).await?;
    assert_eq!(props["$SessionId"], target.id().to_string());
    assert_eq!(props["$Principal"], "client");
    assert_eq!(props["$Roles"], "\"CLIENT\"");
    assert_eq!(props["$ClientType"], "RUST");
    assert_eq!(props["$Transport"], "WEBSOCKET");
    assert_eq!(props["$ServerName"], "test-server");
    assert_eq!(props["$Connector"], "second");
    assert_eq!(props["$ClientIP"], "127.0.0.1");
    assert_eq!(props["$StartTime"], target.welcome.start_time.to_string());
    assert_eq!(props["$Environment"], "RUST_1.95");
    assert_eq!(props["$Country"], "");
    assert_eq!(props["$Language"], "");
    assert_eq!(props["Tier"], "gold");
    assert_eq!(props.len(), 13);
    let only = admin.get_properties(target.id(), &["Tier", "$Principal", "Missing"]).await?;
    assert_eq!(only.len(), 2);
    server.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn each_listener_has_its_own_queue_defaults() -> anyhow::Result<()> {
    let mut config = config();
    let mut second = ListenerConfig {
        name: "small".into(),
        address: SocketAddr::from(([127, 0, 0, 1], 0)),
        ..Default::default()
    };
    second.queue.max_depth = 10;
    second.queue.conflated = true;
    config.listeners.push(second);
    let server = usher_server::start(config).await?;
    let a = anonymous(&server.urls()[0], &[]).await?;
    let b = anonymous(&server.urls()[1], &[]).await?;
    assert_eq!((a.welcome.queue_policy.max_depth, a.welcome.queue_policy.conflated), (1000, false));
    assert_eq!((b.welcome.queue_policy.max_depth, b.welcome.queue_policy.conflated), (10, true));
    server.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn a_login_flood_is_refused_past_the_verification_queue() -> anyhow::Result<()> {
    let mut config = config();
    config.auth.threads = 1;
    config.auth.queue = 1;
    let server = usher_server::start(config).await?;
    // Each verification takes milliseconds; 20 at once cannot all fit in one
    // worker plus a queue of one.
    let attempts = (0..20).map(|_| try_connect(server.url(), hello(Some(("admin", ADMIN_PW)), &[])));
    let outcomes = futures_util::future::try_join_all(attempts).await?;
    let refused = outcomes
        .iter()
        .filter(|o| matches!(o, Outcome::Reject(r) if r.error.kind == ErrorKind::AuthenticationFailed))
        .count();
    let admitted = outcomes.iter().filter(|o| matches!(o, Outcome::Welcome(_))).count();
    assert!(refused > 0 && admitted > 0, "refused {refused}, admitted {admitted}");
    // Anonymous sessions need no verification and are not affected.
    anonymous(server.url(), &[]).await?;
    server.shutdown().await;
    Ok(())
}
