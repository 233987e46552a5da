//! [`ClientControl`]: the client-control operations of SPEC §4.1 (Rust column
//! of §4.6), on a session whose roles grant the permissions.
//!
//! Every operation on a target returns the plain count (`u64`) and has a
//! `_detailed` twin returning the full [`FilterResult`]. The plain form turns
//! a partial cluster result into `CLUSTER_ROUTING`, and sessions refused for
//! a limit (setSessionProperties) into `LIMIT_EXCEEDED`, both carrying the
//! result in [`ErrorDetails::Result`]. Argument errors come through the
//! returned future, never as a panic or a synchronous error.

use crate::client::BoxFuture;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use crate::client::connection::{Inner, SinkKey};
use crate::client::listener::{
    Feed, ListenerRegistration, QueueEventListener, QueueEventStream, SessionEventListener,
    SessionEventStream, spawn_queue_listener, spawn_session_listener,
};
use crate::client::{ControlOptions, EventStream, Session, SessionEventParams};
use crate::error::{Error, ErrorDetails, ErrorKind, Result};
use crate::id::{SessionId, Target};
use crate::props::is_valid_role_name;
use crate::protocol::{FetchRequest, FilterResult, Reply, Request, SessionPage, Throttler};

/// An empty role list, for [`ClientControl::change_roles`] calls that only
/// add or only remove.
pub const NO_ROLES: [&str; 0] = [];

/// Client control on a session: `session.clients()`. Cheap to clone.
#[derive(Clone, Debug)]
pub struct ClientControl {
    session: Session,
    options: ControlOptions,
}

fn unexpected(reply: Reply) -> Error {
    Error::new(ErrorKind::Protocol, format!("unexpected reply from the server: {reply:?}"))
}

/// The plain count of a result: `CLUSTER_ROUTING` when a server did not
/// answer, `LIMIT_EXCEEDED` when `check_rejected` and sessions were refused.
fn plain(result: FilterResult, check_rejected: bool) -> Result<u64> {
    if !result.unreachable.is_empty() {
        let message = format!(
            "servers did not answer: {}; the operation is unknown there",
            result.unreachable.join(", ")
        );
        return Err(Error::new(ErrorKind::ClusterRouting, message)
            .with_details(ErrorDetails::Result(Box::new(result))));
    }
    if check_rejected && result.rejected > 0 {
        let message = format!("{} sessions were left unchanged: a property limit", result.rejected);
        return Err(Error::new(ErrorKind::LimitExceeded, message)
            .with_details(ErrorDetails::Result(Box::new(result))));
    }
    Ok(result.total)
}

/// The local check of changeRoles: not both empty, no role in both, valid names.
fn check_roles(remove: &[String], add: &[String]) -> Result<()> {
    if remove.is_empty() && add.is_empty() {
        return Err(Error::invalid_argument("roles", "changeRoles needs a role to remove or to add"));
    }
    let removed: BTreeSet<&str> = remove.iter().map(String::as_str).collect();
    if let Some(both) = add.iter().find(|r| removed.contains(r.as_str())) {
        return Err(Error::invalid_argument(both.clone(), format!("role {both} is both removed and added")));
    }
    if let Some(bad) = remove.iter().chain(add).find(|r| !is_valid_role_name(r)) {
        return Err(Error::invalid_argument(
            bad.clone(),
            format!("{bad:?} is not a role name ([A-Za-z0-9_.-], 1 to 64 characters)"),
        ));
    }
    Ok(())
}

fn strings<S: Into<String>>(items: impl IntoIterator<Item = S>) -> Vec<String> {
    items.into_iter().map(Into::into).collect()
}

impl ClientControl {
    /// The controlling session's socket descriptor: see [`Session::socket_fd`].
    #[cfg(unix)]
    pub fn socket_fd(&self) -> Option<std::os::fd::RawFd> {
        self.session.socket_fd()
    }

    pub(crate) fn new(session: Session) -> Self {
        Self { session, options: ControlOptions::default() }
    }

