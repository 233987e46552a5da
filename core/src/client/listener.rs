//! Listeners: the [`SessionEventListener`] and [`QueueEventListener`] traits,
//! the [`EventStream`] handles (session events, queue events, topic values),
//! and [`ListenerRegistration`], the handle of a trait listener.
//!
//! Both forms sit on one mechanism: a bounded buffer per registration, filled
//! in order by the socket reader (see `connection.rs` for what happens when it
//! is full). A trait listener is called from its own task, so a slow listener
//! slows only its own buffer. Closing or dropping a handle unregisters.

use crate::client::BoxFuture;
use std::collections::VecDeque;
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures_util::Stream;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::client::Session;
use crate::client::connection::{Item, SinkKey, SinkShared};
use crate::error::{Error, Result};
use crate::id::SessionId;
use crate::protocol::{QueueEvent, QueuePolicy, RegistrationId, SessionEvent};

/// Receives session events (SPEC §4.2).
///
/// Methods are called one at a time, in order, from a task of the listener's
/// own; they should return quickly (spawn a task for async work, e.g. a
/// control call). `on_close` is called exactly once, last. A method that
/// panics is logged and skipped; the registration carries on.
pub trait SessionEventListener: Send + 'static {
    /// A `STATE` (snapshot `ACTIVE`, opened `ACTIVE`, `CLOSED`) or `PROPERTIES` event.
    fn on_event(&mut self, event: SessionEvent);
    /// The registration failed (e.g. `ACCESS_DENIED` after a role change);
    /// `on_close` follows.
    fn on_error(&mut self, _error: Error) {}
    /// The registration has ended: unregistered, failed, or the session closed.
    fn on_close(&mut self) {}
}

/// Receives queue events (SPEC §4.3). Same calling rules as
/// [`SessionEventListener`].
pub trait QueueEventListener: Send + 'static {
    /// A session's queue depth rose to its upper threshold.
    fn on_upper_threshold_crossed(&mut self, session_id: SessionId, policy: QueuePolicy);
    /// After an upper event, the depth fell to the lower threshold.
    fn on_lower_threshold_crossed(&mut self, session_id: SessionId, policy: QueuePolicy);
    /// A controller really changed a session's conflation or throttling.
    fn on_policy_changed(&mut self, _session_id: SessionId, _policy: QueuePolicy) {}
    /// The handler failed (e.g. `ACCESS_DENIED` after a role change);
    /// `on_close` follows.
    fn on_error(&mut self, _error: Error) {}
    /// The handler has ended: unregistered, failed, or the session closed.
    fn on_close(&mut self) {}
}

impl<L: SessionEventListener + ?Sized> SessionEventListener for Box<L> {
    fn on_event(&mut self, event: SessionEvent) {
        (**self).on_event(event)
    }
    fn on_error(&mut self, error: Error) {
        (**self).on_error(error)
    }
    fn on_close(&mut self) {
        (**self).on_close()
    }
}

impl<L: QueueEventListener + ?Sized> QueueEventListener for Box<L> {
    fn on_upper_threshold_crossed(&mut self, session_id: SessionId, policy: QueuePolicy) {
        (**self).on_upper_threshold_crossed(session_id, policy)
    }
    fn on_lower_threshold_crossed(&mut self, session_id: SessionId, policy: QueuePolicy) {
        (**self).on_lower_threshold_crossed(session_id, policy)
    }
    fn on_policy_changed(&mut self, session_id: SessionId, policy: QueuePolicy) {
        (**self).on_policy_changed(session_id, policy)
    }
    fn on_error(&mut self, error: Error) {
        (**self).on_error(error)
    }
    fn on_close(&mut self) {
        (**self).on_close()
    }
}

mod sealed {
    /// Converts the reader's item into what a stream yields.
    pub trait FromItem: Sized {
        fn from_item(item: crate::client::connection::Item) -> Option<Self>;
    }
}
use sealed::FromItem;

/// What an [`EventStream`] yields: [`SessionEvent`], [`QueueEvent`], or a
/// topic value `(path, value)`. Sealed.
pub trait StreamItem: FromItem + Send + 'static {}
impl StreamItem for SessionEvent {}
impl StreamItem for QueueEvent {}
impl StreamItem for (String, Vec<u8>) {}

impl FromItem for SessionEvent {
    fn from_item(item: Item) -> Option<Self> {
        match item {
            Item::Session(e) => Some(e),
            _ => None,
        }
    }
}

impl FromItem for QueueEvent {
    fn from_item(item: Item) -> Option<Self> {
        match item {
            Item::Queue(e) => Some(e),
            _ => None,
        }
    }
}

/// A topic value: `(path, value)`.
impl FromItem for (String, Vec<u8>) {
    fn from_item(item: Item) -> Option<Self> {
        match item {
            Item::Topic(path, value) => Some((path, value)),
            _ => None,
        }
    }
}

