//! Listeners: the foreign traits the user's Swift classes conform to
//! ([`QueueEventListener`], [`SessionEventListener`], [`TopicListener`]), the
//! adapters that make them `usher_core` listeners, and
//! [`ListenerRegistration`], the handle a registration returns.
//!
//! # Calling foreign code
//!
//! The core calls a listener from a task of its own on the shared runtime,
//! one event at a time, in order, and asks that it does not block. Swift and
//! Python code may block (a lock, the GIL, a deliberate wait), so every call
//! goes through [`call_foreign`]: `block_in_place` hands the worker's other
//! tasks to another thread for the duration. Order and backpressure stay the
//! core's: while a listener is busy its buffer fills, then the socket reader
//! waits (up to `listenerStallTimeout`), then the server's queue for this
//! session grows, which is what a slow consumer should cause (SPEC §5.2).
//! A foreign method that fails unexpectedly (UniFFI turns that into a panic)
//! is logged and the event skipped, as the core does for Rust listeners.

use std::sync::{Arc, Mutex};

use usher_core::client as core;
use usher_core::protocol;

use crate::types::{QueuePolicy, SessionEvent};
use crate::{SessionId, UsherError, runtime};

/// Runs a call into foreign code from a runtime thread without stalling the
/// runtime: `block_in_place` on the shared multi-thread runtime, a plain
/// call anywhere else. A panic (an unexpected foreign error) is contained.
pub(crate) fn call_foreign(what: &'static str, call: impl FnOnce()) {
    let guarded = || {
        if std::panic::catch_unwind(std::panic::AssertUnwindSafe(call)).is_err() {
            // No logger of this crate's own would reach a Swift app; stderr
            // does. The event is skipped and the listener carries on.
            eprintln!("usher: listener method {what} failed unexpectedly; the event is skipped");
        }
    };
    match tokio::runtime::Handle::try_current() {
        Ok(h) if h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(guarded)
        }
        _ => guarded(),
    }
}

/// Receives queue events (SPEC §4.3): the user's class conforms to this
/// protocol and is registered with `setQueueEventHandler(handler:)`.
///
/// Methods are called one at a time, in order, from a runtime thread (never
/// the main thread); start a `Task` for async work such as a control call.
/// `didClose()` comes exactly once, last.
#[uniffi::export(foreign)]
pub trait QueueEventListener: Send + Sync {
    /// A controller really changed a session's conflation or throttling.
    fn did_report_policy_change(&self, policy: QueuePolicy, session_id: SessionId);
    /// A session's queue depth rose to its upper threshold.
    fn upper_threshold_crossed(&self, policy: QueuePolicy, session_id: SessionId);
    /// After an upper event, the depth fell to the lower threshold.
    fn lower_threshold_crossed(&self, policy: QueuePolicy, session_id: SessionId);
    /// The handler has ended: unregistered, failed, or the session closed.
    fn did_close(&self);
    /// The handler failed (e.g. `accessDenied` after a role change);
    /// `didClose()` follows.
    fn did_fail_with_error(&self, error: UsherError);
}

/// Receives session events (SPEC §4.2); registered with
/// `addSessionEventListener(listener:parameters:)`. Same calling rules as
/// [`QueueEventListener`]; the snapshot has been delivered when the
/// registration call returns.
#[uniffi::export(foreign)]
pub trait SessionEventListener: Send + Sync {
    /// A `state` or `properties` event.
    fn did_receive(&self, event: SessionEvent);
    /// The registration has ended.
    fn did_close(&self);
    /// The registration failed; `didClose()` follows.
    fn did_fail_with_error(&self, error: UsherError);
}

/// Receives topic values (SPEC §5.1); passed to `topics.subscribe`. Same
/// calling rules as [`QueueEventListener`]: a listener that takes its time
/// makes a slow consumer, whose queue on the server grows.
#[uniffi::export(foreign)]
pub trait TopicListener: Send + Sync {
    /// A topic's value: the current ones first, then every update.
    fn did_receive(&self, path: String, value: Vec<u8>);
    /// The subscription has ended.
    fn did_close(&self);
    /// The subscription failed; `didClose()` follows.
    fn did_fail_with_error(&self, error: UsherError);
}

/// A foreign [`QueueEventListener`] as a core one.
pub(crate) struct QueueAdapter(pub(crate) Arc<dyn QueueEventListener>);

impl core::QueueEventListener for QueueAdapter {
    fn on_upper_threshold_crossed(&mut self, id: usher_core::SessionId, policy: protocol::QueuePolicy) {
        call_foreign("upperThresholdCrossed", || self.0.upper_threshold_crossed(policy.into(), id.into()));
    }
    fn on_lower_threshold_crossed(&mut self, id: usher_core::SessionId, policy: protocol::QueuePolicy) {
        call_foreign("lowerThresholdCrossed", || self.0.lower_threshold_crossed(policy.into(), id.into()));
    }
    fn on_policy_changed(&mut self, id: usher_core::SessionId, policy: protocol::QueuePolicy) {
        call_foreign("didReportPolicyChange", || self.0.did_report_policy_change(policy.into(), id.into()));
    }
    fn on_error(&mut self, error: usher_core::Error) {
        call_foreign("didFailWithError", || self.0.did_fail_with_error(error.into()));
    }
    fn on_close(&mut self) {
        call_foreign("didClose", || self.0.did_close());
    }
}

/// A foreign [`SessionEventListener`] as a core one.
pub(crate) struct SessionAdapter(pub(crate) Arc<dyn SessionEventListener>);

impl core::SessionEventListener for SessionAdapter {
    fn on_event(&mut self, event: protocol::SessionEvent) {
        call_foreign("didReceive", || self.0.did_receive(event.into()));
    }
    fn on_error(&mut self, error: usher_core::Error) {
        call_foreign("didFailWithError", || self.0.did_fail_with_error(error.into()));
    }
    fn on_close(&mut self) {
        call_foreign("didClose", || self.0.did_close());
    }
}

/// The handle of a session-event listener or queue handler. Keep it: when it
/// is released the registration ends (fire-and-forget); `close()` ends it
/// and waits until the listener's `didClose()` has run.
#[derive(Debug, uniffi::Object)]
pub struct ListenerRegistration {
    id: u32,
    // `None` once closed: the core handle is consumed by its `close`.
    inner: Mutex<Option<core::ListenerRegistration>>,
}

impl ListenerRegistration {
    pub(crate) fn new(inner: core::ListenerRegistration) -> Arc<Self> {
        Arc::new(Self { id: inner.registration_id(), inner: Mutex::new(Some(inner)) })
    }

    fn take(&self) -> Option<core::ListenerRegistration> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner()).take()
    }
}

#[uniffi::export]
impl ListenerRegistration {
    /// The registration id (per session, from 1).
    pub fn registration_id(&self) -> u32 {
        self.id
    }

    /// True once the listener has ended (its `didClose()` has run).
    pub fn is_closed(&self) -> bool {
        self.inner.lock().unwrap_or_else(|p| p.into_inner()).as_ref().is_none_or(|r| r.is_closed())
    }

    /// Unregisters, waits for the server to confirm and for the listener's
    /// `didClose()`. Closing again does nothing.
    pub async fn close(&self) -> Result<(), UsherError> {
        match self.take() {
            Some(registration) => runtime::run(registration.close()).await,
            None => Ok(()),
        }
    }
}