    fn inner(&self) -> Arc<Inner> {
        Arc::clone(&self.session.inner)
    }

    /// The same operations with these options.
    pub fn with_options(&self, options: ControlOptions) -> ClientControl {
        ClientControl { session: self.session.clone(), options }
    }

    /// The same operations failing with `LIMIT_EXCEEDED` (acting on none) when
    /// a filter matches more than `max` sessions.
    pub fn max_targets(&self, max: u64) -> ClientControl {
        self.with_options(ControlOptions { max_targets: Some(max) })
    }

    fn target_op(&self, request: Request, check_rejected: bool) -> BoxFuture<Result<u64>> {
        let detailed = self.detailed(Ok(request));
        Box::pin(async move { plain(detailed.await?, check_rejected) })
    }

    fn detailed(&self, request: Result<Request>) -> BoxFuture<Result<FilterResult>> {
        let inner = self.inner();
        Box::pin(async move {
            match inner.request(request?).await? {
                Reply::Result(result) => Ok(result),
                other => Err(unexpected(other)),
            }
        })
    }

    /// Closes the target sessions (`CLOSED_BY_CONTROLLER`); the count closed.
    ///
    /// ```no_run
    /// # async fn demo(session: usher_core::client::Session, id: usher_core::SessionId) -> usher_core::error::Result<()> {
    /// let clients = session.clients();
    /// assert_eq!(clients.close(id).await?, 1);
    /// let n = clients.close("$Principal is 'guest'").await?;
    /// println!("closed {n}");
    /// # Ok(()) }
    /// ```
    pub fn close(&self, target: impl Into<Target>) -> BoxFuture<Result<u64>> {
        self.target_op(Request::Close { target: target.into(), max_targets: self.options.max_targets }, false)
    }

    /// [`close`](Self::close) with the full result.
    ///
    /// ```no_run
    /// # async fn demo(session: usher_core::client::Session) -> usher_core::error::Result<()> {
    /// let result = session.clients().close_detailed("hasRoles ['CLIENT']").await?;
    /// println!("{} closed, {} skipped by dominance", result.total, result.denied);
    /// # Ok(()) }
    /// ```
    pub fn close_detailed(&self, target: impl Into<Target>) -> BoxFuture<Result<FilterResult>> {
        self.detailed(Ok(Request::Close { target: target.into(), max_targets: self.options.max_targets }))
    }

    fn change_roles_request(&self, target: Target, remove: Vec<String>, add: Vec<String>) -> Result<Request> {
        check_roles(&remove, &add)?;
        Ok(Request::ChangeRoles { target, remove, add, max_targets: self.options.max_targets })
    }

    /// Removes then adds roles on the target sessions; the count matched.
    /// Both empty, or a role in both, is `INVALID_ARGUMENT` without a round trip.
    ///
    /// ```no_run
    /// # async fn demo(session: usher_core::client::Session, id: usher_core::SessionId) -> usher_core::error::Result<()> {
    /// use usher_core::client::NO_ROLES;
    /// session.clients().change_roles(id, NO_ROLES, ["TOPIC_CONTROL"]).await?;
    /// session.clients().change_roles("hasRoles ['TOPIC_CONTROL']", ["TOPIC_CONTROL"], NO_ROLES).await?;
    /// # Ok(()) }
    /// ```
    pub fn change_roles<R: Into<String>, A: Into<String>>(
        &self,
        target: impl Into<Target>,
        remove: impl IntoIterator<Item = R>,
        add: impl IntoIterator<Item = A>,
    ) -> BoxFuture<Result<u64>> {
        let detailed = self.change_roles_detailed(target, remove, add);
        Box::pin(async move { plain(detailed.await?, false) })
    }

