//! Hostile and broken clients (SPEC §6): each is closed alone, with a
//! `Closing` reason first where possible; everyone else keeps working.

mod support;

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use support::*;
use tokio::io::AsyncReadExt;
use tokio_tungstenite::tungstenite::Message;
use usher_core::ErrorKind;
use usher_core::protocol::{
    ClientMessage, CloseReason, Push, Request, ServerMessage, SessionEvent, SessionState, decode, encode,
};

async fn bystander_works(bystander: &mut Client) -> anyhow::Result<()> {
    let me = bystander.id();
    assert_eq!(bystander.get_properties(me, &["$SessionId"]).await?["$SessionId"], me.to_string());
    Ok(())
}

#[tokio::test]
async fn garbage_after_hello_closes_only_the_offender() -> anyhow::Result<()> {
    let server = server().await?;
    let mut bystander = admin(server.url()).await?;
    for frame in [
        Message::Binary(vec![0xc1, 0xff, 0x00].into()),
        Message::Text("hello".into()),
        Message::Binary(encode(&ClientMessage::Hello(hello(None, &[]))).into()),
    ] {
        let mut bad = anonymous(server.url(), &[]).await?;
        bad.ws.send(frame).await?;
        assert_eq!(bad.closed_reason().await?, Some(CloseReason::ProtocolError));
        bystander_works(&mut bystander).await?;
    }
    server.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn a_dropped_socket_is_connection_lost_not_a_protocol_error() -> anyhow::Result<()> {
    // Found by the hostile-load test: tungstenite reports a peer that goes
    // away without a closing handshake as a protocol error.
    let server = server().await?;
    let mut watcher = admin(server.url()).await?;
    watcher
        .ok(Request::AddSessionListener { registration: 1, filter: None, keys: vec![], after: None })
        .await?;
    let gone = anonymous(server.url(), &[]).await?;
    let gone_id = gone.id();
    drop(gone);
    let closed = watcher
        .push_where(|p| {
            matches!(p, Push::SessionEvent { event: SessionEvent::State { session, state: SessionState::Closed, .. }, .. } if *session == gone_id)
        })
        .await?;
    let Push::SessionEvent { event: SessionEvent::State { reason, .. }, .. } = closed else { unreachable!() };
    assert_eq!(reason, Some(CloseReason::ConnectionLost));
    server.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn garbage_instead_of_hello_is_rejected() -> anyhow::Result<()> {
    let server = server().await?;
    let mut ws = raw(server.url()).await?;
    ws.send(Message::Binary(vec![1, 2, 3].into())).await?;
    let msg = tokio::time::timeout(DEADLINE, ws.next()).await?;
    let Some(Ok(Message::Binary(b))) = msg else { anyhow::bail!("no rejection: {msg:?}") };
    let ServerMessage::Reject(r) = decode::<ServerMessage>(&b)? else { anyhow::bail!("not a rejection") };
    assert_eq!((r.reason, r.error.kind), (CloseReason::ProtocolError, ErrorKind::Protocol));
    server.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn oversize_frames_are_refused() -> anyhow::Result<()> {
    let mut config = config();
    config.limits.max_frame_bytes = 4096;
    let server = usher_server::start(config).await?;
    let mut bystander = admin(server.url()).await?;
    bystander
        .ok(Request::AddSessionListener { registration: 1, filter: None, keys: vec![], after: None })
        .await?;
    let mut big = anonymous(server.url(), &[]).await?;
    let big_id = big.id();
    let request = Request::AddTopic { path: "a".into(), value: vec![7; 10_000] };
    big.send(request).await?;
    let closed = bystander
        .push_where(|p| {
            matches!(p, Push::SessionEvent { event: SessionEvent::State { session, state: SessionState::Closed, .. }, .. } if *session == big_id)
        })
        .await?;
    assert!(
        matches!(
            closed,
            Push::SessionEvent {
                event: SessionEvent::State { reason: Some(CloseReason::MessageTooLarge), .. },
                ..
            }
        ),
        "{closed:?}"
    );
    // The client is told too, unless its unread frame makes the kernel reset
    // the connection before the Closing push is read.
    let reason = big.closed_reason().await.ok().flatten();
    assert!(matches!(reason, Some(CloseReason::MessageTooLarge) | None), "{reason:?}");
    bystander_works(&mut bystander).await?;
    assert_eq!(server.session_count(), 1);
    server.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn a_hello_that_never_comes() -> anyhow::Result<()> {
    let mut config = config();
    config.limits.hello_timeout_ms = 200;
    let server = usher_server::start(config).await?;
    let mut bystander = admin(server.url()).await?;
    // Upgraded, but silent: rejected at the deadline.
    let mut ws = raw(server.url()).await?;
    let msg = tokio::time::timeout(DEADLINE, ws.next()).await?;
    let Some(Ok(Message::Binary(b))) = msg else { anyhow::bail!("no rejection: {msg:?}") };
    let ServerMessage::Reject(r) = decode::<ServerMessage>(&b)? else { anyhow::bail!("not a rejection") };
    assert_eq!(r.reason, CloseReason::ProtocolError);
    // Not even the HTTP upgrade: the socket is closed at the deadline.
    let addr = server.url().trim_start_matches("ws://").to_owned();
    let mut tcp = tokio::net::TcpStream::connect(addr).await?;
    let mut buf = [0u8; 16];
    let n = tokio::time::timeout(DEADLINE, tcp.read(&mut buf)).await??;
    assert_eq!(n, 0);
    bystander_works(&mut bystander).await?;
    server.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn pre_hello_connections_are_bounded() -> anyhow::Result<()> {
    let mut config = config();
    config.server.max_pending_hellos = 2;
    let server = usher_server::start(config).await?;
    let addr = server.url().trim_start_matches("ws://").to_owned();
    let _a = tokio::net::TcpStream::connect(&addr).await?;
    let _b = tokio::net::TcpStream::connect(&addr).await?;
    let mut c = tokio::net::TcpStream::connect(&addr).await?;
    let mut buf = [0u8; 16];
    // Closed at once, long before the 5 s hello timeout.
    let n = tokio::time::timeout(Duration::from_secs(2), c.read(&mut buf)).await??;
    assert_eq!(n, 0);
    server.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn a_request_flood_closes_only_the_flooder() -> anyhow::Result<()> {
    let mut config = config();
    config.limits.max_in_flight = 16;
    config.listeners[0].send_buffer_bytes = Some(4096);
    let server = usher_server::start(config).await?;
    let mut bystander = admin(server.url()).await?;
    bystander
        .ok(Request::AddSessionListener { registration: 1, filter: None, keys: vec![], after: None })
        .await?;
    let mut flooder = slow_anonymous(server.url()).await?;
    // Never reads a response: they pile up unsent, past the in-flight bound.
    let me = flooder.id();
    let mut sent = 0;
    let flood = async {
        while sent < 20_000 {
            let get = Request::GetSessionProperties { session: me, keys: vec!["*F".into()] };
            if flooder.send(get).await.is_err() {
                break;
            }
            sent += 1;
        }
    };
    let _ = tokio::time::timeout(Duration::from_secs(10), flood).await;
    let closed = bystander
        .push_where(|p| {
            matches!(p, Push::SessionEvent { event: SessionEvent::State { session, state: SessionState::Closed, .. }, .. } if *session == me)
        })
        .await?;
    assert!(
        matches!(
            closed,
            Push::SessionEvent {
                event: SessionEvent::State { reason: Some(CloseReason::ProtocolError), .. },
                ..
            }
        ),
        "{closed:?}"
    );
    bystander_works(&mut bystander).await?;
    let count = bystander.err(Request::Count { filter: "(".into() }).await?;
    assert_eq!(count.kind, ErrorKind::InvalidFilter);
    assert_eq!(server.session_count(), 1);
    server.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn idle_clients_are_closed() -> anyhow::Result<()> {
    let mut config = config();
    config.limits.ping_interval_ms = 100;
    config.limits.idle_timeout_ms = 300;
    let server = usher_server::start(config).await?;
    let mut live = admin(server.url()).await?;
    live.ok(Request::AddSessionListener { registration: 1, filter: None, keys: vec![], after: None }).await?;
    // A client that answers pings (tungstenite answers them while reading)
    // stays; this one reads nothing until the server has given up on it.
    let mut idle = anonymous(server.url(), &[]).await?;
    let idle_id = idle.id();
    let closed = live
        .push_where(|p| {
            matches!(p, Push::SessionEvent { event: SessionEvent::State { session, state: SessionState::Closed, .. }, .. } if *session == idle_id)
        })
        .await?;
    assert!(
        matches!(
            closed,
            Push::SessionEvent {
                event: SessionEvent::State { reason: Some(CloseReason::IdleTimeout), .. },
                ..
            }
        ),
        "{closed:?}"
    );
    // Its Closing push may be lost to the client's own pong write failing on
    // the closed socket; if it is read, it says IDLE_TIMEOUT.
    let seen = idle.closed_reason().await.ok().flatten();
    assert!(matches!(seen, Some(CloseReason::IdleTimeout) | None), "{seen:?}");
    for _ in 0..5 {
        // Reading between requests lets the client answer pings.
        tokio::time::sleep(Duration::from_millis(100)).await; // pacing, not synchronisation
        bystander_works(&mut live).await?;
    }
    server.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn shutdown_closes_every_session_with_server_shutdown() -> anyhow::Result<()> {
    let server = server().await?;
    let mut clients =
        vec![anonymous(server.url(), &[]).await?, admin(server.url()).await?, control(server.url()).await?];
    server.shutdown().await;
    for c in &mut clients {
        assert_eq!(c.closed_reason().await?, Some(CloseReason::ServerShutdown));
    }
    Ok(())
}
