//! The attackers of the hostile-load test, all run at once. Each returns a
//! one-line summary, or fails naming what the server did wrong. Attackers
//! that get a session propose `Kind='attacker'` and `Attack=<name>`, so the
//! [`Monitor`] hears how the server closed them.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use futures_util::future::BoxFuture;
use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use usher_core::protocol::{
    ClientMessage, CloseReason, Reject, Reply, Request, ServerMessage, decode, encode,
};
use usher_core::{ErrorDetails, ErrorKind, SessionId};

use crate::monitor::Monitor;
use crate::support::*;

/// How long the server may take to close or refuse an attacker: the 5 s
/// hello timeout plus a wide margin for a debug build under load.
const WITHIN: Duration = Duration::from_secs(20);
/// A frame well over the 1 MiB default bound.
const OVERSIZE: u64 = 2 << 20;

type Attack = fn(String, Arc<Monitor>) -> BoxFuture<'static, anyhow::Result<String>>;

/// Every attacker, each on its own task (so one busy attacker cannot
/// delay another's deadlines); the summary has one line each.
pub async fn run_all(url: &str, monitor: &Arc<Monitor>) -> anyhow::Result<String> {
    let attacks: [(&str, Attack); 9] = [
        ("garbage bytes", |u, m| Box::pin(garbage_bytes(u, m))),
        ("garbage frames", |u, m| Box::pin(garbage_frames(u, m))),
        ("oversize frames", |u, m| Box::pin(oversize(u, m))),
        ("truncated MessagePack", |u, m| Box::pin(truncated(u, m))),
        ("slowloris", |u, m| Box::pin(slowloris(u, m))),
        ("request burst", |u, m| Box::pin(burst(u, m))),
        ("registrations", |u, m| Box::pin(registrations(u, m))),
        ("expensive filters", |u, m| Box::pin(filters(u, m))),
        ("wrong passwords", |u, m| Box::pin(wrong_passwords(u, m))),
    ];
    let tasks: Vec<_> = attacks
        .into_iter()
        .map(|(name, attack)| {
            let run = attack(url.to_owned(), monitor.clone());
            tokio::spawn(async move { run.await.context(name) })
        })
        .collect();
    let mut lines = Vec::new();
    for task in tasks {
        lines.push(task.await??);
    }
    Ok(lines.join("\n"))
}

/// Deterministic junk that is never valid MessagePack (0xc1 is unused) nor
/// an HTTP request line.
fn junk(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    let mut out = vec![0xc1];
    out.extend((1..len).map(|_| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x as u8
    }));
    out
}

/// A masked binary frame header announcing `len` payload bytes.
fn frame_header(len: u64) -> Vec<u8> {
    let mut h = vec![0x82, 0x80 | 127];
    h.extend(len.to_be_bytes());
    h.extend([0x11, 0x22, 0x33, 0x44]);
    h
}

async fn attacker(url: &str, attack: &str) -> anyhow::Result<Client> {
    connect_attacker(url, attack, &[]).await
}

async fn connect_attacker(url: &str, attack: &str, extra: &[(&str, &str)]) -> anyhow::Result<Client> {
    let mut props = vec![("Kind", "attacker"), ("Attack", attack)];
    props.extend_from_slice(extra);
    anonymous(url, &props).await
}

/// The close reason the server gave session `id`, which must be one of
/// `allowed`.
async fn judged(monitor: &Monitor, id: SessionId, allowed: &[CloseReason]) -> anyhow::Result<CloseReason> {
    judged_within(monitor, id, allowed, WITHIN).await
}

async fn judged_within(
    monitor: &Monitor,
    id: SessionId,
    allowed: &[CloseReason],
    within: Duration,
) -> anyhow::Result<CloseReason> {
    match monitor.closed(id, within).await? {
        Some(r) if allowed.contains(&r) => Ok(r),
        other => bail!("session {id} closed with {other:?}, expected one of {allowed:?}"),
    }
}

