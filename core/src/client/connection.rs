//! The machinery under a [`Session`](crate::client::Session): the WebSocket,
//! one reader task, one writer task, and the shared state they and the API
//! handles use (requests in flight, the queue behind the in-flight bound,
//! listener registrations and topic subscriptions).
//!
//! Why this shape:
//! - Submitting a request is synchronous (lock, admit or queue, write or
//!   `try_send` the frame), so `Drop` impls can unregister without a runtime,
//!   and only waiting for the answer is async.
//! - A request submitted while no other is in flight and the write half is
//!   idle is written to the socket by the submitting thread itself
//!   ([`Inner::write_direct`]); otherwise it goes through the writer task's
//!   channel, which batches a burst into one send. A binding's caller thread is
//!   not a runtime thread, and handing the frame to the writer task would
//!   cost a thread wake-up (tens of µs on an idle vCPU) on every call with
//!   one request in flight (SPEC §9, P9).
//! - The state is behind a `std::sync::Mutex`, not a tokio one: nothing awaits
//!   while it is held, and every critical section is a few map operations.
//! - The reader routes a registration's snapshot events (pushed before the
//!   reply that completes the registration) into that registration's
//!   snapshot buffer, and hands the buffer over together with the reply, so
//!   the snapshot is delivered in order before any live event.

