//! One connection from accept to close: the WebSocket upgrade, the hello,
//! the welcome or rejection, then the session's read and write loops.
//!
//! One tokio task per connection while it is active. Its reader and writer
//! are one hand-written future ([`Conn`]), not two tasks: half the memory per
//! idle session, and the reader keeps serving requests while the writer is
//! blocked on a client that does not read. The writer writes only as fast as
//! the socket accepts, so a slow client's backlog stays in its outbound queue
//! where it is counted, conflated and bounded.
//!
//! An idle plain session gives its task up ([`crate::park`]): [`Conn`] ends
//! with [`Ended::Park`], [`serve`] hands the raw socket to the parking
//! component, and [`resume`] later starts a new task on the same socket.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use std::future::Future;
use std::ops::ControlFlow;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio::sync::OwnedSemaphorePermit;
use tokio::time::{Instant, Sleep, timeout};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::error::ProtocolError;
use tokio_tungstenite::tungstenite::protocol::{Role, WebSocketConfig};
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use tracing::Instrument;
use usher_core::protocol::{
    ClientMessage, CloseReason, Hello, Push, Reject, ServerMessage, Throttler, Welcome, WireError, decode,
    encode,
};
use usher_core::{Error, ErrorKind};

use crate::auth::AuthError;
use crate::boundary::Boundary;
use crate::config::ListenerConfig;
use crate::hello::Refusal;
use crate::park::{Held, Parked};
use crate::registry::{Record, ShortStr, UserProps};
use crate::session::{Next, Session};
use crate::shutdown::Shutdown;
use crate::state::Shared;
use crate::tls::Stream;

type Ws = WebSocketStream<Stream>;

/// How long a closing session may take to flush its last messages.
pub(crate) const CLOSE_GRACE: Duration = Duration::from_millis(500);

/// Frames tungstenite gathers before it writes them to the socket: the
/// writer flushes at the end of every poll anyway, so the responses to one
/// burst of pipelined requests leave in one `send` instead of one each
/// (SPEC §9 P6: a `send` per response was ~30% of the server's CPU), and a
/// closing session's `Closing` push and Close frame in one. Bound: the
/// buffer's capacity is kept, so a session that once had a burst holds at
/// most this plus its largest frame; an idle session only ever wrote its
/// welcome (P1 unchanged).
const WRITE_BATCH: usize = 4 * 1024;

/// Tungstenite's settings for a server connection: a small read buffer (the
/// default eagerly allocates 128 KiB per connection, SPEC §6), a small write
/// batch ([`WRITE_BATCH`]) and the frame bound.
fn ws_config(max_frame: u32) -> WebSocketConfig {
    let max = max_frame as usize;
    WebSocketConfig::default()
        .read_buffer_size(256)
        .write_buffer_size(WRITE_BATCH)
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
///
/// Not an `async fn`: an async fn keeps its arguments in its state for the
/// whole session. The hello phase owns them instead and is boxed (large and
/// short-lived), so the long-lived state of an open session is only the
/// socket, two `Arc`s and the loop's flags (SPEC §6 memory).
pub(crate) fn handle(
    accepted: Accepted,
    shared: Arc<Shared>,
    listener: ListenerConfig,
    connector: Arc<str>,
    shutdown: Shutdown,
    held: Held,
) -> impl Future<Output = ()> + Send + 'static {
    let peer = accepted.peer;
    // A debug span, not info: an enabled span lives as long as the session
    // and keeps its formatted fields, ~1 KB per idle session (SPEC §9 P1),
    // and costs every session's open. The info and warn lines below carry
    // the peer or the session id themselves.
    let span = tracing::debug_span!("session", %peer, connector = %connector, id = tracing::field::Empty, principal = tracing::field::Empty);
    let hello = Box::pin(hello_phase(accepted, shared.clone(), listener, connector, shutdown));
    async move {
        let Some((mut ws, session, principal)) = hello.await else { return };
        if serve(&shared, &session, &principal, &mut ws, true).await == Served::Idle {
            park(&shared, session, principal, ws, held);
        }
    }
    .instrument(span)
}