/// The server's `Reject` on a connection that has not completed its hello.
async fn rejection(ws: &mut Ws) -> anyhow::Result<Reject> {
    let until = tokio::time::Instant::now() + WITHIN;
    loop {
        match tokio::time::timeout_at(until, ws.next()).await.context("no rejection in time")? {
            Some(Ok(Message::Binary(b))) => match decode::<ServerMessage>(&b)? {
                ServerMessage::Reject(r) => return Ok(r),
                other => bail!("expected a rejection, got {other:?}"),
            },
            Some(Ok(_)) => {}
            other => bail!("the connection ended without a rejection: {other:?}"),
        }
    }
}

fn expect_reject(r: &Reject, reason: CloseReason, kind: ErrorKind) -> anyhow::Result<()> {
    ensure!(r.reason == reason && r.error.kind == kind, "rejected with {r:?}, expected {reason:?}/{kind:?}");
    Ok(())
}

/// Reads until the server closes a plain TCP connection (EOF or reset).
async fn until_closed(tcp: &mut TcpStream) -> anyhow::Result<()> {
    let mut buf = [0u8; 1024];
    let until = tokio::time::Instant::now() + WITHIN;
    loop {
        match tokio::time::timeout_at(until, tcp.read(&mut buf)).await.context("never closed")? {
            Ok(0) | Err(_) => return Ok(()),
            Ok(_) => {}
        }
    }
}

/// Runs `n` copies of `one` at once; fails with the first failure.
async fn many<F, Fut>(n: u64, one: F) -> anyhow::Result<()>
where
    F: Fn(u64) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<()>>,
{
    futures_util::future::try_join_all((0..n).map(one)).await.map(drop)
}

/// Not HTTP at all, and HTTP that is no WebSocket upgrade: the socket is
/// closed (there is no WebSocket to carry a reason).
async fn garbage_bytes(url: String, _: Arc<Monitor>) -> anyhow::Result<String> {
    let url = url.as_str();
    let addr = url.trim_start_matches("ws://");
    many(50, |i| async move {
        let mut tcp = TcpStream::connect(addr).await?;
        let bytes = if i % 2 == 0 { junk(i, 512) } else { b"GET / HTTP/1.1\r\nHost: x\r\n\r\n".to_vec() };
        tcp.write_all(&bytes).await?;
        until_closed(&mut tcp).await
    })
    .await?;
    Ok("garbage bytes: 50 connections (junk, plain HTTP) closed".into())
}

/// Junk binary frames and text frames before the hello (Reject) and after
/// it (closed with PROTOCOL_ERROR).
async fn garbage_frames(url: String, monitor: Arc<Monitor>) -> anyhow::Result<String> {
    let (url, monitor) = (url.as_str(), &*monitor);
    many(30, |i| async move {
        let mut ws = raw(url).await?;
        let frame =
            if i % 2 == 0 { Message::Binary(junk(i, 300).into()) } else { Message::Text("hi".into()) };
        ws.send(frame).await?;
        expect_reject(&rejection(&mut ws).await?, CloseReason::ProtocolError, ErrorKind::Protocol)
    })
    .await?;
    many(30, |i| async move {
        let mut c = attacker(url, "garbage").await?;
        c.ws.send(Message::Binary(junk(i + 100, 300).into())).await?;
        judged(monitor, c.id(), &[CloseReason::ProtocolError]).await?;
        let seen = c.closed_reason().await.ok().flatten();
        ensure!(matches!(seen, Some(CloseReason::ProtocolError) | None), "the client saw {seen:?}");
        Ok(())
    })
    .await?;
    Ok("garbage frames: 30 rejected before the hello, 30 sessions closed PROTOCOL_ERROR".into())
}