use std::collections::{HashMap, VecDeque};
use std::pin::Pin;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use futures_util::stream::{SplitSink, SplitStream};
use futures_util::task::AtomicWaker;
use futures_util::{Sink as _, SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::AbortHandle;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::client::options::ConnectOptions;
use crate::error::{Error, ErrorDetails, ErrorKind, Result};
use crate::protocol::{
    self, ClientMessage, CloseReason, Hello, PROTOCOL_VERSION, Push, QueueEvent, RegistrationId, Reply,
    Request, ServerMessage, SessionEvent, Welcome,
};

pub(crate) type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Something delivered to a registration or a subscription (public only so
/// the sealed `StreamItem` trait can name it; not reachable from outside).
#[derive(Debug)]
pub enum Item {
    Session(SessionEvent),
    Queue(QueueEvent),
    Topic(String, Vec<u8>),
}

/// What a registration handle and the reader share: the terminal error, set
/// before the reader drops its sender so the consumer sees it after the
/// buffered events.
#[derive(Debug, Default)]
pub(crate) struct SinkShared {
    error: Mutex<Option<Error>>,
}

impl SinkShared {
    fn set_error(&self, error: Error) {
        let mut slot = lock(&self.error);
        if slot.is_none() {
            *slot = Some(error);
        }
    }

    /// Takes the terminal error, if any (once).
    pub(crate) fn take_error(&self) -> Option<Error> {
        lock(&self.error).take()
    }
}

/// Which sink a request completes or an item goes to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum SinkKey {
    Registration(RegistrationId),
    Subscription(u64),
}

struct Sink {
    // Bounded at `listener_buffer`. When full, the reader waits for room up to
    // `listener_stall_timeout` (so a slow consumer slows the socket reader,
    // which lets the server's queue for this session grow, as SPEC §5.2
    // intends); past that the sink fails with LIMIT_EXCEEDED and is removed,
    // so a stuck consumer never blocks the reader forever.
    tx: mpsc::Sender<Item>,
    ready: bool,
    // Events that arrive before the reply completing the registration. Not
    // bounded by `listener_buffer` (nobody can consume before the
    // registration resolves), but by what the server sends before that
    // reply: one event per existing matching session (or one value per
    // matching topic), plus live events during the snapshot.
    snapshot: VecDeque<Item>,
    shared: Arc<SinkShared>,
}

struct Subscription {
    selector: String,
    sink: Sink,
}

/// A successful answer, with the snapshot of a registration it completes.
pub(crate) struct Answer {
    pub(crate) reply: Reply,
    pub(crate) snapshot: VecDeque<Item>,
}

type ReplySender = oneshot::Sender<Result<Answer>>;

/// The socket's write half and what is half-way through it. Locked by the
/// writer task while it polls, and tried (never waited for) by a submitting
/// thread that writes directly. Order: a frame leaves the channel only into
/// `held` or the sink, both under this lock, and a direct write happens only
/// when the channel is empty and nothing is held or unflushed, so no frame
/// submitted earlier by the same thread is overtaken.
struct Writer {
    sink: SplitSink<Ws, Message>,
    /// A frame taken off the channel that the sink had no room for yet.
    held: Option<Message>,
    /// Frames accepted by the sink and not flushed yet.
    dirty: bool,
}

struct Pending {
    /// `None` for fire-and-forget requests (unregister from `Drop`).
    reply: Option<ReplySender>,
    sink: Option<SinkKey>,
}

struct Queued {
    frame: Message,
    id: u64,
    pending: Pending,
}

#[derive(Default)]
struct State {
    closed: Option<CloseReason>,
    /// The reason the server gave in `Push::Closing`.
    closing: Option<CloseReason>,
    bye_sent: bool,
    in_flight: usize,
    pending: HashMap<u64, Pending>,
    waiting: VecDeque<Queued>,
    registrations: HashMap<RegistrationId, Sink>,
    subscriptions: HashMap<u64, Subscription>,
}

/// The state shared by the API handles, the reader and the writer.
pub(crate) struct Inner {
    pub(crate) welcome: Welcome,
    pub(crate) request_timeout: Duration,
    listener_buffer: usize,
    stall_timeout: Duration,
    max_in_flight: usize,
    max_frame: usize,
    state: Mutex<State>,
    // Bounded at max_in_flight + 8. Only admitted requests (at most
    // max_in_flight of them, each leaving the channel before its response can
    // arrive) and one `Bye` ever enter it, so `try_send` cannot find it full;
    // if it ever did, that would be a bug, reported as INTERNAL to the caller.
    out: mpsc::Sender<Message>,
    writer: Mutex<Writer>,
    /// The writer task's waker: woken when a direct write leaves work behind.
    writer_waker: AtomicWaker,
    pub(crate) roles: watch::Sender<Vec<String>>,
    pub(crate) closed: watch::Sender<Option<CloseReason>>,
    next_request: AtomicU64,
    next_registration: AtomicU32,
    next_subscription: AtomicU64,
    reader: Mutex<Option<AbortHandle>>,
    /// The socket's descriptor, for [`Inner::socket_fd`].
    #[cfg(unix)]
    fd: std::os::fd::RawFd,
}

impl std::fmt::Debug for Inner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Inner").field("session_id", &self.welcome.session_id).finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding one of these locks leaves plain data behind, still
    // consistent enough to close the session, so poisoning is ignored.
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn connection_error(message: &str, e: impl std::error::Error + Send + Sync + 'static) -> Error {
    Error::new(ErrorKind::Connection, format!("{message}: {e}")).with_source(e)
}

/// Connects, says hello, waits for the welcome and starts the tasks.
pub(crate) async fn connect(options: ConnectOptions) -> Result<Arc<Inner>> {
    let connector = if options.url.trim_start().to_ascii_lowercase().starts_with("wss://") {
        Some(tokio_tungstenite::Connector::Rustls(Arc::new(options.tls.client_config()?)))
    } else {
        None
    };
    let hello = Hello {
        version: PROTOCOL_VERSION,
        client_type: options.client_type,
        environment: options.environment.clone(),
        principal: options.principal.clone(),
        password: options.password.clone(),
        properties: options.properties.clone(),
    };
    let handshake = async {
        let (mut ws, _response) =
            tokio_tungstenite::connect_async_tls_with_config(options.url.as_str(), None, true, connector)
                .await
                .map_err(|e| match e {
                    tokio_tungstenite::tungstenite::Error::Url(u) => {
                        Error::invalid_argument("url", format!("bad url {:?}: {u}", options.url))
                    }
                    e => connection_error(&format!("cannot connect to {}", options.url), e),
                })?;
        let frame = protocol::encode(&ClientMessage::Hello(hello));
        ws.send(Message::Binary(frame.into())).await.map_err(|e| connection_error("sending hello", e))?;
        loop {
            match ws.next().await {
                Some(Ok(Message::Binary(bytes))) => {
                    return match protocol::decode::<ServerMessage>(&bytes) {
                        Ok(ServerMessage::Welcome(welcome)) => Ok((ws, welcome)),
                        Ok(ServerMessage::Reject(reject)) => Err(Error::from(reject.error)),
                        Ok(other) => {
                            Err(Error::new(ErrorKind::Protocol, format!("expected a welcome, got {other:?}")))
                        }
                        Err(e) => {
                            Err(Error::new(ErrorKind::Protocol, format!("bad welcome: {e}")).with_source(e))
                        }
                    };
                }
                Some(Ok(Message::Close(_))) | None => {
                    return Err(Error::new(ErrorKind::Connection, "the server closed before welcoming"));
                }
                Some(Ok(_)) => continue,
                Some(Err(e)) => return Err(connection_error("waiting for welcome", e)),
            }
        }
    };
    let (ws, welcome) = match tokio::time::timeout(options.connect_timeout, handshake).await {
        Ok(result) => result?,
        Err(_) => {
            return Err(Error::new(
                ErrorKind::Timeout,
                format!("no welcome from {} within {:?}", options.url, options.connect_timeout),
            ));
        }
    };
    Ok(Inner::start(ws, welcome, &options))
}

impl Inner {
    fn start(ws: Ws, welcome: Welcome, options: &ConnectOptions) -> Arc<Inner> {
        // Every response counts toward this session's outbound queue on the
        // server (SPEC §5.2), so a client with more requests in flight than
        // the queue holds could get itself closed with
        // MESSAGE_QUEUE_LIMIT_REACHED just by pipelining. Keep at most half
        // the queue's depth in flight, leaving room for pushes.
        let queue_room = (welcome.queue_policy.max_depth / 2) as usize;
        let max_in_flight = (welcome.limits.max_in_flight as usize).min(queue_room).max(1);
        let (out_tx, out_rx) = mpsc::channel(max_in_flight + 8);
        #[cfg(unix)]
        let fd = {
            use std::os::fd::AsRawFd;
            match ws.get_ref() {
                MaybeTlsStream::Plain(tcp) => tcp.as_raw_fd(),
                MaybeTlsStream::Rustls(tls) => tls.get_ref().0.as_raw_fd(),
                _ => -1,
            }
        };
        let (sink, stream) = ws.split();
        let inner = Arc::new(Inner {
            request_timeout: options.request_timeout,
            listener_buffer: options.listener_buffer.max(1),
            stall_timeout: options.listener_stall_timeout,
            max_in_flight,
            max_frame: welcome.limits.max_frame_bytes as usize,
            state: Mutex::new(State::default()),
            out: out_tx,
            writer: Mutex::new(Writer { sink, held: None, dirty: false }),
            writer_waker: AtomicWaker::new(),
            roles: watch::Sender::new(welcome.roles.clone()),
            closed: watch::Sender::new(None),
            next_request: AtomicU64::new(1),
            next_registration: AtomicU32::new(1),
            next_subscription: AtomicU64::new(1),
            reader: Mutex::new(None),
            welcome,
            #[cfg(unix)]
            fd,
        });
        let reader = tokio::spawn(read_loop(Arc::clone(&inner), stream));
        *lock(&inner.reader) = Some(reader.abort_handle());
        tokio::spawn(write_loop(Arc::clone(&inner), out_rx));
        inner
    }

    /// The descriptor of the session's socket while the session is open.
    /// Only for watching readiness (see `Session::socket_fd`).
    #[cfg(unix)]
    pub(crate) fn socket_fd(&self) -> Option<std::os::fd::RawFd> {
        (self.fd >= 0 && lock(&self.state).closed.is_none()).then_some(self.fd)
    }

    /// The close reason, once the session has ended.
    pub(crate) fn close_reason(&self) -> Option<CloseReason> {
        lock(&self.state).closed
    }

    /// Sends a request. With `want_reply`, returns the receiver of its answer;
    /// without, the request is fire-and-forget (sent even if nobody waits).
    fn submit(
        &self,
        request: Request,
        sink: Option<SinkKey>,
        want_reply: bool,
    ) -> Result<Option<oneshot::Receiver<Result<Answer>>>> {
        let id = self.next_request.fetch_add(1, Ordering::Relaxed);
        let bytes = protocol::encode(&ClientMessage::Request { id, request });
        if self.max_frame > 0 && bytes.len() > self.max_frame {
            return Err(Error::new(
                ErrorKind::LimitExceeded,
                format!(
                    "the request is {} bytes; the server accepts at most {}",
                    bytes.len(),
                    self.max_frame
                ),
            )
            .with_details(ErrorDetails::Limit {
                limit: "max_frame_bytes".into(),
                key: None,
                count: None,
            }));
        }
        let (tx, rx) = if want_reply {
            let (tx, rx) = oneshot::channel();
            (Some(tx), Some(rx))
        } else {
            (None, None)
        };
        let pending = Pending { reply: tx, sink };
        let frame = Message::Binary(bytes.into());
        let mut state = lock(&self.state);
        if state.closed.is_some() {
            return Err(Error::session_closed());
        }
        // FIFO: a new request may overtake nothing already waiting.
        if state.in_flight < self.max_in_flight && state.waiting.is_empty() {
            // Direct only for a lone request: with others in flight, the
            // writer task batches a burst into one send, which costs far less
            // per request than a send each (P6).
            if state.in_flight > 0 || self.out.capacity() < self.out.max_capacity() {
                self.admit(&mut state, id, frame, pending).map_err(|failed| failed.0)?;
                return Ok(rx);
            }
            // Counted before it is written, so its answer always finds it.
            state.in_flight += 1;
            state.pending.insert(id, pending);
            drop(state);
            if let Err(frame) = self.write_direct(frame) {
                self.send_admitted(id, frame)?;
            }
        } else {
            state.waiting.push_back(Queued { frame, id, pending });
        }
        Ok(rx)
    }

    /// Puts the frame on the wire queue and counts it in flight; on failure
    /// hands the pending entry back so its caller can be told.
    fn admit(
        &self,
        state: &mut State,
        id: u64,
        frame: Message,
        pending: Pending,
    ) -> std::result::Result<(), Box<(Error, Pending)>> {
        match self.out.try_send(frame) {
            Ok(()) => {
                state.in_flight += 1;
                state.pending.insert(id, pending);
                Ok(())
            }
            Err(mpsc::error::TrySendError::Closed(_)) => Err(Box::new((Error::session_closed(), pending))),
            Err(mpsc::error::TrySendError::Full(_)) => Err(Box::new((
                Error::new(ErrorKind::Internal, "client bug: the outgoing frame queue is full"),
                pending,
            ))),
        }
    }

    /// Writes `frame` to the socket from the calling thread if the write half
    /// is idle (see [`Writer`]); hands it back if not. Never waits: a busy
    /// lock, a sink without room or an error all hand the frame back, for the
    /// writer task, which then meets the same error and ends the session. A
    /// write the socket only partly took is finished by the writer task.
    fn write_direct(&self, frame: Message) -> std::result::Result<(), Message> {
        let Ok(mut guard) = self.writer.try_lock() else { return Err(frame) };
        let writer = &mut *guard;
        if writer.held.is_some() || writer.dirty {
            return Err(frame);
        }
        let mut cx = Context::from_waker(Waker::noop());
        if !matches!(Pin::new(&mut writer.sink).poll_ready(&mut cx), Poll::Ready(Ok(()))) {
            return Err(frame);
        }
        let flushed = Pin::new(&mut writer.sink).start_send(frame).is_ok()
            && matches!(Pin::new(&mut writer.sink).poll_flush(&mut cx), Poll::Ready(Ok(())));
        if !flushed {
            writer.dirty = true;
            drop(guard);
            self.writer_waker.wake();
        }
        Ok(())
    }

    /// Puts an already admitted request's frame on the writer task's channel;
    /// if that fails, un-admits it and reports why.
    fn send_admitted(&self, id: u64, frame: Message) -> Result<()> {
        let error = match self.out.try_send(frame) {
            Ok(()) => return Ok(()),
            Err(mpsc::error::TrySendError::Closed(_)) => Error::session_closed(),
            Err(mpsc::error::TrySendError::Full(_)) => {
                Error::new(ErrorKind::Internal, "client bug: the outgoing frame queue is full")
            }
        };
        let mut state = lock(&self.state);
        if state.pending.remove(&id).is_some() {
            state.in_flight = state.in_flight.saturating_sub(1);
            self.admit_waiting(&mut state);
        }
        Err(error)
    }

    /// The writer task's work: moves frames from the channel into the sink
    /// and flushes, batching whatever is queued into one flush. Ready only
    /// with the error that ends the session.
    fn drive_writer(
        &self,
        rx: &mut mpsc::Receiver<Message>,
        cx: &mut Context<'_>,
    ) -> Poll<tokio_tungstenite::tungstenite::Error> {
        self.writer_waker.register(cx.waker());
        let mut guard = lock(&self.writer);
        let writer = &mut *guard;
        loop {
            if let Some(frame) = writer.held.take() {
                match Pin::new(&mut writer.sink).poll_ready(cx) {
                    Poll::Ready(Ok(())) => {}
                    Poll::Ready(Err(e)) => return Poll::Ready(e),
                    Poll::Pending => {
                        writer.held = Some(frame);
                        return Poll::Pending;
                    }
                }
                if let Err(e) = Pin::new(&mut writer.sink).start_send(frame) {
                    return Poll::Ready(e);
                }
                writer.dirty = true;
            }
            match rx.poll_recv(cx) {
                Poll::Ready(Some(frame)) => writer.held = Some(frame),
                // `Inner` holds a sender, so the channel never ends while
                // this runs; the session's end stops this task instead.
                Poll::Ready(None) | Poll::Pending => break,
            }
        }
        if writer.dirty {
            match Pin::new(&mut writer.sink).poll_flush(cx) {
                Poll::Ready(Ok(())) => writer.dirty = false,
                Poll::Ready(Err(e)) => return Poll::Ready(e),
                Poll::Pending => {}
            }
        }
        Poll::Pending
    }

    /// Admits queued requests while there is room (called with a response).
    fn admit_waiting(&self, state: &mut State) {
        while state.in_flight < self.max_in_flight {
            let Some(q) = state.waiting.pop_front() else { break };
            // The caller gave up (timeout or dropped future): skip it, unless
            // it is fire-and-forget.
            if q.pending.reply.as_ref().is_some_and(|r| r.is_closed()) {
                // Never sent, so the server knows nothing to end.
                if let Some(key) = q.pending.sink {
                    Self::remove_sink_locked(state, key);
                }
                continue;
            }
            if let Err(failed) = self.admit(state, q.id, q.frame, q.pending) {
                let (e, pending) = *failed;
                if let Some(key) = pending.sink {
                    Self::remove_sink_locked(state, key);
                }
                if let Some(reply) = pending.reply {
                    let _ = reply.send(Err(e));
                }
            }
        }
    }

    /// Sends a request and waits (up to the request timeout) for its answer.
    pub(crate) async fn call(self: &Arc<Self>, request: Request, sink: Option<SinkKey>) -> Result<Answer> {
        let name = request.name();
        let Some(rx) = self.submit(request, sink, true)? else {
            return Err(Error::new(ErrorKind::Internal, "client bug: no reply channel"));
        };
        match tokio::time::timeout(self.request_timeout, rx).await {
            Ok(Ok(answer)) => answer,
            Ok(Err(_dropped)) => Err(Error::session_closed()),
            Err(_) => Err(Error::new(
                ErrorKind::Timeout,
                format!("no answer to {name} within {:?}", self.request_timeout),
            )),
        }
    }

    /// Sends a request and returns its reply, without any snapshot.
    pub(crate) async fn request(self: &Arc<Self>, request: Request) -> Result<Reply> {
        Ok(self.call(request, None).await?.reply)
    }

    /// Creates a registration sink; events for `id` are buffered from now on.
    pub(crate) fn new_registration(&self) -> Result<(RegistrationId, mpsc::Receiver<Item>, Arc<SinkShared>)> {
        let id = self.next_registration.fetch_add(1, Ordering::Relaxed);
        let (sink, rx, shared) = self.new_sink();
        let mut state = lock(&self.state);
        if state.closed.is_some() {
            return Err(Error::session_closed());
        }
        state.registrations.insert(id, sink);
        Ok((id, rx, shared))
    }

    /// Creates a subscription sink for `selector`.
    pub(crate) fn new_subscription(
        &self,
        selector: &str,
    ) -> Result<(u64, mpsc::Receiver<Item>, Arc<SinkShared>)> {
        let id = self.next_subscription.fetch_add(1, Ordering::Relaxed);
        let (sink, rx, shared) = self.new_sink();
        let mut state = lock(&self.state);
        if state.closed.is_some() {
            return Err(Error::session_closed());
        }
        state.subscriptions.insert(id, Subscription { selector: selector.to_owned(), sink });
        Ok((id, rx, shared))
    }

    fn new_sink(&self) -> (Sink, mpsc::Receiver<Item>, Arc<SinkShared>) {
        let (tx, rx) = mpsc::channel(self.listener_buffer);
        let shared = Arc::new(SinkShared::default());
        (Sink { tx, ready: false, snapshot: VecDeque::new(), shared: Arc::clone(&shared) }, rx, shared)
    }

    /// Removes a sink; returns the request that ends it on the server, if
    /// one is needed (the sink existed, and for a subscription, no other local
    /// subscription uses the same selector).
    fn remove_sink_locked(state: &mut State, key: SinkKey) -> Option<Request> {
        match key {
            SinkKey::Registration(registration) => {
                state.registrations.remove(&registration).map(|_| Request::Unregister { registration })
            }
            SinkKey::Subscription(id) => {
                let sub = state.subscriptions.remove(&id)?;
                let still_used = state.subscriptions.values().any(|s| s.selector == sub.selector);
                (!still_used).then_some(Request::Unsubscribe { selector: sub.selector })
            }
        }
    }

    fn take_sink_request(&self, key: SinkKey) -> Option<Request> {
        let mut state = lock(&self.state);
        if state.closed.is_some() {
            return None;
        }
        Self::remove_sink_locked(&mut state, key)
    }

    /// Removes a sink locally and ends it on the server too, fire-and-forget
    /// (for `Drop`; a closed session needs nothing).
    pub(crate) fn drop_sink(&self, key: SinkKey) {
        if let Some(request) = self.take_sink_request(key) {
            self.fire_and_forget(request);
        }
    }

    /// Removes a sink locally and waits until the server has ended it.
    pub(crate) async fn end_sink(self: &Arc<Self>, key: SinkKey) -> Result<()> {
        let Some(request) = self.take_sink_request(key) else { return Ok(()) };
        match self.request(request).await {
            Ok(_) => Ok(()),
            Err(e) if e.kind == ErrorKind::SessionClosed => Ok(()),
            Err(e) => Err(e),
        }
    }

    fn fire_and_forget(&self, request: Request) {
        if let Err(e) = self.submit(request, None, false) {
            tracing::debug!(error = %e, "could not end a registration on the server");
        }
    }

    /// Sends `Bye` once. Registrations and subscriptions end here, not when
    /// the server has closed the socket: the reader then discards what is
    /// still in flight instead of feeding it to a slow consumer, so closing
    /// is quick even with a backed-up connection.
    pub(crate) fn send_bye(&self) {
        let mut state = lock(&self.state);
        if state.closed.is_some() || state.bye_sent {
            return;
        }
        state.bye_sent = true;
        state.registrations.clear();
        state.subscriptions.clear();
        let _ = self.out.try_send(Message::Binary(protocol::encode(&ClientMessage::Bye).into()));
    }

    /// Ends the session: fails what is pending with `SESSION_CLOSED`, ends
    /// every registration and subscription, publishes the close reason.
    pub(crate) fn finish(&self, reason: CloseReason) {
        let (pending, waiting, registrations, subscriptions, reason) = {
            let mut state = lock(&self.state);
            if state.closed.is_some() {
                return;
            }
            let reason = match (state.closing, state.bye_sent) {
                (Some(server_reason), _) => server_reason,
                (None, true) => CloseReason::ClosedByClient,
                (None, false) => reason,
            };
            state.closed = Some(reason);
            (
                std::mem::take(&mut state.pending),
                std::mem::take(&mut state.waiting),
                std::mem::take(&mut state.registrations),
                std::mem::take(&mut state.subscriptions),
                reason,
            )
        };
        let replies = pending.into_values().filter_map(|p| p.reply);
        for reply in replies.chain(waiting.into_iter().filter_map(|q| q.pending.reply)) {
            let _ = reply.send(Err(Error::session_closed()));
        }
        // Dropping the senders ends every registration and subscription.
        drop(registrations);
        drop(subscriptions);
        self.closed.send_replace(Some(reason));
        if let Some(reader) = lock(&self.reader).take() {
            reader.abort();
        }
    }

    async fn dispatch(self: &Arc<Self>, message: ServerMessage) {
        match message {
            ServerMessage::Response(response) => self.on_response(response.id, response.result),
            ServerMessage::Push(push) => self.on_push(push).await,
            other @ (ServerMessage::Welcome(_) | ServerMessage::Reject(_)) => {
                tracing::warn!(message = ?other, "unexpected handshake message after welcome; ignored");
            }
        }
    }

    fn on_response(&self, id: u64, result: std::result::Result<Reply, protocol::WireError>) {
        let mut orphan = None;
        let (reply, answer) = {
            let mut state = lock(&self.state);
            let Some(pending) = state.pending.remove(&id) else {
                tracing::debug!(id, "response to an unknown request; ignored");
                return;
            };
            state.in_flight = state.in_flight.saturating_sub(1);
            self.admit_waiting(&mut state);
            let answer = match (result, pending.sink) {
                (Ok(reply), Some(key)) => {
                    let caller_gone = pending.reply.as_ref().is_none_or(|r| r.is_closed());
                    if caller_gone {
                        // Registered, but nobody will ever hold the handle.
                        orphan = Some(Self::remove_sink_locked(&mut state, key));
                        Ok(Answer { reply, snapshot: VecDeque::new() })
                    } else {
                        let snapshot = match key {
                            SinkKey::Registration(r) => state.registrations.get_mut(&r),
                            SinkKey::Subscription(s) => state.subscriptions.get_mut(&s).map(|s| &mut s.sink),
                        }
                        .map(|sink| {
                            sink.ready = true;
                            std::mem::take(&mut sink.snapshot)
                        })
                        .unwrap_or_default();
                        Ok(Answer { reply, snapshot })
                    }
                }
                (Ok(reply), None) => Ok(Answer { reply, snapshot: VecDeque::new() }),
                (Err(e), key) => {
                    if let Some(key) = key {
                        Self::remove_sink_locked(&mut state, key);
                    }
                    Err(Error::from(e))
                }
            };
            (pending.reply, answer)
        };
        if let Some(request) = orphan.flatten() {
            self.fire_and_forget(request);
        }
        if let Some(reply) = reply {
            let _ = reply.send(answer);
        }
    }

    async fn on_push(self: &Arc<Self>, push: Push) {
        match push {
            Push::SessionEvent { registration, event } => {
                self.route(SinkKey::Registration(registration), Item::Session(event)).await;
            }
            Push::QueueEvent { registration, event } => {
                self.route(SinkKey::Registration(registration), Item::Queue(event)).await;
            }
            Push::RegistrationError { registration, error } => {
                if let Some(sink) = lock(&self.state).registrations.get(&registration) {
                    sink.shared.set_error(error.into());
                }
            }
            Push::RegistrationClosed { registration } => {
                lock(&self.state).registrations.remove(&registration);
            }
            Push::TopicValue { path, value } => {
                let keys: Vec<SinkKey> = lock(&self.state)
                    .subscriptions
                    .iter()
                    .filter(|(_, s)| selector_matches(&s.selector, &path))
                    .map(|(id, _)| SinkKey::Subscription(*id))
                    .collect();
                for key in keys {
                    self.route(key, Item::Topic(path.clone(), value.clone())).await;
                }
            }
            Push::TopicUnsubscribed { path } => {
                tracing::debug!(path, "topic unsubscribed by the server");
            }
            Push::RolesChanged { roles } => {
                self.roles.send_replace(roles);
            }
            Push::Closing { reason, message } => {
                tracing::debug!(%reason, message, "the server is closing the session");
                lock(&self.state).closing = Some(reason);
            }
        }
    }

    /// Delivers an item to a sink, in order; see [`Sink::tx`] for what
    /// happens when the sink is full.
    async fn route(self: &Arc<Self>, key: SinkKey, item: Item) {
        let tx = {
            let mut state = lock(&self.state);
            let sink = match key {
                SinkKey::Registration(r) => state.registrations.get_mut(&r),
                SinkKey::Subscription(s) => state.subscriptions.get_mut(&s).map(|s| &mut s.sink),
            };
            match sink {
                None => return,
                Some(sink) if !sink.ready => {
                    sink.snapshot.push_back(item);
                    return;
                }
                Some(sink) => sink.tx.clone(),
            }
        };
        let item = match tx.try_send(item) {
            Ok(()) | Err(mpsc::error::TrySendError::Closed(_)) => return,
            Err(mpsc::error::TrySendError::Full(item)) => item,
        };
        if tokio::time::timeout(self.stall_timeout, tx.send(item)).await.is_err() {
            let shared = {
                let state = lock(&self.state);
                match key {
                    SinkKey::Registration(r) => state.registrations.get(&r).map(|s| Arc::clone(&s.shared)),
                    SinkKey::Subscription(s) => {
                        state.subscriptions.get(&s).map(|s| Arc::clone(&s.sink.shared))
                    }
                }
            };
            if let Some(shared) = shared {
                shared.set_error(
                    Error::new(
                        ErrorKind::LimitExceeded,
                        format!(
                            "the listener did not take an event within {:?} with {} events buffered",
                            self.stall_timeout, self.listener_buffer
                        ),
                    )
                    .with_details(ErrorDetails::Limit {
                        limit: "listener_buffer".into(),
                        key: None,
                        count: None,
                    }),
                );
            }
            self.drop_sink(key);
        }
    }
}

/// True when a subscription `selector` (an exact path, or `path/*` for the
/// path and everything below it) covers `path`.
pub(crate) fn selector_matches(selector: &str, path: &str) -> bool {
    match selector.strip_suffix("/*") {
        Some(prefix) => {
            path == prefix
                || (path.len() > prefix.len()
                    && path.starts_with(prefix)
                    && path[prefix.len()..].starts_with('/'))
        }
        None => selector == path,
    }
}

async fn read_loop(inner: Arc<Inner>, mut stream: SplitStream<Ws>) {
    let reason = loop {
        match stream.next().await {
            Some(Ok(Message::Binary(bytes))) => match protocol::decode::<ServerMessage>(&bytes) {
                Ok(message) => inner.dispatch(message).await,
                Err(e) => {
                    tracing::warn!(error = %e, "malformed message from the server; closing");
                    break CloseReason::ProtocolError;
                }
            },
            Some(Ok(Message::Close(_))) | None => break CloseReason::ConnectionLost,
            Some(Ok(_)) => {}
            Some(Err(e)) => {
                tracing::debug!(error = %e, "connection lost");
                break CloseReason::ConnectionLost;
            }
        }
    };
    inner.finish(reason);
}

/// Resolves with the close reason once the session has ended.
pub(crate) async fn wait_closed(mut closed: watch::Receiver<Option<CloseReason>>) -> CloseReason {
    // The borrow guard is not `Send`: copy the reason out before any await.
    let reason = match closed.wait_for(Option::is_some).await {
        Ok(reason) => *reason,
        Err(_) => None,
    };
    reason.unwrap_or(CloseReason::ConnectionLost)
}

async fn write_loop(inner: Arc<Inner>, mut rx: mpsc::Receiver<Message>) {
    let closed = wait_closed(inner.closed.subscribe());
    tokio::select! {
        e = std::future::poll_fn(|cx| inner.drive_writer(&mut rx, cx)) => {
            tracing::debug!(error = %e, "write failed");
            inner.finish(CloseReason::ConnectionLost);
        }
        _ = closed => {}
    }
    // Best effort: the peer may already be gone.
    let close = std::future::poll_fn(|cx| Pin::new(&mut lock(&inner.writer).sink).poll_close(cx));
    let _ = tokio::time::timeout(Duration::from_secs(1), close).await;
}