/// A new connection task for a parked session (see [`crate::park`]): a
/// fresh tungstenite state on the same socket, then [`serve`] as before.
pub(crate) fn resume(parked: Parked, shared: Arc<Shared>) -> impl Future<Output = ()> + Send + 'static {
    let Parked { socket, session, principal, held } = parked;
    let span = tracing::debug_span!("session", id = %session.id, principal = %principal);
    async move {
        let tcp = match TcpStream::from_std(socket) {
            Ok(tcp) => tcp,
            Err(e) => {
                tracing::warn!(session = %session.id, error = %e, "cannot resume a parked session");
                shared.close_session(session.id, CloseReason::ConnectionLost);
                return;
            }
        };
        let config = ws_config(shared.config.limits.max_frame_bytes);
        let stream = Stream::Plain(tcp, Boundary::frames());
        let mut ws = WebSocketStream::from_raw_socket(stream, Role::Server, Some(config)).await;
        if serve(&shared, &session, &principal, &mut ws, false).await == Served::Idle {
            park(&shared, session, principal, ws, held);
        }
    }
    .instrument(span)
}

/// Hands an idle session's socket to the parking component.
fn park(shared: &Arc<Shared>, session: Arc<Session>, principal: Box<str>, ws: Ws, held: Held) {
    let Some(parker) = shared.parker.get() else { return };
    // `serve` says `Idle` only for plain streams.
    let socket = match ws.into_inner() {
        Stream::Plain(tcp, _) => tcp.into_std(),
        Stream::Tls(_) => Err(std::io::Error::other("a TLS stream cannot park")),
    };
    match socket {
        Ok(socket) => parker.park(Parked { socket, session, principal, held }),
        Err(e) => {
            tracing::warn!(session = %session.id, error = %e, "cannot park");
            shared.close_session(session.id, CloseReason::ConnectionLost);
        }
    }
}

/// How [`serve`] ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Served {
    /// The session closed (and its connection with it).
    Closed,
    /// The session is idle and may be parked.
    Idle,
}

type Opened = (Ws, Arc<Session>, Box<str>);

/// A socket fresh from `accept`, with what its hello phase needs.
#[derive(Debug)]
pub(crate) struct Accepted {
    pub socket: TcpStream,
    pub peer: SocketAddr,
    /// The listener's TLS acceptor, when it has a certificate.
    pub tls: Option<crate::tls::Acceptor>,
    /// Held until the hello phase ends (SPEC §6: bounded pending hellos).
    pub hello_permit: OwnedSemaphorePermit,
}

/// TLS (if configured), upgrade, hello, welcome (or rejection). `None` when
/// no session opened.
async fn hello_phase(
    accepted: Accepted,
    shared: Arc<Shared>,
    listener: ListenerConfig,
    connector: Arc<str>,
    mut shutdown: Shutdown,
) -> Option<Opened> {
    let Accepted { socket, peer, tls, hello_permit } = accepted;
    let opened = hello_steps(socket, peer, tls, &shared, &listener, &connector, &mut shutdown).await;
    drop(hello_permit);
    opened
}

