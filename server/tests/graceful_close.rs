//! A session closed by the server while its client is still sending
//! requests must see its `Closing` reason, not a reset connection.
//!
//! Closing a socket whose receive buffer still holds unread bytes makes the
//! kernel answer with RST instead of FIN, and an RST can destroy the
//! `Closing` push still in flight to the client (seen as ECONNRESET, i.e.
//! `CONNECTION_LOST`). The server must shut down its write half and drain
//! what the client still sends for a short while before dropping the socket.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use futures_util::{SinkExt, StreamExt};
use support::*;
use tokio_tungstenite::tungstenite::Message;
use usher_core::protocol::{ClientMessage, CloseReason, Push, Request, ServerMessage, decode, encode};

/// Requests allowed in flight by the flooding client: below the server's
/// bound of 1,024 so the client is never closed for breaking it.
const WINDOW: u64 = 512;

/// What a busy client saw when a controller closed it.
async fn close_busy_client(url: &str, control: &mut Client) -> anyhow::Result<Option<CloseReason>> {
    let target = anonymous(url, &[]).await?;
    let me = target.id();
    let (mut sink, mut stream) = target.ws.split();
    let answered = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    // The writer keeps requests flowing until its socket fails, so bytes are
    // always waiting in the server's receive buffer when it closes us.
    let writer = tokio::spawn({
        let (answered, stop) = (answered.clone(), stop.clone());
        async move {
            let mut id = 1u64;
            while !stop.load(Ordering::Relaxed) {
                if id - answered.load(Ordering::Relaxed) >= WINDOW {
                    tokio::task::yield_now().await;
                    continue;
                }
                let request = Request::GetSessionProperties { session: me, keys: vec!["*F".into()] };
                let frame = encode(&ClientMessage::Request { id, request });
                if sink.send(Message::Binary(frame.into())).await.is_err() {
                    break;
                }
                id += 1;
            }
        }
    });
    let reader = tokio::spawn({
        let answered = answered.clone();
        async move {
            loop {
                let b = match tokio::time::timeout(DEADLINE, stream.next()).await {
                    Err(_) => anyhow::bail!("no Closing within {DEADLINE:?}"),
                    Ok(None) | Ok(Some(Err(_))) | Ok(Some(Ok(Message::Close(_)))) => return Ok(None),
                    Ok(Some(Ok(Message::Binary(b)))) => b,
                    Ok(Some(Ok(_))) => continue,
                };
                match decode::<ServerMessage>(&b)? {
                    ServerMessage::Response(_) => {
                        answered.fetch_add(1, Ordering::Relaxed);
                    }
                    ServerMessage::Push(Push::Closing { reason, .. }) => return Ok(Some(reason)),
                    _ => {}
                }
            }
        }
    });
    // Let the flood get going: wait until a good number was answered.
    let deadline = tokio::time::Instant::now() + DEADLINE;
    while answered.load(Ordering::Relaxed) < 2 * WINDOW {
        anyhow::ensure!(tokio::time::Instant::now() < deadline, "the flood never got answered");
        tokio::task::yield_now().await;
    }
    assert_eq!(control.result(close(me)).await?.total, 1);
    let seen = reader.await??;
    stop.store(true, Ordering::Relaxed);
    writer.await?;
    Ok(seen)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_closed_mid_flood_sees_closed_by_controller() -> anyhow::Result<()> {
    let server = server().await?;
    let mut control = control(server.url()).await?;
    let mut lost = 0;
    const RUNS: usize = 50;
    for _ in 0..RUNS {
        match close_busy_client(server.url(), &mut control).await? {
            Some(CloseReason::ClosedByController) => {}
            None => lost += 1,
            Some(other) => anyhow::bail!("closed with {other}"),
        }
    }
    assert_eq!(lost, 0, "{lost} of {RUNS} closed clients saw a reset instead of their Closing push");
    server.shutdown().await;
    Ok(())
}
