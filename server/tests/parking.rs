#![cfg(target_os = "linux")]
//! Parking (server/src/park/): an idle plain session gives its task up
//! and keeps only its socket in an epoll set; anything that concerns it
//! resumes it, and its client cannot tell. Each test waits (with a deadline)
//! until the server's counters say the session is parked, so it fails when
//! parking does not happen.

mod support;

use std::time::Duration;

use futures_util::StreamExt;
use tokio_tungstenite::tungstenite::Message;
use usher_core::protocol::{CloseReason, Push};
use usher_server::{ParkStats, ServerHandle};

use support::*;

/// A test server that parks sessions after 50 ms of silence.
async fn parking_server(ping_ms: u32, idle_ms: u32) -> anyhow::Result<ServerHandle> {
    let mut config = config();
    config.server.park_after_ms = 50;
    config.limits.ping_interval_ms = ping_ms;
    config.limits.idle_timeout_ms = idle_ms;
    usher_server::start(config).await
}

/// Waits until the counters satisfy `ok`, or fails after [`DEADLINE`].
async fn until(
    server: &ServerHandle,
    what: &str,
    ok: impl Fn(ParkStats) -> bool,
) -> anyhow::Result<ParkStats> {
    let deadline = tokio::time::Instant::now() + DEADLINE;
    loop {
        let stats = server.park_stats();
        if ok(stats) {
            return Ok(stats);
        }
        anyhow::ensure!(tokio::time::Instant::now() < deadline, "{what}: still {stats:?} after {DEADLINE:?}");
        // Polling a counter between checks, not a sleep standing in for an event.
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test]
async fn a_request_from_the_client_resumes_a_parked_session() -> anyhow::Result<()> {
    let server = parking_server(20_000, 60_000).await?;
    let mut client = connect(server.url(), Some(("admin", ADMIN_PW)), &[("Tier", "gold")]).await?;
    let parked = until(&server, "parked", |s| s.parked == 1).await?;
    for round in 0..3 {
        // The answer needs a task: the socket's readiness resumes one.
        let props = client.get_properties(client.id(), &["Tier"]).await?;
        assert_eq!(props.get("Tier").map(String::as_str), Some("gold"), "round {round}");
        // And it parks again once quiet.
        until(&server, "parked again", |s| s.parks > parked.parks + round && s.parked == 1).await?;
    }
    assert!(server.park_stats().resumes >= 3);
    assert_eq!(server.session_count(), 1);
    server.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn a_push_resumes_a_parked_session_and_a_close_reaches_it() -> anyhow::Result<()> {
    let server = parking_server(20_000, 60_000).await?;
    let mut target = anonymous(server.url(), &[]).await?;
    let mut admin = admin(server.url()).await?;
    until(&server, "both parked", |s| s.parked == 2).await?;
    let before = server.park_stats();

    // A push: the role change is queued for the parked target.
    admin.ok(change_roles(target.id(), &[], &["CLIENT_CONTROL"])).await?;
    let pushed = target.push_where(|p| matches!(p, Push::RolesChanged { .. })).await?;
    let Push::RolesChanged { roles } = pushed else { unreachable!() };
    assert!(roles.iter().any(|r| r == "CLIENT_CONTROL"), "{roles:?}");
    assert!(server.park_stats().resumes >= before.resumes + 2, "{:?}", server.park_stats());

    // Parked again, then closed by the controller: the target sees why.
    let again = server.park_stats().parks;
    until(&server, "both parked again", |s| s.parked == 2 && s.parks >= again + 2).await?;
    admin.ok(close(target.id())).await?;
    assert_eq!(target.closed_reason().await?, Some(CloseReason::ClosedByController));
    until(&server, "target gone", |s| s.parked <= 1).await?;
    assert_eq!(server.session_count(), 1);
    server.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn a_parked_session_is_closed_without_resuming_it_and_lingers_until_its_peer_ends() -> anyhow::Result<()>
{
    let server = parking_server(20_000, 60_000).await?;
    let mut target = anonymous(server.url(), &[]).await?;
    let mut admin = admin(server.url()).await?;
    let before = until(&server, "both parked", |s| s.parked == 2).await?;

    admin.ok(close(target.id())).await?;
    assert_eq!(target.closed_reason().await?, Some(CloseReason::ClosedByController));
    let after = until(&server, "closed while parked", |s| s.closes == before.closes + 1).await?;
    // Only the admin was resumed (by its request); the target's close was
    // written by the parking task, and its socket waits for the client.
    assert_eq!(after.resumes, before.resumes + 1, "{after:?}");
    assert_eq!(after.lingering, 1, "{after:?}");
    assert_eq!(server.session_count(), 1);

    drop(target);
    until(&server, "the linger ends with the client", |s| s.lingering == 0).await?;
    server.shutdown().await;
    Ok(())
}

/// A server with one parked session closed by an admin, lingering: its
/// client never reads and never closes until the test drops it, so only
/// the bound ends the linger. Returns the server, that client, the admin.
async fn a_silent_client_lingering() -> anyhow::Result<(ServerHandle, Client, Client)> {
    let server = parking_server(20_000, 60_000).await?;
    let silent = anonymous(server.url(), &[]).await?;
    let mut admin = admin(server.url()).await?;
    until(&server, "both parked", |s| s.parked == 2).await?;
    admin.ok(close(silent.id())).await?;
    until(&server, "lingering", |s| s.lingering == 1).await?;
    Ok((server, silent, admin))
}

#[tokio::test]
async fn a_closed_parked_session_whose_client_stays_silent_lingers_one_second() -> anyhow::Result<()> {
    let (server, silent, _admin) = a_silent_client_lingering().await?;
    let started = tokio::time::Instant::now();
    until(&server, "the linger bound", |s| s.lingering == 0).await?;
    let waited = started.elapsed();
    assert!(waited >= Duration::from_millis(500), "the linger ended after {waited:?}");
    drop(silent);
    server.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn shutdown_keeps_a_lingering_sockets_own_deadline() -> anyhow::Result<()> {
    let (server, silent, admin) = a_silent_client_lingering().await?;
    drop(admin);
    // Not a synchronisation: the linger's age. 700 ms of its 1 s are used.
    tokio::time::sleep(Duration::from_millis(700)).await;
    // Shutdown waits for every connection, the lingering one included: it
    // gets the ~300 ms it has left, not a fresh second.
    let started = tokio::time::Instant::now();
    tokio::time::timeout(DEADLINE, server.shutdown()).await?;
    let took = started.elapsed();
    assert!(took < Duration::from_millis(900), "shutdown took {took:?}");
    drop(silent);
    Ok(())
}

#[tokio::test]
async fn parked_sessions_are_pinged_and_time_out() -> anyhow::Result<()> {
    // Pings every 300 ms; silent for 1.5 s closes.
    let server = parking_server(300, 1_500).await?;
    let mut reader = admin(server.url()).await?;
    // Never read from (reading would answer the server's pings).
    let silent = anonymous(server.url(), &[]).await?;
    until(&server, "both parked", |s| s.parked == 2).await?;
    let parks = server.park_stats().parks;

    // The parked reader still gets pings, and its pongs (sent by its next
    // read) keep it alive; the parking component writes the pings and reads
    // the pongs itself, so neither session is resumed for them.
    let deadline = tokio::time::Instant::now() + DEADLINE;
    let mut pings = 0;
    while pings < 4 || server.park_stats().pongs < 3 {
        match tokio::time::timeout_at(deadline, reader.ws.next()).await? {
            Some(Ok(Message::Ping(_))) => pings += 1,
            other => anyhow::bail!("unexpected {other:?}"),
        }
    }
    let stats = server.park_stats();
    assert!(stats.pings >= 4, "{stats:?}");
    assert_eq!(stats.parks, parks, "{stats:?}");

    // The client that never answered a ping is closed for its silence
    // although it was parked; the reader keeps answering meanwhile.
    while server.session_count() > 1 {
        anyhow::ensure!(tokio::time::Instant::now() < deadline, "the silent session is still open");
        match tokio::time::timeout(Duration::from_millis(50), reader.ws.next()).await {
            Err(_) | Ok(Some(Ok(Message::Ping(_)))) => {}
            other => anyhow::bail!("unexpected {other:?}"),
        }
    }
    let mut silent = silent;
    let reason = silent.closed_reason().await?;
    assert!(matches!(reason, Some(CloseReason::IdleTimeout) | None), "{reason:?}");
    // The reader, answering pings all along, is the one still there.
    let props = reader.get_properties(reader.id(), &["$SessionId"]).await?;
    assert_eq!(props.get("$SessionId").map(String::as_str), Some(reader.id().to_string().as_str()));
    server.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn shutdown_closes_parked_sessions_with_a_reason() -> anyhow::Result<()> {
    let server = parking_server(20_000, 60_000).await?;
    let mut client = anonymous(server.url(), &[]).await?;
    until(&server, "parked", |s| s.parked == 1).await?;
    let shutdown = tokio::spawn(server.shutdown());
    assert_eq!(client.closed_reason().await?, Some(CloseReason::ServerShutdown));
    tokio::time::timeout(DEADLINE, shutdown).await??;
    Ok(())
}

#[tokio::test]
async fn parking_off_keeps_every_task() -> anyhow::Result<()> {
    let mut config = config();
    config.server.park_after_ms = 0;
    config.limits.ping_interval_ms = 100;
    let server = usher_server::start(config).await?;
    let mut client = anonymous(server.url(), &[]).await?;
    // Several pings' worth of idleness (the pings are the events waited on).
    for _ in 0..3 {
        let next = tokio::time::timeout(DEADLINE, client.ws.next()).await?;
        assert!(matches!(next, Some(Ok(Message::Ping(_)))), "{next:?}");
    }
    assert_eq!(server.park_stats(), ParkStats::default());
    server.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn a_half_received_frame_keeps_its_task_and_arrives_whole() -> anyhow::Result<()> {
    use tokio::io::AsyncWriteExt;
    use tokio_tungstenite::MaybeTlsStream;
    use usher_core::protocol::{ClientMessage, Reply, Request, encode};

    let server = parking_server(20_000, 60_000).await?;
    let mut client = connect(server.url(), Some(("admin", ADMIN_PW)), &[("Tier", "gold")]).await?;
    until(&server, "parked", |s| s.parked == 1).await?;

    // A request frame written by hand (masked with a zero key), in two parts.
    let request = Request::GetSessionProperties { session: client.id(), keys: vec!["Tier".into()] };
    let payload = encode(&ClientMessage::Request { id: 77, request });
    anyhow::ensure!(payload.len() < 126, "the test frame needs a longer header");
    let mut frame = vec![0x82, 0x80 | payload.len() as u8, 0, 0, 0, 0];
    frame.extend_from_slice(&payload);
    let (first, rest) = frame.split_at(frame.len() / 2);
    let MaybeTlsStream::Plain(socket) = client.ws.get_mut() else { anyhow::bail!("not plain") };
    socket.write_all(first).await?;
    // Those bytes resume it, and it must not park again with half a frame
    // read: let another session go through a whole park-resume-park cycle
    // on the sweeper's hints meanwhile.
    until(&server, "resumed by the first half", |s| s.parked == 0).await?;
    let mut marker = admin(server.url()).await?;
    let parks = until(&server, "marker parked", |s| s.parked == 1).await?.parks;
    marker.get_properties(marker.id(), &["$SessionId"]).await?;
    let stats = until(&server, "marker parked again", |s| s.parks > parks && s.parked == 1).await?;
    // Still one parked (the marker) after its hints, so not the half-read one.
    assert_eq!(stats.parked, 1, "{stats:?}");

    let MaybeTlsStream::Plain(socket) = client.ws.get_mut() else { anyhow::bail!("not plain") };
    socket.write_all(rest).await?;
    match client.response(77).await? {
        Ok(Reply::Properties(props)) => assert_eq!(props.get("Tier").map(String::as_str), Some("gold")),
        other => anyhow::bail!("unexpected {other:?}"),
    }
    server.shutdown().await;
    Ok(())
}
