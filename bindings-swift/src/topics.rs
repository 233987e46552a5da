//! [`Topics`] (`session.topics`: add, remove, update, subscribe; SPEC §5.1)
//! and [`TopicSubscription`], the handle of a subscription whose values go to
//! a foreign [`TopicListener`].

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use futures_util::StreamExt;
use tokio::sync::oneshot;
use usher_core::client as core;

use crate::listener::{TopicListener, call_foreign};
use crate::{UsherError, runtime};

/// Topic operations on a session. Needs `MODIFY_TOPIC` to add and remove,
/// `UPDATE_TOPIC` to update, `SELECT_TOPIC` + `READ_TOPIC` to subscribe.
#[derive(Debug, uniffi::Object)]
pub struct Topics {
    inner: core::Topics,
}

impl Topics {
    pub(crate) fn new(inner: core::Topics) -> Arc<Self> {
        Arc::new(Self { inner })
    }
}

#[uniffi::export]
impl Topics {
    /// Adds a topic with its initial value.
    pub async fn add(&self, path: String, value: Vec<u8>) -> Result<(), UsherError> {
        runtime::run(self.inner.add(path, value)).await
    }

    /// Removes a topic.
    pub async fn remove(&self, path: String) -> Result<(), UsherError> {
        runtime::run(self.inner.remove(path)).await
    }

    /// Sets a topic's value.
    pub async fn update(&self, path: String, value: Vec<u8>) -> Result<(), UsherError> {
        runtime::run(self.inner.update(path, value)).await
    }

    /// Subscribes `listener` to an exact path, or to a path followed by a
    /// slash and a star for the path and everything below it (spelt out: a
    /// slash-star would open a comment in the generated Swift). Returns once the server has accepted; the
    /// listener then gets the current values, then every update, in order.
    /// Keep the returned handle: releasing it unsubscribes.
    pub async fn subscribe(
        &self,
        selector: String,
        listener: Arc<dyn TopicListener>,
    ) -> Result<Arc<TopicSubscription>, UsherError> {
        let subscribe = self.inner.subscribe(selector.clone());
        runtime::run(async move {
            let stream = subscribe.await?;
            let (stop, stopped) = oneshot::channel();
            let closed = Arc::new(AtomicBool::new(false));
            tokio::spawn(forward(stream, listener, stopped, Arc::clone(&closed)));
            Ok(Arc::new(TopicSubscription { selector, stop: Mutex::new(Some(stop)), closed }))
        })
        .await
    }
}

/// A request to end a subscription, answered once it has ended.
type StopRequest = oneshot::Sender<usher_core::error::Result<()>>;

/// The handle of a topic subscription: `close()` unsubscribes and waits for
/// the listener's `didClose()`; releasing it unsubscribes too.
#[derive(Debug, uniffi::Object)]
pub struct TopicSubscription {
    selector: String,
    // Taken by `close`; dropped with the handle, which the forwarding task
    // sees as "unsubscribe without waiting".
    stop: Mutex<Option<oneshot::Sender<StopRequest>>>,
    closed: Arc<AtomicBool>,
}

#[uniffi::export]
impl TopicSubscription {
    /// The selector subscribed to.
    pub fn selector(&self) -> String {
        self.selector.clone()
    }

    /// True once the subscription has ended (its `didClose()` has run).
    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    /// Unsubscribes, waits for the server and for the listener's
    /// `didClose()`. Closing again does nothing.
    pub async fn close(&self) -> Result<(), UsherError> {
        let Some(stop) = self.stop.lock().unwrap_or_else(|p| p.into_inner()).take() else {
            return Ok(());
        };
        runtime::run(async move {
            let (reply, answer) = oneshot::channel();
            if stop.send(reply).is_err() {
                return Ok(()); // the subscription had already ended
            }
            answer.await.unwrap_or(Ok(()))
        })
        .await
    }
}

/// What the forwarding task does next.
enum Next {
    Value(String, Vec<u8>),
    Failed(usher_core::Error),
    Ended,
    Stop(Option<StopRequest>),
}

/// Hands each value of `stream` to the foreign listener, in order, until the
/// stream ends or the handle asks to stop (or is released); then `didClose`.
async fn forward(
    mut stream: core::Subscription,
    listener: Arc<dyn TopicListener>,
    mut stop: oneshot::Receiver<StopRequest>,
    closed: Arc<AtomicBool>,
) {
    let reply = loop {
        let next = tokio::select! {
            request = &mut stop => Next::Stop(request.ok()),
            item = stream.next() => match item {
                Some(Ok((path, value))) => Next::Value(path, value),
                Some(Err(e)) => Next::Failed(e),
                None => Next::Ended,
            },
        };
        match next {
            Next::Value(path, value) => call_foreign("didReceive", || listener.did_receive(path, value)),
            Next::Failed(e) => call_foreign("didFailWithError", || listener.did_fail_with_error(e.into())),
            Next::Ended => break None,
            Next::Stop(Some(reply)) => break Some((reply, stream.close().await)),
            // The handle was released: dropping the stream unsubscribes.
            Next::Stop(None) => break None,
        }
    };
    call_foreign("didClose", || listener.did_close());
    closed.store(true, Ordering::Release);
    if let Some((reply, result)) = reply {
        let _ = reply.send(result);
    }
}