/// A frame announcing 2 MiB: refused from its header, before the hello
/// and after; and a whole 2 MiB frame after the hello.
async fn oversize(url: String, monitor: Arc<Monitor>) -> anyhow::Result<String> {
    let (url, monitor) = (url.as_str(), &*monitor);
    let header = frame_header(OVERSIZE);
    many(10, |_| async {
        let mut ws = raw(url).await?;
        ws.get_mut().write_all(&header).await?;
        let r = rejection(&mut ws).await?;
        expect_reject(&r, CloseReason::MessageTooLarge, ErrorKind::LimitExceeded)
    })
    .await?;
    many(10, |i| async move {
        let mut c = attacker(url, "oversize").await?;
        if i % 2 == 0 {
            c.ws.get_mut().write_all(&frame_header(OVERSIZE)).await?;
        } else {
            // The send may fail once the server has closed: that is fine.
            let _ = c.ws.send(Message::Binary(vec![7u8; OVERSIZE as usize].into())).await;
        }
        judged(monitor, c.id(), &[CloseReason::MessageTooLarge]).await.map(drop)
    })
    .await?;
    Ok("oversize frames: 10 rejected before the hello, 10 sessions closed MESSAGE_TOO_LARGE".into())
}

/// A hello and a request cut short.
async fn truncated(url: String, monitor: Arc<Monitor>) -> anyhow::Result<String> {
    let (url, monitor) = (url.as_str(), &*monitor);
    many(30, |i| async move {
        let mut ws = raw(url).await?;
        let full = encode(&ClientMessage::Hello(hello(None, &[("Kind", "attacker")])));
        let cut = 1 + (i as usize * 7) % (full.len() - 1);
        ws.send(Message::Binary(full[..cut].to_vec().into())).await?;
        expect_reject(&rejection(&mut ws).await?, CloseReason::ProtocolError, ErrorKind::Protocol)
    })
    .await?;
    many(30, |i| async move {
        let mut c = attacker(url, "truncated").await?;
        let request = Request::Count { filter: "Kind is 'attacker' and Attack is 'truncated'".into() };
        let full = encode(&ClientMessage::Request { id: 1, request });
        let cut = 1 + (i as usize * 5) % (full.len() - 1);
        c.ws.send(Message::Binary(full[..cut].to_vec().into())).await?;
        judged(monitor, c.id(), &[CloseReason::ProtocolError]).await.map(drop)
    })
    .await?;
    Ok("truncated MessagePack: 30 hellos rejected, 30 sessions closed PROTOCOL_ERROR".into())
}