    /// [`change_roles`](Self::change_roles) with the full result.
    ///
    /// ```no_run
    /// # async fn demo(session: usher_core::client::Session) -> usher_core::error::Result<()> {
    /// let r = session.clients().change_roles_detailed("all", ["OPERATOR"], usher_core::client::NO_ROLES).await?;
    /// println!("{} matched, {} denied", r.total, r.denied);
    /// # Ok(()) }
    /// ```
    pub fn change_roles_detailed<R: Into<String>, A: Into<String>>(
        &self,
        target: impl Into<Target>,
        remove: impl IntoIterator<Item = R>,
        add: impl IntoIterator<Item = A>,
    ) -> BoxFuture<Result<FilterResult>> {
        self.detailed(self.change_roles_request(target.into(), strings(remove), strings(add)))
    }

    /// Reads one session's properties: names, `*F` (all fixed), `*U` (all user).
    ///
    /// ```no_run
    /// # async fn demo(session: usher_core::client::Session, id: usher_core::SessionId) -> usher_core::error::Result<()> {
    /// let props = session.clients().get_session_properties(id, ["*F", "team"]).await?;
    /// println!("{:?}", props.get("$Principal"));
    /// # Ok(()) }
    /// ```
    pub fn get_session_properties<S: Into<String>>(
        &self,
        session: SessionId,
        keys: impl IntoIterator<Item = S>,
    ) -> BoxFuture<Result<BTreeMap<String, String>>> {
        let inner = self.inner();
        let request = Request::GetSessionProperties { session, keys: strings(keys) };
        Box::pin(async move {
            match inner.request(request).await? {
                Reply::Properties(map) => Ok(map),
                other => Err(unexpected(other)),
            }
        })
    }

    fn set_properties_request<K: Into<String>, V: Into<String>>(
        &self,
        target: Target,
        properties: impl IntoIterator<Item = (K, Option<V>)>,
    ) -> Request {
        let properties = properties.into_iter().map(|(k, v)| (k.into(), v.map(Into::into))).collect();
        Request::SetSessionProperties { target, properties, max_targets: self.options.max_targets }
    }

    /// Sets properties on the target sessions (`None` removes the key); the
    /// count matched. Sessions refused for a limit make the plain call fail
    /// with `LIMIT_EXCEEDED` carrying the result.
    ///
    /// ```no_run
    /// # async fn demo(session: usher_core::client::Session, id: usher_core::SessionId) -> usher_core::error::Result<()> {
    /// session.clients().set_session_properties(id, [("team", Some("ops")), ("old", None)]).await?;
    /// # Ok(()) }
    /// ```
    pub fn set_session_properties<K: Into<String>, V: Into<String>>(
        &self,
        target: impl Into<Target>,
        properties: impl IntoIterator<Item = (K, Option<V>)>,
    ) -> BoxFuture<Result<u64>> {
        self.target_op(self.set_properties_request(target.into(), properties), true)
    }

    /// [`set_session_properties`](Self::set_session_properties) with the full
    /// result (by id: `changed` maps each changed key to its old value).
    ///
    /// ```no_run
    /// # async fn demo(session: usher_core::client::Session, id: usher_core::SessionId) -> usher_core::error::Result<()> {
    /// let r = session.clients().set_session_properties_detailed(id, [("team", Some("ops"))]).await?;
    /// println!("{:?}", r.changed);
    /// # Ok(()) }
    /// ```
    pub fn set_session_properties_detailed<K: Into<String>, V: Into<String>>(
        &self,
        target: impl Into<Target>,
        properties: impl IntoIterator<Item = (K, Option<V>)>,
    ) -> BoxFuture<Result<FilterResult>> {
        let detailed = self.detailed(Ok(self.set_properties_request(target.into(), properties)));
        Box::pin(async move {
            match detailed.await {
                // By filter, the server answers rejected sessions with
                // LIMIT_EXCEEDED carrying the result (docs/PROTOCOL.md), which
                // is what the plain call raises; the detailed twin returns the
                // result instead (SPEC §4.1). By id the error names the key
                // and carries no result, so it still raises.
                Err(Error {
                    kind: ErrorKind::LimitExceeded, details: ErrorDetails::Result(result), ..
                }) => Ok(*result),
                other => other,
            }
        })
    }

