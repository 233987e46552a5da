//! [`Topics`]: add, remove, update and subscribe to topics (SPEC §5.1), the
//! data plane the queue examples and tests need.

use crate::client::BoxFuture;
use std::sync::Arc;

use crate::client::Session;
use crate::client::connection::SinkKey;
use crate::client::listener::{EventStream, Feed, Subscription};
use crate::error::{Error, ErrorKind, Result};
use crate::protocol::{Reply, Request};

/// Topic operations on a session: `session.topics()`. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Topics {
    session: Session,
}

fn done(reply: Reply) -> Result<()> {
    match reply {
        Reply::Done => Ok(()),
        other => Err(Error::new(ErrorKind::Protocol, format!("unexpected reply from the server: {other:?}"))),
    }
}

impl Topics {
    pub(crate) fn new(session: Session) -> Self {
        Self { session }
    }

    fn simple(&self, request: Request) -> BoxFuture<Result<()>> {
        let inner = Arc::clone(&self.session.inner);
        Box::pin(async move { done(inner.request(request).await?) })
    }

    /// Adds a topic with its initial value (needs `MODIFY_TOPIC`).
    ///
    /// ```no_run
    /// # async fn demo(session: usher_core::client::Session) -> usher_core::error::Result<()> {
    /// session.topics().add("prices/eur", b"1.08".to_vec()).await?;
    /// # Ok(()) }
    /// ```
    pub fn add(&self, path: impl Into<String>, value: impl Into<Vec<u8>>) -> BoxFuture<Result<()>> {
        self.simple(Request::AddTopic { path: path.into(), value: value.into() })
    }

    /// Removes a topic (needs `MODIFY_TOPIC`).
    ///
    /// ```no_run
    /// # async fn demo(session: usher_core::client::Session) -> usher_core::error::Result<()> {
    /// session.topics().remove("prices/eur").await?;
    /// # Ok(()) }
    /// ```
    pub fn remove(&self, path: impl Into<String>) -> BoxFuture<Result<()>> {
        self.simple(Request::RemoveTopic { path: path.into() })
    }

    /// Sets a topic's value (needs `UPDATE_TOPIC`).
    ///
    /// ```no_run
    /// # async fn demo(session: usher_core::client::Session) -> usher_core::error::Result<()> {
    /// session.topics().update("prices/eur", b"1.09".to_vec()).await?;
    /// # Ok(()) }
    /// ```
    pub fn update(&self, path: impl Into<String>, value: impl Into<Vec<u8>>) -> BoxFuture<Result<()>> {
        self.simple(Request::UpdateTopic { path: path.into(), value: value.into() })
    }

    /// Subscribes to an exact path, or `path/*` for the path and everything
    /// below it. Resolves once the current values have arrived; the returned
    /// [`Subscription`] yields them first, then every update, as
    /// `(path, value)`. Dropping it unsubscribes.
    ///
    /// ```no_run
    /// # async fn demo(session: usher_core::client::Session) -> usher_core::error::Result<()> {
    /// use futures_util::StreamExt;
    /// let mut values = session.topics().subscribe("prices/*").await?;
    /// while let Some(value) = values.next().await {
    ///     let (path, bytes) = value?;
    ///     println!("{path}: {}", String::from_utf8_lossy(&bytes));
    /// }
    /// # Ok(()) }
    /// ```
    pub fn subscribe(&self, selector: impl Into<String>) -> BoxFuture<Result<Subscription>> {
        let session = self.session.clone();
        let selector = selector.into();
        Box::pin(async move {
            let inner = Arc::clone(&session.inner);
            let (id, rx, shared) = inner.new_subscription(&selector)?;
            let key = SinkKey::Subscription(id);
            let answer = inner.call(Request::Subscribe { selector }, Some(key)).await?;
            done(answer.reply)?;
            Ok(EventStream::new(session, key, Feed::new(answer.snapshot, rx, shared)))
        })
    }
}