/// Slow loris: 100 HTTP upgrades and 100 hello frames that trickle in one
/// byte every 500 ms and never complete. The hello timeout (5 s) ends them.
async fn slowloris(url: String, _: Arc<Monitor>) -> anyhow::Result<String> {
    let url = url.as_str();
    const TRICKLE: Duration = Duration::from_millis(500);
    let addr = url.trim_start_matches("ws://");
    let started = Instant::now();
    let upgrades = many(100, |_| async {
        let mut tcp = TcpStream::connect(addr).await?;
        tcp.write_all(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n").await?;
        let mut buf = [0u8; 256];
        for byte in b"X-Slow: ".iter().cycle() {
            match tokio::time::timeout(TRICKLE, tcp.read(&mut buf)).await {
                Ok(Ok(0) | Err(_)) => break,
                Ok(Ok(_)) => {}
                // Pacing the trickle: one byte per TRICKLE.
                Err(_) if tcp.write_all(&[*byte]).await.is_err() => break,
                Err(_) => ensure!(started.elapsed() < WITHIN, "still open after {:?}", started.elapsed()),
            }
        }
        Ok(())
    });
    let hellos = many(100, |_| async {
        let mut ws = raw(url).await?;
        ws.get_mut().write_all(&frame_header(1_000)).await?;
        let reject = loop {
            match tokio::time::timeout(TRICKLE, ws.next()).await {
                Ok(Some(Ok(Message::Binary(b)))) => match decode::<ServerMessage>(&b)? {
                    ServerMessage::Reject(r) => break r,
                    other => bail!("expected a rejection, got {other:?}"),
                },
                Ok(Some(Ok(_))) => {}
                Ok(other) => bail!("ended without a rejection: {other:?}"),
                Err(_) => {
                    ensure!(started.elapsed() < WITHIN, "still open after {:?}", started.elapsed());
                    ws.get_mut().write_all(b"x").await?;
                }
            }
        };
        expect_reject(&reject, CloseReason::ProtocolError, ErrorKind::Protocol)
    });
    tokio::try_join!(upgrades, hellos)?;
    Ok(format!("slowloris: 100 upgrades closed, 100 hellos rejected, all within {:.1?}", started.elapsed()))
}

/// 100,000 requests without reading a reply: closed for its backlog
/// (requests in flight or queue depth, whichever bound it passes first).
async fn burst(url: String, monitor: Arc<Monitor>) -> anyhow::Result<String> {
    let (url, monitor) = (url.as_str(), &*monitor);
    let props = [("Kind", "attacker"), ("Attack", "burst")];
    let Outcome::Welcome(mut c) = hello_on(raw_small_buffer(url).await?, hello(None, &props)).await? else {
        bail!("the burst attacker was refused");
    };
    let me = c.id();
    let mut sent = 0u64;
    let flood = async {
        for id in 1..=100_000u64 {
            let request = Request::GetSessionProperties { session: me, keys: vec!["*F".into()] };
            let frame = encode(&ClientMessage::Request { id, request });
            if c.ws.feed(Message::Binary(frame.into())).await.is_err() {
                return;
            }
            sent += 1;
            if id % 100 == 0 {
                // Encoding is quick and feeding rarely blocks: let the
                // other tasks of this test run.
                tokio::task::yield_now().await;
            }
            if id % 1_000 == 0 && c.ws.flush().await.is_err() {
                return;
            }
        }
        let _ = c.ws.flush().await;
    };
    // Until the server closes it (the listener hears it even while this
    // client's writes are still accepted), or until all 100,000 are written.
    let allowed = [CloseReason::ProtocolError, CloseReason::MessageQueueLimitReached];
    let reason = tokio::select! {
        // Long: the server reads this one client's 100,000 requests 64 at a
        // time between everyone else's, on a debug build.
        r = judged_within(monitor, me, &allowed, Duration::from_secs(120)) => r?,
        _ = flood => judged(monitor, me, &allowed).await?,
    };
    Ok(format!("burst: closed {reason} after {sent} of 100000 requests were written"))
}

/// 10,000 listener registrations: 64 accepted, the rest LIMIT_EXCEEDED.
async fn registrations(url: String, monitor: Arc<Monitor>) -> anyhow::Result<String> {
    let (url, monitor) = (url.as_str(), &*monitor);
    let mut c = attacker(url, "registrations").await?;
    c.read_deadline = WITHIN;
    let (mut accepted, mut refused) = (0u32, 0u32);
    for batch in 0..20u32 {
        let mut ids = Vec::with_capacity(500);
        for k in 0..500 {
            let filter = Some("Kind is 'nobody'".into());
            let add = Request::AddSessionListener {
                registration: batch * 500 + k + 1,
                filter,
                keys: vec![],
                after: None,
            };
            ids.push(c.send(add).await?);
        }
        for id in ids {
            match c.response(id).await? {
                Ok(Reply::Done) => accepted += 1,
                Err(e) if matches!(&e.details, ErrorDetails::Limit { limit, .. } if limit == "max_registrations") => {
                    refused += 1
                }
                other => bail!("registration answered {other:?}"),
            }
        }
    }
    ensure!((accepted, refused) == (64, 9_936), "{accepted} accepted, {refused} refused");
    c.ws.send(Message::Binary(encode(&ClientMessage::Bye).into())).await?;
    judged(monitor, c.id(), &[CloseReason::ClosedByClient]).await?;
    Ok(format!("registrations: {accepted} accepted, {refused} refused LIMIT_EXCEEDED(max_registrations)"))
}

/// A 70 KiB filter, filters nested 10,000 deep, and regexes that would
/// blow up a backtracking engine or a compiled automaton. `matches` uses a
/// linear-time engine, so the backtracking killers are answered quickly.
async fn filters(url: String, monitor: Arc<Monitor>) -> anyhow::Result<String> {
    let (url, monitor) = (url.as_str(), &*monitor);
    let pad = format!("{}!", "a".repeat(4_000));
    let mut c = connect_attacker(url, "filters", &[("Pad", &pad)]).await?;
    c.read_deadline = WITHIN;
    let long = format!("{}all", "Kind is 'x' or ".repeat(70 * 1024 / 15 + 1));
    ensure!(long.len() > 70 * 1024);
    let deep = format!("{}all{}", "(".repeat(10_000), ")".repeat(10_000));
    let nots = format!("{}all", "not ".repeat(10_000));
    let huge_regex = "Pad matches '((a{100}){100}){100}'".to_owned();
    let many_regexes = vec!["Pad matches 'a*'"; 17].join(" or ");
    for text in [&long, &deep, &nots, &huge_regex, &many_regexes] {
        for request in [
            Request::Count { filter: text.clone() },
            close(filter(text)),
            Request::AddSessionListener {
                registration: 1,
                filter: Some(text.clone()),
                keys: vec![],
                after: None,
            },
        ] {
            let e = c.err(request).await?;
            ensure!(e.kind == ErrorKind::InvalidFilter, "{:.80} answered {e:?}", text);
        }
    }
    let mut slowest = Duration::ZERO;
    for regex in ["(a+)+$", "(a|aa)*$", "(a*)*b", "(x+x+)+y", "(.*a){20}"] {
        for _ in 0..10 {
            let started = Instant::now();
            let r = c.result(Request::Count { filter: format!("Pad matches '{regex}'") }).await?;
            slowest = slowest.max(started.elapsed());
            ensure!(r.total == 0, "{regex} matched {}", r.total);
        }
    }
    let me = c.id();
    c.get_properties(me, &["Attack"]).await?;
    c.ws.send(Message::Binary(encode(&ClientMessage::Bye).into())).await?;
    judged(monitor, me, &[CloseReason::ClosedByClient]).await?;
    Ok(format!(
        "filters: 70 KiB, 10,000-deep, huge-regex and 17-regex filters refused INVALID_FILTER (count, close, listen); \
         backtracking killers on a 4 KiB value answered, slowest {slowest:.1?}"
    ))
}

/// The same principal with a wrong password 1,000 times, 100 at a time.
async fn wrong_passwords(url: String, _: Arc<Monitor>) -> anyhow::Result<String> {
    let url = url.as_str();
    let started = Instant::now();
    let outcomes: Vec<anyhow::Result<Reject>> = futures_util::stream::iter(0..1_000)
        .map(|i| async move {
            let password = format!("wrong-{i}");
            match try_connect(url, hello(Some(("control", &password)), &[])).await? {
                Outcome::Reject(r) => Ok(r),
                Outcome::Welcome(_) => bail!("a wrong password was accepted"),
            }
        })
        .buffer_unordered(100)
        .collect()
        .await;
    let mut busy = 0;
    for r in outcomes {
        let r = r?;
        expect_reject(&r, CloseReason::AuthenticationFailed, ErrorKind::AuthenticationFailed)?;
        busy += usize::from(r.error.message.contains("busy"));
    }
    Ok(format!(
        "wrong passwords: 1000 refused AUTHENTICATION_FAILED ({busy} of them because the verifier was busy) in {:.1?}",
        started.elapsed()
    ))
}