    /// Turns conflation on or off for the target sessions; the count matched.
    ///
    /// ```no_run
    /// # async fn demo(session: usher_core::client::Session, id: usher_core::SessionId) -> usher_core::error::Result<()> {
    /// session.clients().set_conflated(id, true).await?;
    /// # Ok(()) }
    /// ```
    pub fn set_conflated(&self, target: impl Into<Target>, conflated: bool) -> BoxFuture<Result<u64>> {
        let request =
            Request::SetConflated { target: target.into(), conflated, max_targets: self.options.max_targets };
        self.target_op(request, false)
    }

    /// [`set_conflated`](Self::set_conflated) with the full result.
    ///
    /// ```no_run
    /// # async fn demo(session: usher_core::client::Session) -> usher_core::error::Result<()> {
    /// let r = session.clients().set_conflated_detailed("all", false).await?;
    /// println!("{}", r.total);
    /// # Ok(()) }
    /// ```
    pub fn set_conflated_detailed(
        &self,
        target: impl Into<Target>,
        conflated: bool,
    ) -> BoxFuture<Result<FilterResult>> {
        let request =
            Request::SetConflated { target: target.into(), conflated, max_targets: self.options.max_targets };
        self.detailed(Ok(request))
    }

    /// Sets the throttler of the target sessions; the count matched.
    ///
    /// ```no_run
    /// # async fn demo(session: usher_core::client::Session, id: usher_core::SessionId) -> usher_core::error::Result<()> {
    /// use usher_core::protocol::Throttler;
    /// session.clients().set_throttled(id, Throttler::MessagesPerSecond(100)).await?;
    /// # Ok(()) }
    /// ```
    pub fn set_throttled(&self, target: impl Into<Target>, throttler: Throttler) -> BoxFuture<Result<u64>> {
        let request =
            Request::SetThrottled { target: target.into(), throttler, max_targets: self.options.max_targets };
        self.target_op(request, false)
    }

    /// [`set_throttled`](Self::set_throttled) with the full result.
    ///
    /// ```no_run
    /// # async fn demo(session: usher_core::client::Session) -> usher_core::error::Result<()> {
    /// use usher_core::protocol::Throttler;
    /// let r = session.clients().set_throttled_detailed("all", Throttler::Unthrottled).await?;
    /// println!("{}", r.total);
    /// # Ok(()) }
    /// ```
    pub fn set_throttled_detailed(
        &self,
        target: impl Into<Target>,
        throttler: Throttler,
    ) -> BoxFuture<Result<FilterResult>> {
        let request =
            Request::SetThrottled { target: target.into(), throttler, max_targets: self.options.max_targets };
        self.detailed(Ok(request))
    }

    /// A page of matching sessions with the requested properties, ordered by
    /// (`$StartTime`, `$SessionId`).
    ///
    /// ```no_run
    /// # async fn demo(session: usher_core::client::Session) -> usher_core::error::Result<()> {
    /// use usher_core::protocol::FetchRequest;
    /// let page = session
    ///     .clients()
    ///     .fetch_sessions(FetchRequest { filter: "all".into(), keys: vec!["$Principal".into()], ..Default::default() })
    ///     .await?;
    /// for s in &page.sessions {
    ///     println!("{} {:?}", s.id, s.properties);
    /// }
    /// # Ok(()) }
    /// ```
    pub fn fetch_sessions(&self, request: FetchRequest) -> BoxFuture<Result<SessionPage>> {
        let inner = self.inner();
        Box::pin(async move {
            match inner.request(Request::FetchSessions(request)).await? {
                Reply::Sessions(page) => Ok(page),
                other => Err(unexpected(other)),
            }
        })
    }

    /// How many sessions match (acts on none).
    ///
    /// ```no_run
    /// # async fn demo(session: usher_core::client::Session) -> usher_core::error::Result<()> {
    /// let n = session.clients().count("$ClientType is 'PYTHON'").await?;
    /// println!("{n} Python sessions");
    /// # Ok(()) }
    /// ```
    pub fn count(&self, filter: impl Into<String>) -> BoxFuture<Result<u64>> {
        let detailed = self.count_detailed(filter);
        Box::pin(async move { plain(detailed.await?, false) })
    }