async fn hello_steps(
    socket: TcpStream,
    peer: SocketAddr,
    tls: Option<crate::tls::Acceptor>,
    shared: &Arc<Shared>,
    listener: &ListenerConfig,
    connector: &Arc<str>,
    shutdown: &mut Shutdown,
) -> Option<Opened> {
    let _ = socket.set_nodelay(true);
    let limits = shared.config.limits;
    let deadline = Instant::now() + limits.hello_timeout();
    // The hello bound covers the TLS handshake and the HTTP upgrade too.
    let stream = match tls {
        None => Stream::Plain(socket, Boundary::http()),
        Some(acceptor) => {
            let handshake = tokio::time::timeout_at(deadline, acceptor.accept(socket));
            tokio::select! {
                _ = shutdown.recv() => return None,
                r = handshake => match r {
                    Ok(Ok(tls)) => tls,
                    // A plain ws:// client or a scanner on the TLS port: log it
                    // and drop the socket; nothing else is affected.
                    Ok(Err(e)) => { tracing::info!(%peer, error = %e, "TLS handshake failed"); return None; }
                    Err(_) => { tracing::info!(%peer, "no TLS handshake within the hello timeout"); return None; }
                },
            }
        }
    };
    let is_tls = matches!(stream, Stream::Tls(_));
    let upgrade =
        tokio_tungstenite::accept_async_with_config(stream, Some(ws_config(limits.max_frame_bytes)));
    let ws = tokio::select! {
        _ = shutdown.recv() => return None,
        r = tokio::time::timeout_at(deadline, upgrade) => match r {
            Ok(Ok(ws)) => ws,
            Ok(Err(e)) => { tracing::debug!(error = %e, "WebSocket upgrade failed"); return None; }
            Err(_) => { tracing::info!(%peer, "no WebSocket upgrade within the hello timeout"); return None; }
        },
    };
    let mut ws = ws;
    let first = tokio::select! {
        _ = shutdown.recv() => return None,
        r = tokio::time::timeout_at(deadline, ws.next()) => r,
    };
    let hello = match read_hello(first, &shared.hello) {
        Ok(hello) => hello,
        Err((reason, error)) => {
            tracing::info!(%peer, reason = %reason, error = %error.message, "hello refused");
            reject(&mut ws, reason, error).await;
            return None;
        }
    };
    let (session, welcome, principal) = match open(shared, listener, connector, peer, is_tls, hello).await {
        Ok(opened) => opened,
        Err((reason, error)) => {
            tracing::info!(%peer, reason = %reason, kind = %error.kind, error = %error.message, "hello refused");
            reject(&mut ws, reason, error).await;
            return None;
        }
    };
    tracing::Span::current().record("id", tracing::field::display(session.id));
    tracing::Span::current().record("principal", principal.as_ref());
    // Debug, not info: one line per session costs the open and close
    // bursts of SPEC §9 (P3, P7) several µs each; the audit log (info)
    // still records every control operation.
    tracing::debug!("session opened");
    let frame = encode(&ServerMessage::Welcome(welcome));
    if ws.send(Message::Binary(Bytes::from(frame))).await.is_err() {
        shared.close_session(session.id, CloseReason::ConnectionLost);
        return None;
    }
    Some((ws, session, principal))
}

fn protocol_error(message: impl Into<String>) -> Refusal {
    (CloseReason::ProtocolError, Error::new(ErrorKind::Protocol, message))
}

fn read_hello(
    first: Result<Option<Result<Message, WsError>>, tokio::time::error::Elapsed>,
    rules: &crate::hello::HelloRules,
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
    // Decoded and checked before any password is verified (crate::hello).
    rules.check_frame(&bytes)
}

async fn reject(ws: &mut Ws, reason: CloseReason, error: Error) {
    let frame = encode(&ServerMessage::Reject(Reject { reason, error: WireError::from(error) }));
    let _ = timeout(CLOSE_GRACE, async {
        ws.send(Message::Binary(Bytes::from(frame))).await?;
        ws.close(None).await
    })
    .await;
    // A client may have pipelined requests behind its hello.
    linger(ws).await;
}

