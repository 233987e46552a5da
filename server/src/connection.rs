//! One connection from accept to close: the WebSocket upgrade, the hello,
//! the welcome or rejection, then the session's read and write loops.
//!
//! One tokio task per connection. Its reader and writer are two futures
//! polled by that one task (`select!`), not two tasks: half the memory per
//! idle session, and the reader keeps serving requests while the writer is
//! blocked on a client that does not read. The writer writes only as fast as
//! the socket accepts, so a slow client's backlog stays in its outbound queue
//! where it is counted, conflated and bounded.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio::sync::OwnedSemaphorePermit;
use tokio::time::{Instant, timeout};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use tracing::Instrument;
use usher_core::props::PropertyError;
use usher_core::protocol::{
    ClientMessage, CloseReason, Hello, PROTOCOL_VERSION, Push, Reject, ServerMessage, Throttler, Welcome,
    WireError, decode, encode,
};
use usher_core::{Error, ErrorDetails, ErrorKind};

use crate::auth::AuthError;
use crate::config::ListenerConfig;
use crate::registry::Record;
use crate::session::{Next, Session};
use crate::shutdown::Shutdown;
use crate::state::Shared;

type Sink = SplitSink<WebSocketStream<TcpStream>, Message>;
type Source = SplitStream<WebSocketStream<TcpStream>>;

/// How long a closing session may take to flush its last messages.
const CLOSE_GRACE: Duration = Duration::from_millis(500);