    /// [`count`](Self::count) with the count per server.
    ///
    /// ```no_run
    /// # async fn demo(session: usher_core::client::Session) -> usher_core::error::Result<()> {
    /// let r = session.clients().count_detailed("all").await?;
    /// for (server, n) in &r.per_server {
    ///     println!("{server}: {n}");
    /// }
    /// # Ok(()) }
    /// ```
    pub fn count_detailed(&self, filter: impl Into<String>) -> BoxFuture<Result<FilterResult>> {
        self.detailed(Ok(Request::Count { filter: filter.into() }))
    }

    fn register_session_events(
        &self,
        params: SessionEventParams,
    ) -> BoxFuture<Result<(SinkKey, Feed<crate::protocol::SessionEvent>)>> {
        let inner = self.inner();
        Box::pin(async move {
            let (registration, rx, shared) = inner.new_registration()?;
            let key = SinkKey::Registration(registration);
            let request = Request::AddSessionListener {
                registration,
                filter: params.filter,
                keys: params.properties,
                after: params.after,
            };
            let answer = inner.call(request, Some(key)).await?;
            Ok((key, Feed::new(answer.snapshot, rx, shared)))
        })
    }

    fn register_queue_events(&self) -> BoxFuture<Result<(SinkKey, Feed<crate::protocol::QueueEvent>)>> {
        let inner = self.inner();
        Box::pin(async move {
            let (registration, rx, shared) = inner.new_registration()?;
            let key = SinkKey::Registration(registration);
            let answer = inner.call(Request::SetQueueHandler { registration }, Some(key)).await?;
            Ok((key, Feed::new(answer.snapshot, rx, shared)))
        })
    }

    /// Registers a session-event listener. Resolves once the snapshot (one
    /// `ACTIVE` per matching session) has been given to the listener; live
    /// events follow in order. Keep the returned handle: dropping it
    /// unregisters.
    ///
    /// ```no_run
    /// # async fn demo(session: usher_core::client::Session) -> usher_core::error::Result<()> {
    /// use usher_core::client::{SessionEventListener, SessionEventParams};
    /// use usher_core::protocol::SessionEvent;
    /// struct Print;
    /// impl SessionEventListener for Print {
    ///     fn on_event(&mut self, event: SessionEvent) {
    ///         println!("{event:?}");
    ///     }
    /// }
    /// let params = SessionEventParams::new().filter("$Principal is 'client'").properties(["$Roles"]);
    /// let registration = session.clients().add_session_event_listener(Print, params).await?;
    /// // ...
    /// registration.close().await?;
    /// # Ok(()) }
    /// ```
    pub fn add_session_event_listener<L: SessionEventListener>(
        &self,
        listener: L,
        params: SessionEventParams,
    ) -> BoxFuture<Result<ListenerRegistration>> {
        let session = self.session.clone();
        let register = self.register_session_events(params);
        Box::pin(async move {
            let (key, feed) = register.await?;
            Ok(spawn_session_listener(session, key, feed, listener))
        })
    }

    /// Session events as a [`Stream`](futures_util::Stream): the snapshot
    /// first, then live events. Resolves once the snapshot has arrived.
    ///
    /// ```no_run
    /// # async fn demo(session: usher_core::client::Session) -> usher_core::error::Result<()> {
    /// use futures_util::StreamExt;
    /// use usher_core::client::SessionEventParams;
    /// let mut events = session.clients().session_events(SessionEventParams::new()).await?;
    /// while let Some(event) = events.next().await {
    ///     println!("{:?}", event?);
    /// }
    /// # Ok(()) }
    /// ```
    pub fn session_events(&self, params: SessionEventParams) -> BoxFuture<Result<SessionEventStream>> {
        let session = self.session.clone();
        let register = self.register_session_events(params);
        Box::pin(async move {
            let (key, feed) = register.await?;
            Ok(EventStream::new(session, key, feed))
        })
    }