/// Authenticates the hello and registers the session.
async fn open(
    shared: &Arc<Shared>,
    listener: &ListenerConfig,
    connector: &Arc<str>,
    peer: SocketAddr,
    tls: bool,
    hello: Hello,
) -> Result<(Arc<Session>, Welcome, Box<str>), Refusal> {
    let roles = match shared.auth.authenticate(hello.principal.as_deref(), hello.password.as_deref()).await {
        Ok(roles) => roles,
        Err(e) => {
            // Never the password; the principal is not a secret.
            tracing::warn!(%peer, principal = hello.principal.as_deref().unwrap_or(""), error = %e, "authentication failed");
            let kind = ErrorKind::AuthenticationFailed;
            let message = match e {
                AuthError::Busy => e.to_string(),
                _ => "authentication failed".to_owned(),
            };
            return Err((CloseReason::AuthenticationFailed, Error::new(kind, message)));
        }
    };
    let mut user = Vec::with_capacity(hello.properties.len());
    for (k, v) in &hello.properties {
        let sym = shared.interner.intern(k).ok_or_else(|| {
            (
                CloseReason::ProtocolError,
                Error::limit("interner", "the server cannot take more property names"),
            )
        })?;
        user.push((sym, v.as_str()));
    }
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
        principal: ShortStr::from(&*principal),
        roles: role_set.clone(),
        environment: hello.environment.into(),
        country: Box::from(""),
        language: Box::from(""),
        connector: connector.clone(),
        client_ip: peer.ip(),
        client_type: hello.client_type,
        tls,
        user: UserProps::new(user),
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

/// Runs the session until it closes, then flushes what it may and says
/// why; or until it is idle and may park ([`crate::park`]). A `fresh`
/// session (just welcomed) parks as soon as it is idle, without waiting for
/// the sweeper's hints: see [`Conn::fresh`].
async fn serve(
    shared: &Arc<Shared>,
    session: &Arc<Session>,
    principal: &str,
    ws: &mut Ws,
    fresh: bool,
) -> Served {
    // Sessions opened while the server was shutting down were not in the
    // registry when it closed everyone: close them here.
    if shared.is_shutting_down() {
        session.mark_closing(CloseReason::ServerShutdown);
    }
    let may_park = match ws.get_ref() {
        Stream::Plain(..) => shared.parker.get().is_some(),
        Stream::Tls(_) => {
            session.never_park();
            false
        }
    };
    let ended = Conn {
        ws: &mut *ws,
        shared,
        session,
        principal,
        pending: None,
        unflushed: 0,
        throttle: None,
        active: !fresh,
        fresh,
        may_park,
    }
    .await;
    let reason = match ended {
        Ended::Park => return Served::Idle,
        Ended::Closed(reason) => reason,
    };
    let reason = shared.close_session(session.id, reason).or(session.closing()).unwrap_or(reason);
    tracing::debug!(reason = %reason, "session closed");
    if reason == CloseReason::ConnectionLost {
        return Served::Closed;
    }
    let closing = closing_push(reason);
    // Boxed: only closing sessions need this state.
    Box::pin(async {
        let _ = timeout(CLOSE_GRACE, async {
            while let Some(item) = session.drain_one(&shared.events) {
                ws.feed(Message::Binary(item.frame)).await?;
            }
            // Fed, not sent: the close below writes it with the Close frame.
            ws.feed(Message::Binary(Bytes::from(closing))).await?;
            ws.close(None).await
        })
        .await;
        linger(ws).await;
    })
    .await;
    Served::Closed
}

/// How long a closed connection keeps reading what its peer still sends.
pub(crate) const LINGER: Duration = Duration::from_secs(1);

/// How many bytes a closed connection reads and discards at most.
pub(crate) const LINGER_BYTES: usize = 1 << 20;

/// After our close frame: reads and discards until the peer's close frame
/// or end, [`LINGER`] or [`LINGER_BYTES`], whichever comes first, then
/// shuts the write half down (the FIN; with TLS, `close_notify` first) for
/// the caller to drop the socket. The server closes TCP after the closing
/// handshake, as RFC 6455 §7.1.1 has it (docs/PROTOCOL.md).
///
/// Why wait: dropping a socket whose receive buffer holds unread bytes
/// (requests the client pipelined before it learnt of the close) makes the
/// kernel send RST instead of FIN, and the RST can destroy the `Closing`
/// push still in flight, so the client would report `CONNECTION_LOST`
/// instead of the real reason. Once the peer answers our close (or closes),
/// it has read everything we sent and dropping is safe.
async fn linger<S>(ws: &mut WebSocketStream<S>)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    use tokio::io::AsyncWriteExt;
    let _ = timeout(LINGER, async {
        let mut seen = 0usize;
        // Tungstenite returns the frames still arriving, the peer's close
        // frame, then `None` or an error once the socket ends.
        while let Some(Ok(msg)) = ws.next().await {
            seen = seen.saturating_add(msg.len());
            if seen >= LINGER_BYTES || matches!(msg, Message::Close(_)) {
                break;
            }
        }
    })
    .await;
    let _ = timeout(CLOSE_GRACE, ws.get_mut().shutdown()).await;
}