/// The receiving end of one sink: the snapshot first, then live items, then
/// the terminal error if any, then the end.
pub(crate) struct Feed<T> {
    snapshot: VecDeque<Item>,
    rx: mpsc::Receiver<Item>,
    shared: Arc<SinkShared>,
    finished: bool,
    _item: PhantomData<fn() -> T>,
}

impl<T: StreamItem> Feed<T> {
    pub(crate) fn new(snapshot: VecDeque<Item>, rx: mpsc::Receiver<Item>, shared: Arc<SinkShared>) -> Self {
        Self { snapshot, rx, shared, finished: false, _item: PhantomData }
    }

    fn poll_next(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<T>>> {
        if self.finished {
            return Poll::Ready(None);
        }
        while let Some(item) = self.snapshot.pop_front() {
            if let Some(t) = T::from_item(item) {
                return Poll::Ready(Some(Ok(t)));
            }
        }
        loop {
            match self.rx.poll_recv(cx) {
                Poll::Ready(Some(item)) => {
                    if let Some(t) = T::from_item(item) {
                        return Poll::Ready(Some(Ok(t)));
                    }
                }
                Poll::Ready(None) => {
                    self.finished = true;
                    return Poll::Ready(self.shared.take_error().map(Err));
                }
                Poll::Pending => return Poll::Pending,
            }
        }
    }

    async fn next(&mut self) -> Option<Result<T>> {
        std::future::poll_fn(|cx| self.poll_next(cx)).await
    }

    /// Takes the snapshot items already buffered (for trait listeners, which
    /// get them before registration resolves).
    fn take_snapshot(&mut self) -> impl Iterator<Item = T> + use<T> {
        std::mem::take(&mut self.snapshot).into_iter().filter_map(T::from_item)
    }
}

/// Ends a registration on the server when closed or dropped.
struct SinkGuard {
    session: Option<Session>,
    key: SinkKey,
}

impl SinkGuard {
    fn close(&mut self) -> BoxFuture<Result<()>> {
        let session = self.session.take();
        let key = self.key;
        Box::pin(async move {
            match session {
                Some(session) => session.inner.end_sink(key).await,
                None => Ok(()),
            }
        })
    }
}

impl Drop for SinkGuard {
    fn drop(&mut self) {
        if let Some(session) = self.session.take() {
            session.inner.drop_sink(self.key);
        }
    }
}

/// A registration (session events, queue events) or a topic subscription,
/// used as a [`Stream`]. Yields the snapshot first, then live items in order;
/// a failure (e.g. `ACCESS_DENIED` after a role change, or `LIMIT_EXCEEDED`
/// when this stream was not read for `listener_stall_timeout` with its
/// buffer full) comes as one `Err` item, then the stream ends. It also ends
/// when the session closes. Dropping it unregisters (fire-and-forget);
/// [`close`](Self::close) unregisters and waits for the server.
pub struct EventStream<T> {
    feed: Feed<T>,
    guard: SinkGuard,
}

/// Session events as a stream.
pub type SessionEventStream = EventStream<SessionEvent>;
/// Queue events as a stream.
pub type QueueEventStream = EventStream<QueueEvent>;
/// Topic values `(path, value)` as a stream.
pub type Subscription = EventStream<(String, Vec<u8>)>;

impl<T: StreamItem> EventStream<T> {
    pub(crate) fn new(session: Session, key: SinkKey, feed: Feed<T>) -> Self {
        Self { feed, guard: SinkGuard { session: Some(session), key } }
    }

    /// The registration id (`None` for a topic subscription).
    pub fn registration_id(&self) -> Option<RegistrationId> {
        match self.guard.key {
            SinkKey::Registration(id) => Some(id),
            SinkKey::Subscription(_) => None,
        }
    }

    /// How many snapshot items (delivered with the registration's reply:
    /// one `ACTIVE` per matching session, or a subscription's current values)
    /// this stream has not yielded yet. A binding that calls a foreign
    /// listener reads it right after registering, so it can pass the whole
    /// snapshot to the listener before the registration resolves, as the
    /// trait listeners do (SPEC §4.2).
    ///
    /// ```no_run
    /// # async fn demo(session: usher_core::client::Session) -> usher_core::error::Result<()> {
    /// use futures_util::StreamExt;
    /// let mut events = session.clients().session_events(Default::default()).await?;
    /// for _ in 0..events.pending_snapshot() {
    ///     println!("existing: {:?}", events.next().await);
    /// }
    /// # Ok(()) }
    /// ```
    pub fn pending_snapshot(&self) -> usize {
        self.feed.snapshot.len()
    }