    /// Registers this session's queue event handler (one per session; a
    /// second is `HANDLER_CONFLICT`). Keep the returned handle: dropping it
    /// unregisters.
    ///
    /// ```no_run
    /// # async fn demo(session: usher_core::client::Session) -> usher_core::error::Result<()> {
    /// use usher_core::SessionId;
    /// use usher_core::client::QueueEventListener;
    /// use usher_core::protocol::QueuePolicy;
    /// struct Conflate(usher_core::client::ClientControl);
    /// impl QueueEventListener for Conflate {
    ///     fn on_upper_threshold_crossed(&mut self, id: SessionId, _: QueuePolicy) {
    ///         tokio::spawn(self.0.set_conflated(id, true));
    ///     }
    ///     fn on_lower_threshold_crossed(&mut self, id: SessionId, _: QueuePolicy) {
    ///         tokio::spawn(self.0.set_conflated(id, false));
    ///     }
    /// }
    /// let clients = session.clients();
    /// let handler = clients.set_queue_event_handler(Conflate(clients.clone())).await?;
    /// # drop(handler);
    /// # Ok(()) }
    /// ```
    pub fn set_queue_event_handler<L: QueueEventListener>(
        &self,
        listener: L,
    ) -> BoxFuture<Result<ListenerRegistration>> {
        let session = self.session.clone();
        let register = self.register_queue_events();
        Box::pin(async move {
            let (key, feed) = register.await?;
            Ok(spawn_queue_listener(session, key, feed, listener))
        })
    }

    /// Queue events as a [`Stream`](futures_util::Stream) (this session's
    /// queue handler; a second is `HANDLER_CONFLICT`).
    ///
    /// ```no_run
    /// # async fn demo(session: usher_core::client::Session) -> usher_core::error::Result<()> {
    /// use futures_util::StreamExt;
    /// let mut events = session.clients().queue_events().await?;
    /// while let Some(event) = events.next().await {
    ///     println!("{:?}", event?);
    /// }
    /// # Ok(()) }
    /// ```
    pub fn queue_events(&self) -> BoxFuture<Result<QueueEventStream>> {
        let session = self.session.clone();
        let register = self.register_queue_events();
        Box::pin(async move {
            let (key, feed) = register.await?;
            Ok(EventStream::new(session, key, feed))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn role_checks() {
        let kind = |r: &[&str], a: &[&str]| check_roles(&v(r), &v(a)).map_err(|e| (e.kind, e.details));
        assert_eq!(kind(&[], &[]).expect_err("must fail").0, ErrorKind::InvalidArgument);
        assert_eq!(
            kind(&["A", "B"], &["B"]),
            Err((ErrorKind::InvalidArgument, ErrorDetails::Argument("B".into())))
        );
        assert_eq!(kind(&["bad role"], &[]).expect_err("must fail").0, ErrorKind::InvalidArgument);
        assert_eq!(kind(&[], &[&"x".repeat(65)]).expect_err("must fail").0, ErrorKind::InvalidArgument);
        assert_eq!(kind(&["A"], &["B.c-d_1"]), Ok(()));
    }

    #[test]
    fn plain_maps_partial_results() {
        let ok = FilterResult { total: 3, ..Default::default() };
        assert_eq!(plain(ok.clone(), true), Ok(3));
        let partial = FilterResult { total: 2, unreachable: vec!["b".into()], ..Default::default() };
        let e = plain(partial.clone(), false).expect_err("must fail");
        assert_eq!(e.kind, ErrorKind::ClusterRouting);
        assert_eq!(e.filter_result(), Some(&partial));
        let rejected = FilterResult { total: 2, rejected: 1, ..Default::default() };
        assert_eq!(plain(rejected.clone(), false), Ok(2));
        let e = plain(rejected.clone(), true).expect_err("must fail");
        assert_eq!(e.kind, ErrorKind::LimitExceeded);
        assert_eq!(e.filter_result(), Some(&rejected));
    }
}