/// The `Closing` push for `reason`, encoded (the last message of every
/// closed session, whether its task or the parking component writes it).
pub(crate) fn closing_push(reason: CloseReason) -> Vec<u8> {
    encode(&ServerMessage::Push(Push::Closing { reason, message: closing_message(reason) }))
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

/// Most frames read, or written, in one poll before yielding, so one busy
/// session cannot hog a worker thread.
const BUDGET: usize = 64;

/// Bytes written to tungstenite before waiting for them to reach the socket.
const FLUSH_BATCH: usize = 16 * 1024;

/// The connection loop of one open session, as one hand-written future
/// rather than reader and writer futures under `select!`: it holds the
/// socket, two flags and an optional boxed timer (throttling only), so an
/// idle session's task stays small (SPEC §6, §9 P1). It also keeps all of a
/// session's state in one place, which parking ([`crate::park`]) needs: it
/// ends with [`Ended::Park`] when nothing of that state would be lost.
///
/// Reads: each request is handled synchronously and its response queued.
/// Writes: the queue is drained only as fast as the socket accepts, so a
/// client that stops reading backs its queue up.
struct Conn<'a> {
    ws: &'a mut Ws,
    shared: &'a Arc<Shared>,
    session: &'a Arc<Session>,
    principal: &'a str,
    /// Taken from the queue, not yet accepted by the socket.
    pending: Option<Message>,
    /// Bytes written since the last completed flush.
    unflushed: usize,
    /// The throttler's next allowed write, boxed: most sessions never need it.
    throttle: Option<Pin<Box<Sleep>>>,
    /// A frame was read or written since the last park hint.
    active: bool,
    /// Just welcomed: park on the first poll that finds the session idle
    /// (nothing read since the welcome, nothing to write), hint or not. A
    /// burst of new sessions (SPEC §9 P1, P7) then never holds a task and
    /// tungstenite state per session at once, which the allocator would
    /// keep as resident memory after the sessions parked; a client that
    /// sends its first request a moment later pays one resumption.
    fresh: bool,
    /// The session may park (a plain stream, parking on).
    may_park: bool,
}

/// How a connection task's loop ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ended {
    /// The session is closing, for this reason.
    Closed(CloseReason),
    /// The session is idle and its socket can be parked ([`crate::park`]).
    Park,
}

impl Future for Conn<'_> {
    type Output = Ended;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Ended> {
        // The audit lines of the requests this poll handles leave together.
        let _log = crate::log::batch();
        self.get_mut().poll_conn(cx).map(|r| r.map_or(Ended::Park, Ended::Closed))
    }
}