/// Tungstenite's settings for a server connection: a small read buffer (the
/// default eagerly allocates 128 KiB per connection, SPEC §6) and the frame
/// bound.
fn ws_config(max_frame: u32) -> WebSocketConfig {
    let max = max_frame as usize;
    WebSocketConfig::default()
        .read_buffer_size(256)
        .write_buffer_size(0)
        .max_write_buffer_size(max.saturating_mul(2).max(64 * 1024))
        .max_message_size(Some(max))
        .max_frame_size(Some(max))
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Serves one accepted socket until its session ends.
pub(crate) async fn handle(
    socket: TcpStream,
    peer: SocketAddr,
    shared: Arc<Shared>,
    listener: ListenerConfig,
    connector: Arc<str>,
    hello_permit: OwnedSemaphorePermit,
    mut shutdown: Shutdown,
) {
    let span = tracing::info_span!("session", %peer, connector = %connector, id = tracing::field::Empty, principal = tracing::field::Empty);
    async move {
        // Boxed: the hello phase's state (upgrade, decoding, authentication)
        // is large and short-lived; boxing it keeps it out of the task's own
        // allocation, which lives as long as the session (SPEC §6 memory).
        let opened = Box::pin(hello_phase(socket, peer, &shared, &listener, &connector, &mut shutdown)).await;
        drop(hello_permit);
        let Some((mut sink, mut source, session, principal)) = opened else { return };
        serve(&shared, &session, &principal, &mut sink, &mut source, &mut shutdown).await;
    }
    .instrument(span)
    .await
}

type Opened = (Sink, Source, Arc<Session>, Box<str>);

/// Upgrade, hello, welcome (or rejection). `None` when no session opened.
async fn hello_phase(
    socket: TcpStream,
    peer: SocketAddr,
    shared: &Arc<Shared>,
    listener: &ListenerConfig,
    connector: &Arc<str>,
    shutdown: &mut Shutdown,
) -> Option<Opened> {
    let _ = socket.set_nodelay(true);
    let limits = shared.config.limits;
    let deadline = Instant::now() + limits.hello_timeout();
    // The hello bound covers the HTTP upgrade too.
    let upgrade =
        tokio_tungstenite::accept_async_with_config(socket, Some(ws_config(limits.max_frame_bytes)));
    let ws = tokio::select! {
        _ = shutdown.recv() => return None,
        r = tokio::time::timeout_at(deadline, upgrade) => match r {
            Ok(Ok(ws)) => ws,
            Ok(Err(e)) => { tracing::debug!(error = %e, "WebSocket upgrade failed"); return None; }
            Err(_) => { tracing::info!("no WebSocket upgrade within the hello timeout"); return None; }
        },
    };
    let (mut sink, mut source) = ws.split();
    let first = tokio::select! {
        _ = shutdown.recv() => return None,
        r = tokio::time::timeout_at(deadline, source.next()) => r,
    };
    let hello = match read_hello(first) {
        Ok(hello) => hello,
        Err((reason, error)) => {
            tracing::info!(reason = %reason, error = %error.message, "hello refused");
            reject(&mut sink, reason, error).await;
            return None;
        }
    };
    let (session, welcome, principal) = match open(shared, listener, connector, peer, hello).await {
        Ok(opened) => opened,
        Err((reason, error)) => {
            tracing::info!(reason = %reason, kind = %error.kind, error = %error.message, "hello refused");
            reject(&mut sink, reason, error).await;
            return None;
        }
    };
    tracing::Span::current().record("id", tracing::field::display(session.id));
    tracing::Span::current().record("principal", principal.as_ref());
    tracing::info!("session opened");
    let frame = encode(&ServerMessage::Welcome(welcome));
    if sink.send(Message::Binary(Bytes::from(frame))).await.is_err() {
        shared.close_session(session.id, CloseReason::ConnectionLost);
        return None;
    }
    Some((sink, source, session, principal))
}

type Refusal = (CloseReason, Error);

fn protocol_error(message: impl Into<String>) -> Refusal {
    (CloseReason::ProtocolError, Error::new(ErrorKind::Protocol, message))
}

fn read_hello(
    first: Result<Option<Result<Message, WsError>>, tokio::time::error::Elapsed>,
) -> Result<Hello, Refusal> {
    let msg = match first {
        Err(_) => return Err(protocol_error("no hello within the hello timeout")),
        Ok(None) => return Err(protocol_error("connection closed before the hello")),
        Ok(Some(Err(WsError::Capacity(e)))) => {
            return Err((CloseReason::MessageTooLarge, Error::limit("max_frame_bytes", e.to_string())));
        }
        Ok(Some(Err(e))) => return Err(protocol_error(format!("WebSocket error before the hello: {e}"))),
        Ok(Some(Ok(m))) => m,
    };
    let Message::Binary(bytes) = msg else {
        return Err(protocol_error("the first frame must be a binary hello"));
    };
    match decode::<ClientMessage>(&bytes) {
        Ok(ClientMessage::Hello(hello)) => {
            if hello.version != PROTOCOL_VERSION {
                return Err(protocol_error(format!(
                    "unsupported protocol version {} (this server speaks version {PROTOCOL_VERSION})",
                    hello.version
                )));
            }
            Ok(hello)
        }
        Ok(_) => Err(protocol_error("the first message must be a hello")),
        Err(e) => Err(protocol_error(format!("the hello does not decode: {e}"))),
    }
}

async fn reject(sink: &mut Sink, reason: CloseReason, error: Error) {
    let frame = encode(&ServerMessage::Reject(Reject { reason, error: WireError::from(error) }));
    let _ = timeout(CLOSE_GRACE, async {
        sink.send(Message::Binary(Bytes::from(frame))).await?;
        sink.close().await
    })
    .await;
}

fn property_refusal(e: PropertyError) -> Refusal {
    let err = match e {
        PropertyError::Limit { key, limit, max } => {
            Error::new(ErrorKind::LimitExceeded, format!("property {key:?} breaks the limit {limit} ({max})"))
                .with_details(ErrorDetails::Limit { limit: limit.to_owned(), key: Some(key), count: None })
        }
        other @ (PropertyError::BadKey(_) | PropertyError::KeywordKey(_) | PropertyError::ReadOnly(_)) => {
            let message = other.to_string();
            let (PropertyError::BadKey(k) | PropertyError::KeywordKey(k) | PropertyError::ReadOnly(k)) =
                other
            else {
                return (CloseReason::ProtocolError, Error::new(ErrorKind::InvalidArgument, message));
            };
            Error::invalid_argument(k, message)
        }
    };
    (CloseReason::ProtocolError, err)
}

/// Authenticates the hello and registers the session.
async fn open(
    shared: &Arc<Shared>,
    listener: &ListenerConfig,
    connector: &Arc<str>,
    peer: SocketAddr,
    hello: Hello,
) -> Result<(Arc<Session>, Welcome, Box<str>), Refusal> {
    let roles = match shared.auth.authenticate(hello.principal.as_deref(), hello.password.as_deref()).await {
        Ok(roles) => roles,
        Err(e) => {
            // Never the password; the principal is not a secret.
            tracing::warn!(principal = hello.principal.as_deref().unwrap_or(""), error = %e, "authentication failed");
            let kind = ErrorKind::AuthenticationFailed;
            let message = match e {
                AuthError::Busy => e.to_string(),
                _ => "authentication failed".to_owned(),
            };
            return Err((CloseReason::AuthenticationFailed, Error::new(kind, message)));
        }
    };
    // Proposed properties are untrusted: keys, sizes, restrictions.
    shared
        .config
        .properties
        .limits
        .check(hello.properties.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .map_err(property_refusal)?;
    for (key, r) in &shared.restrictions {
        if let Some(value) = hello.properties.get(key) {
            let regex_ok = r.regex.as_ref().is_none_or(|re| re.is_match(value));
            let set_ok = r.values.as_ref().is_none_or(|vs| vs.iter().any(|v| v == value));
            if !regex_ok || !set_ok {
                return Err((
                    CloseReason::ProtocolError,
                    Error::invalid_argument(key.clone(), format!("value of property {key:?} is not allowed")),
                ));
            }
        }
    }
    let mut user = Vec::with_capacity(hello.properties.len());
    for (k, v) in &hello.properties {
        let sym = shared.interner.intern(k).ok_or_else(|| {
            (
                CloseReason::ProtocolError,
                Error::limit("interner", "the server cannot take more property names"),
            )
        })?;
        user.push((sym, Box::<str>::from(v.as_str())));
    }
    user.sort_unstable_by_key(|(k, _)| *k);
    let role_set = shared.roles.resolve(&roles).map_err(|e| (CloseReason::AuthenticationFailed, e))?;
    let id = shared.next_id();
    let policy = listener.queue.policy();
    let session = Session::new(id, policy, role_set.clone(), shared.now_ms());
    let start_time = now_ms();
    let principal: Box<str> = hello.principal.clone().unwrap_or_default().into();
    let record = Record {
        session: session.clone(),
        id,
        start_time,
        principal: principal.clone(),
        roles: role_set.clone(),
        environment: hello.environment.into(),
        country: Box::from(""),
        language: Box::from(""),
        connector: connector.clone(),
        client_ip: peer.ip(),
        client_type: hello.client_type,
        tls: false,
        user,
    };
    shared.registry.insert(record, &shared.events);
    let welcome = Welcome {
        session_id: id,
        server_name: shared.server_name.to_string(),
        roles: role_set.names.clone(),
        queue_policy: policy,
        limits: shared.config.limits.session_limits(),
        start_time,
    };
    Ok((session, welcome, principal))
}

/// Runs the session until it closes, then flushes what it may and says why.
async fn serve(
    shared: &Arc<Shared>,
    session: &Arc<Session>,
    principal: &str,
    sink: &mut Sink,
    source: &mut Source,
    shutdown: &mut Shutdown,
) {
    let reason = tokio::select! {
        r = read_loop(shared, session, principal, source) => r,
        r = write_loop(shared, session, sink) => r,
        _ = session.closing_signal() => session.closing().unwrap_or(CloseReason::ConnectionLost),
        _ = shutdown.recv() => CloseReason::ServerShutdown,
    };
    let reason = shared.close_session(session.id, reason).or(session.closing()).unwrap_or(reason);
    tracing::info!(reason = %reason, "session closed");
    if reason == CloseReason::ConnectionLost {
        return;
    }
    let closing = encode(&ServerMessage::Push(Push::Closing { reason, message: closing_message(reason) }));
    // Boxed: only closing sessions need this state.
    let _ = Box::pin(timeout(CLOSE_GRACE, async {
        while let Some(item) = session.drain_one(&shared.events) {
            sink.feed(Message::Binary(item.frame)).await?;
        }
        sink.send(Message::Binary(Bytes::from(closing))).await?;
        sink.close().await
    }))
    .await;
}

fn closing_message(reason: CloseReason) -> String {
    match reason {
        CloseReason::ClosedByController => "closed by a controller".into(),
        CloseReason::MessageQueueLimitReached => "the outbound queue passed its limit".into(),
        CloseReason::ProtocolError => "protocol error".into(),
        CloseReason::MessageTooLarge => "a frame passed the frame-size limit".into(),
        CloseReason::ServerShutdown => "the server is shutting down".into(),
        CloseReason::IdleTimeout => "no traffic within the idle timeout".into(),
        other => other.as_str().to_owned(),
    }
}

async fn read_loop(
    shared: &Arc<Shared>,
    session: &Arc<Session>,
    principal: &str,
    source: &mut Source,
) -> CloseReason {
    let limits = shared.config.limits;
    loop {
        // No per-session timer: the server's sweeper (`crate::sweeper`)
        // closes sessions whose last frame is older than the idle timeout.
        let msg = match source.next().await {
            None => return CloseReason::ConnectionLost,
            Some(Err(WsError::Capacity(e))) => {
                tracing::info!(error = %e, "frame too large");
                return CloseReason::MessageTooLarge;
            }
            Some(Err(WsError::Protocol(e))) => {
                tracing::info!(error = %e, "WebSocket protocol error");
                return CloseReason::ProtocolError;
            }
            Some(Err(_)) => return CloseReason::ConnectionLost,
            Some(Ok(m)) => m,
        };
        session.touch(shared.now_ms());
        let bytes = match msg {
            Message::Binary(b) => b,
            Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => continue,
            Message::Close(_) => return CloseReason::ClosedByClient,
            Message::Text(_) => {
                tracing::info!("text frame; the protocol is binary");
                return CloseReason::ProtocolError;
            }
        };
        let (id, request) = match decode::<ClientMessage>(&bytes) {
            Ok(ClientMessage::Request { id, request }) => (id, request),
            Ok(ClientMessage::Bye) => return CloseReason::ClosedByClient,
            Ok(ClientMessage::Hello(_)) => {
                tracing::info!("second hello");
                return CloseReason::ProtocolError;
            }
            Err(e) => {
                tracing::info!(error = %e, "undecodable frame");
                return CloseReason::ProtocolError;
            }
        };
        if !session.begin_request(limits.max_in_flight) {
            tracing::info!(max = limits.max_in_flight, "too many requests in flight");
            return CloseReason::ProtocolError;
        }
        // With a cluster, requests on other servers' sessions are routed.
        let Some(request) = crate::cluster::intercept(shared, session, principal, id, request) else {
            continue;
        };
        let outcome = crate::cmd::dispatch(shared, session, principal, request);
        session.respond(&shared.events, id, outcome.result);
        for push in outcome.after {
            session.push(&shared.events, push);
        }
        if outcome.close_self {
            return CloseReason::ClosedByController;
        }
    }
}

/// Writes queued messages as fast as the socket takes them, paced by the
/// throttler; pings when the sweeper asks. Returns when the session starts
/// closing or the socket fails.
async fn write_loop(shared: &Arc<Shared>, session: &Arc<Session>, sink: &mut Sink) -> CloseReason {
    let mut next_write = Instant::now();
    loop {
        match session.next(&shared.events) {
            Next::Item(item) => {
                let len = item.frame.len() as u64;
                match session.throttler() {
                    Throttler::Unthrottled => {}
                    Throttler::MessagesPerSecond(n) => {
                        // Boxed: throttling is rare, and an inline timer
                        // would grow every session's future.
                        Box::pin(tokio::time::sleep_until(next_write)).await;
                        next_write = next_write.max(Instant::now()) + Duration::from_secs(1) / n.max(1);
                    }
                    Throttler::BytesPerSecond(b) => {
                        // Boxed: throttling is rare, and an inline timer
                        // would grow every session's future.
                        Box::pin(tokio::time::sleep_until(next_write)).await;
                        let secs = len as f64 / b.max(1) as f64;
                        next_write = next_write.max(Instant::now()) + Duration::from_secs_f64(secs.min(60.0));
                    }
                }
                if sink.send(Message::Binary(item.frame)).await.is_err() {
                    return CloseReason::ConnectionLost;
                }
            }
            Next::Closing(reason) => return reason,
            Next::Empty => {
                if session.take_ping() {
                    if sink.send(Message::Ping(Bytes::new())).await.is_err() {
                        return CloseReason::ConnectionLost;
                    }
                    continue;
                }
                session.notified().await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn session_future_stays_small() -> anyhow::Result<()> {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = l.local_addr()?;
        let _c = TcpStream::connect(addr).await?;
        let (s, peer) = l.accept().await?;
        let shared = Shared::new(crate::Config::default())?;
        let sem = Arc::new(tokio::sync::Semaphore::new(1));
        let permit = sem.try_acquire_owned()?;
        let (tx, rx) = tokio::sync::broadcast::channel(1);
        let f = handle(s, peer, shared, ListenerConfig::default(), Arc::from("x"), permit, Shutdown::new(rx));
        // The task's allocation lives as long as the session; the hello
        // phase is boxed so it does not count. (Debug-build size; release
        // is smaller.)
        let size = std::mem::size_of_val(&f);
        assert!(size < 2048, "the per-session future grew to {size} B");
        drop(tx);
        Ok(())
    }
}