    /// Unregisters (or unsubscribes) and waits for the server to confirm.
    ///
    /// ```no_run
    /// # async fn demo(session: usher_core::client::Session) -> usher_core::error::Result<()> {
    /// let events = session.clients().queue_events().await?;
    /// events.close().await?;
    /// # Ok(()) }
    /// ```
    pub fn close(mut self) -> BoxFuture<Result<()>> {
        self.guard.close()
    }
}

impl<T: StreamItem> Stream for EventStream<T> {
    type Item = Result<T>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.get_mut().feed.poll_next(cx)
    }
}

impl<T> std::fmt::Debug for EventStream<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventStream").field("key", &self.guard.key).finish_non_exhaustive()
    }
}

/// The handle of a trait listener. Dropping it unregisters (fire-and-forget);
/// [`close`](Self::close) unregisters and waits until the listener's
/// `on_close` has run.
pub struct ListenerRegistration {
    guard: SinkGuard,
    task: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for ListenerRegistration {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ListenerRegistration").field("key", &self.guard.key).finish_non_exhaustive()
    }
}

impl ListenerRegistration {
    /// The registration id.
    pub fn registration_id(&self) -> RegistrationId {
        match self.guard.key {
            SinkKey::Registration(id) => id,
            SinkKey::Subscription(_) => 0,
        }
    }

    /// True once the listener has been closed (its `on_close` has run).
    pub fn is_closed(&self) -> bool {
        self.task.as_ref().is_none_or(JoinHandle::is_finished)
    }

    /// Unregisters, waits for the server to confirm and for the listener's
    /// `on_close` to have run.
    ///
    /// ```no_run
    /// # use usher_core::client::*;
    /// # struct Quiet;
    /// # impl QueueEventListener for Quiet {
    /// #     fn on_upper_threshold_crossed(&mut self, _: usher_core::SessionId, _: usher_core::protocol::QueuePolicy) {}
    /// #     fn on_lower_threshold_crossed(&mut self, _: usher_core::SessionId, _: usher_core::protocol::QueuePolicy) {}
    /// # }
    /// # async fn demo(session: Session) -> usher_core::error::Result<()> {
    /// let registration = session.clients().set_queue_event_handler(Quiet).await?;
    /// registration.close().await?;
    /// # Ok(()) }
    /// ```
    pub fn close(mut self) -> BoxFuture<Result<()>> {
        let end = self.guard.close();
        let task = self.task.take();
        Box::pin(async move {
            let result = end.await;
            if let Some(task) = task {
                // A listener that panicked has no `on_close` to wait for.
                let _ = task.await;
            }
            result
        })
    }
}

/// Calls a listener method; a panic is logged and contained, so one bad
/// event does not end the registration or skip `on_close`.
fn guarded(what: &str, call: impl FnOnce()) {
    if std::panic::catch_unwind(std::panic::AssertUnwindSafe(call)).is_err() {
        tracing::error!(method = what, "a listener panicked; the event is skipped");
    }
}

/// Registers a session-event trait listener on an established sink: calls it
/// with the snapshot now, then spawns its task for live events.
pub(crate) fn spawn_session_listener<L: SessionEventListener>(
    session: Session,
    key: SinkKey,
    mut feed: Feed<SessionEvent>,
    mut listener: L,
) -> ListenerRegistration {
    for event in feed.take_snapshot() {
        guarded("on_event", || listener.on_event(event));
    }
    let task = tokio::spawn(async move {
        while let Some(result) = feed.next().await {
            match result {
                Ok(event) => guarded("on_event", || listener.on_event(event)),
                Err(e) => guarded("on_error", || listener.on_error(e)),
            }
        }
        guarded("on_close", || listener.on_close());
    });
    ListenerRegistration { guard: SinkGuard { session: Some(session), key }, task: Some(task) }
}

/// Registers a queue-event trait listener on an established sink.
pub(crate) fn spawn_queue_listener<L: QueueEventListener>(
    session: Session,
    key: SinkKey,
    mut feed: Feed<QueueEvent>,
    mut listener: L,
) -> ListenerRegistration {
    let task = tokio::spawn(async move {
        while let Some(result) = feed.next().await {
            match result {
                Ok(QueueEvent::UpperThresholdCrossed { session, policy }) => {
                    guarded("on_upper_threshold_crossed", || {
                        listener.on_upper_threshold_crossed(session, policy)
                    })
                }
                Ok(QueueEvent::LowerThresholdCrossed { session, policy }) => {
                    guarded("on_lower_threshold_crossed", || {
                        listener.on_lower_threshold_crossed(session, policy)
                    })
                }
                Ok(QueueEvent::PolicyChanged { session, policy }) => {
                    guarded("on_policy_changed", || listener.on_policy_changed(session, policy))
                }
                Err(e) => guarded("on_error", || listener.on_error(e)),
            }
        }
        guarded("on_close", || listener.on_close());
    });
    ListenerRegistration { guard: SinkGuard { session: Some(session), key }, task: Some(task) }
}