impl Conn<'_> {
    /// One poll: `Ready(Some(reason))` to close, `Ready(None)` to park.
    fn poll_conn(&mut self, cx: &mut Context<'_>) -> Poll<Option<CloseReason>> {
        let this = self;
        // Register first: a push after our checks below wakes us again.
        this.session.register(cx.waker());
        let mut more = false;
        match this.poll_reads(cx) {
            ControlFlow::Break(reason) => return Poll::Ready(Some(reason)),
            ControlFlow::Continue(busy) => more |= busy,
        }
        // Closing wins even while the socket is blocked (a slow consumer
        // closed for its queue must not wait for the socket).
        if let Some(reason) = this.session.closing() {
            return Poll::Ready(Some(reason));
        }
        match this.poll_writes(cx) {
            ControlFlow::Break(reason) => return Poll::Ready(Some(reason)),
            ControlFlow::Continue(busy) => more |= busy,
        }
        if more {
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        // Just welcomed and idle: park at once (see `fresh`).
        if std::mem::take(&mut this.fresh) && this.may_park && !this.active && this.parkable(cx) {
            return Poll::Ready(None);
        }
        // The sweeper's hint: park if nothing happened since the last one.
        if this.session.take_park_hint() {
            if this.may_park && !this.active && this.parkable(cx) {
                return Poll::Ready(None);
            }
            this.active = false;
        }
        Poll::Pending
    }

    /// True when nothing would be lost by dropping tungstenite's state now
    /// (see [`crate::park`]). Called only after a poll in which reading
    /// returned `Pending` and the writer found the queue empty.
    fn parkable(&mut self, cx: &mut Context<'_>) -> bool {
        if self.pending.is_some() || self.unflushed > 0 || self.shared.is_shutting_down() {
            return false;
        }
        if self.throttle.as_ref().is_some_and(|t| t.deadline() > Instant::now()) {
            return false;
        }
        let Stream::Plain(_, boundary) = self.ws.get_ref() else { return false };
        // Pending reads mean every whole frame was taken out of tungstenite's
        // buffer; at a frame boundary, then, nothing is left in it.
        if !boundary.at_rest() {
            return false;
        }
        // Anything tungstenite still holds to write (an automatic pong).
        matches!(self.ws.poll_flush_unpin(cx), Poll::Ready(Ok(())))
    }

    /// Reads and handles frames; `Continue(true)` when the budget ran out.
    fn poll_reads(&mut self, cx: &mut Context<'_>) -> ControlFlow<CloseReason, bool> {
        for _ in 0..BUDGET {
            let msg = match self.ws.poll_next_unpin(cx) {
                Poll::Pending => return ControlFlow::Continue(false),
                Poll::Ready(None) => return ControlFlow::Break(CloseReason::ConnectionLost),
                Poll::Ready(Some(Err(WsError::Capacity(e)))) => {
                    tracing::info!(session = %self.session.id, error = %e, "frame too large");
                    return ControlFlow::Break(CloseReason::MessageTooLarge);
                }
                // The peer went away without a closing handshake (its
                // process died, it dropped the socket): a lost connection,
                // not a protocol error.
                Poll::Ready(Some(Err(WsError::Protocol(ProtocolError::ResetWithoutClosingHandshake)))) => {
                    return ControlFlow::Break(CloseReason::ConnectionLost);
                }
                Poll::Ready(Some(Err(WsError::Protocol(e)))) => {
                    tracing::info!(session = %self.session.id, error = %e, "WebSocket protocol error");
                    return ControlFlow::Break(CloseReason::ProtocolError);
                }
                Poll::Ready(Some(Err(_))) => return ControlFlow::Break(CloseReason::ConnectionLost),
                Poll::Ready(Some(Ok(m))) => m,
            };
            // The sweeper closes sessions whose last frame is too old.
            self.session.touch(self.shared.now_ms());
            self.active = true;
            if let Some(reason) = self.handle(msg) {
                return ControlFlow::Break(reason);
            }
        }
        ControlFlow::Continue(true)
    }

    /// Handles one frame; `Some` ends the session.
    fn handle(&mut self, msg: Message) -> Option<CloseReason> {
        let bytes = match msg {
            Message::Binary(b) => b,
            Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => return None,
            Message::Close(_) => return Some(CloseReason::ClosedByClient),
            Message::Text(_) => {
                tracing::info!(session = %self.session.id, "text frame; the protocol is binary");
                return Some(CloseReason::ProtocolError);
            }
        };
        let (id, request) = match decode::<ClientMessage>(&bytes) {
            Ok(ClientMessage::Request { id, request }) => (id, request),
            Ok(ClientMessage::Bye) => return Some(CloseReason::ClosedByClient),
            Ok(ClientMessage::Hello(_)) => {
                tracing::info!(session = %self.session.id, "second hello");
                return Some(CloseReason::ProtocolError);
            }
            Err(e) => {
                tracing::info!(session = %self.session.id, error = %e, "undecodable frame");
                return Some(CloseReason::ProtocolError);
            }
        };
        let (shared, session) = (self.shared, self.session);
        let max = shared.config.limits.max_in_flight;
        if !session.begin_request(max) {
            tracing::info!(session = %session.id, max, "too many requests in flight");
            return Some(CloseReason::ProtocolError);
        }
        // With a cluster, requests on other servers' sessions are routed
        // (`None`: the routing task queues the response later).
        let request = crate::cluster::intercept(shared, session, self.principal, id, request)?;
        let outcome = crate::cmd::dispatch(shared, session, self.principal, request);
        session.respond(&shared.events, id, outcome.result);
        for push in outcome.after {
            session.push(&shared.events, push);
        }
        outcome.close_self.then_some(CloseReason::ClosedByController)
    }

    /// Writes queued messages (paced by the throttler) and pings; returns
    /// when the socket is full, the queue is empty or the budget ran out.
    fn poll_writes(&mut self, cx: &mut Context<'_>) -> ControlFlow<CloseReason, bool> {
        let mut budget_left = true;
        for n in 0..=BUDGET {
            if n == BUDGET {
                budget_left = false;
                break;
            }
            // Write only as fast as the socket takes it: past a small batch,
            // nothing more leaves the queue until the socket accepted it all
            // (tungstenite would otherwise buffer without bound).
            if self.unflushed >= FLUSH_BATCH && !self.flush(cx)? {
                break;
            }
            if self.pending.is_none() {
                match self.session.next(&self.shared.events) {
                    Next::Item(item) => self.pending = Some(Message::Binary(item.frame)),
                    Next::Closing(reason) => return ControlFlow::Break(reason),
                    Next::Empty if self.session.take_ping() => {
                        self.pending = Some(Message::Ping(Bytes::new()))
                    }
                    Next::Empty => break,
                }
            }
            if !self.throttle_allows(cx) {
                break;
            }
            match self.ws.poll_ready_unpin(cx) {
                Poll::Pending => break,
                Poll::Ready(Err(_)) => return ControlFlow::Break(CloseReason::ConnectionLost),
                Poll::Ready(Ok(())) => {}
            }
            let Some(msg) = self.pending.take() else { break };
            let len = msg.len();
            if self.ws.start_send_unpin(msg).is_err() {
                return ControlFlow::Break(CloseReason::ConnectionLost);
            }
            self.unflushed += len.max(1);
            self.active = true;
            self.after_write(len as u64);
        }
        if self.unflushed > 0 {
            self.flush(cx)?;
        }
        // Budget spent with work left: come back after other tasks ran.
        ControlFlow::Continue(!budget_left && self.unflushed == 0)
    }

    /// Flushes; `Continue(true)` once everything written reached the socket.
    fn flush(&mut self, cx: &mut Context<'_>) -> ControlFlow<CloseReason, bool> {
        match self.ws.poll_flush_unpin(cx) {
            Poll::Ready(Ok(())) => {
                self.unflushed = 0;
                ControlFlow::Continue(true)
            }
            Poll::Ready(Err(_)) => ControlFlow::Break(CloseReason::ConnectionLost),
            Poll::Pending => ControlFlow::Continue(false),
        }
    }

    /// True when the throttler lets the pending message go now.
    fn throttle_allows(&mut self, cx: &mut Context<'_>) -> bool {
        if self.session.throttler() == Throttler::Unthrottled {
            self.throttle = None;
            return true;
        }
        match &mut self.throttle {
            None => true,
            Some(sleep) => sleep.as_mut().poll(cx).is_ready(),
        }
    }

    /// Moves the throttler's next allowed write past this one.
    fn after_write(&mut self, len: u64) {
        let delay = match self.session.throttler() {
            Throttler::Unthrottled => return,
            Throttler::MessagesPerSecond(n) => Duration::from_secs(1) / n.max(1),
            Throttler::BytesPerSecond(b) => Duration::from_secs_f64((len as f64 / b.max(1) as f64).min(60.0)),
        };
        let now = Instant::now();
        match &mut self.throttle {
            Some(sleep) => {
                let next = sleep.deadline().max(now) + delay;
                sleep.as_mut().reset(next);
            }
            None => self.throttle = Some(Box::pin(tokio::time::sleep_until(now + delay))),
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
        let accepted = Accepted { socket: s, peer, tls: None, hello_permit: permit };
        let conn_sem = Arc::new(tokio::sync::Semaphore::new(1));
        let (done, _done_rx) = tokio::sync::mpsc::channel(1);
        let held = Held::new(conn_sem.try_acquire_owned()?, done);
        let f = handle(accepted, shared, ListenerConfig::default(), Arc::from("x"), Shutdown::new(rx), held);
        // The task's allocation lives as long as the session; the hello
        // phase is boxed so it does not count. (Debug-build size; release
        // is smaller.)
        let size = std::mem::size_of_val(&f);
        println!("per-session future: {size} B");

        assert!(size < 1024, "the per-session future grew to {size} B");
        drop(tx);
        Ok(())
    }
}
