//! [`ClientControl`]: the operations of SPEC §4.1, Swift column of §4.6
//! (`session.clientControl()`).
//!
//! A `sessions` argument is a session id in text form or a filter; the core's
//! `Target::parse` decides (SPEC §2.1). The Swift layer
//! (`Usher+Idioms.swift`) adds overloads taking a `SessionId`. Every
//! operation on a target has a `…Detailed` twin returning the full
//! [`FilterResult`]. Argument errors are thrown by the async call, never
//! synchronously.

use std::collections::HashMap;
use std::sync::Arc;

use usher_core::client as core;
use usher_core::id::Target;

use crate::listener::{
    ListenerRegistration, QueueAdapter, QueueEventListener, SessionAdapter, SessionEventListener,
};
use crate::types::{FetchRequest, FilterResult, SessionEventParameters, SessionPage, Throttler};
use crate::{SessionId, UsherError, runtime};

/// Client control on a session. Cheap; every call is a request to the server.
#[derive(Debug, uniffi::Object)]
pub struct ClientControl {
    inner: core::ClientControl,
}

impl ClientControl {
    pub(crate) fn new(inner: core::ClientControl) -> Arc<Self> {
        Arc::new(Self { inner })
    }
}

fn id(session: SessionId) -> usher_core::SessionId {
    session.into()
}

async fn detailed(
    fut: usher_core::client::BoxFuture<usher_core::error::Result<usher_core::protocol::FilterResult>>,
) -> Result<FilterResult, UsherError> {
    runtime::run(fut).await.map(FilterResult::from)
}

#[uniffi::export]
impl ClientControl {
    /// The same operations, failing with `LimitExceeded` (and acting on none)
    /// when a filter matches more than `max` sessions.
    pub fn max_targets(&self, max: u64) -> Arc<ClientControl> {
        ClientControl::new(self.inner.max_targets(max))
    }

    /// Closes one session (`closedByController`); returns 1.
    pub async fn close_client(&self, with: SessionId) -> Result<u64, UsherError> {
        runtime::run(self.inner.close(id(with))).await
    }

    /// `closeClient(with:)` with the full result.
    pub async fn close_client_detailed(&self, with: SessionId) -> Result<FilterResult, UsherError> {
        detailed(self.inner.close_detailed(id(with))).await
    }

    /// Closes every session the filter selects (the caller last, if it
    /// matches); returns how many. Text of the session-id form closes that
    /// one session.
    pub async fn close_clients(&self, filter: String) -> Result<u64, UsherError> {
        runtime::run(self.inner.close(Target::parse(&filter))).await
    }

    /// `closeClients(filter:)` with the full result.
    pub async fn close_clients_detailed(&self, filter: String) -> Result<FilterResult, UsherError> {
        detailed(self.inner.close_detailed(Target::parse(&filter))).await
    }

    /// Removes then adds roles on the target sessions; returns how many
    /// matched. Both lists empty, or a role in both, is `InvalidArgument`.
    #[uniffi::method(default(roles_to_remove = [], roles_to_add = []))]
    pub async fn change_roles(
        &self,
        sessions: String,
        roles_to_remove: Vec<String>,
        roles_to_add: Vec<String>,
    ) -> Result<u64, UsherError> {
        runtime::run(self.inner.change_roles(Target::parse(&sessions), roles_to_remove, roles_to_add)).await
    }

    /// `changeRoles(sessions:rolesToRemove:rolesToAdd:)` with the full result.
    #[uniffi::method(default(roles_to_remove = [], roles_to_add = []))]
    pub async fn change_roles_detailed(
        &self,
        sessions: String,
        roles_to_remove: Vec<String>,
        roles_to_add: Vec<String>,
    ) -> Result<FilterResult, UsherError> {
        detailed(self.inner.change_roles_detailed(Target::parse(&sessions), roles_to_remove, roles_to_add))
            .await
    }

    /// One session's properties: names, `*F` (all fixed), `*U` (all user).
    pub async fn get_session_properties(
        &self,
        session_id: SessionId,
        keys: Vec<String>,
    ) -> Result<HashMap<String, String>, UsherError> {
        let properties = runtime::run(self.inner.get_session_properties(id(session_id), keys)).await?;
        Ok(properties.into_iter().collect())
    }

    /// Sets properties on the target sessions (`nil` removes the key);
    /// returns how many matched. Sessions refused for a limit make it throw
    /// `LimitExceeded` carrying the result.
    pub async fn set_session_properties(
        &self,
        sessions: String,
        properties: HashMap<String, Option<String>>,
    ) -> Result<u64, UsherError> {
        runtime::run(self.inner.set_session_properties(Target::parse(&sessions), properties)).await
    }

    /// `setSessionProperties(sessions:properties:)` with the full result (by
    /// id, `changed` holds each changed key's old value).
    pub async fn set_session_properties_detailed(
        &self,
        sessions: String,
        properties: HashMap<String, Option<String>>,
    ) -> Result<FilterResult, UsherError> {
        detailed(self.inner.set_session_properties_detailed(Target::parse(&sessions), properties)).await
    }

    /// Turns conflation on or off for the target sessions; returns how many
    /// matched. Queue handlers hear `didReportPolicyChange` where it changed.
    pub async fn set_queue_conflation(&self, sessions: String, conflated: bool) -> Result<u64, UsherError> {
        runtime::run(self.inner.set_conflated(Target::parse(&sessions), conflated)).await
    }

    /// `setQueueConflation(sessions:conflated:)` with the full result.
    pub async fn set_queue_conflation_detailed(
        &self,
        sessions: String,
        conflated: bool,
    ) -> Result<FilterResult, UsherError> {
        detailed(self.inner.set_conflated_detailed(Target::parse(&sessions), conflated)).await
    }

    /// Sets the throttler of the target sessions; returns how many matched.
    pub async fn set_throttled(&self, sessions: String, throttler: Throttler) -> Result<u64, UsherError> {
        runtime::run(self.inner.set_throttled(Target::parse(&sessions), throttler.into())).await
    }

    /// `setThrottled(sessions:throttler:)` with the full result.
    pub async fn set_throttled_detailed(
        &self,
        sessions: String,
        throttler: Throttler,
    ) -> Result<FilterResult, UsherError> {
        detailed(self.inner.set_throttled_detailed(Target::parse(&sessions), throttler.into())).await
    }

    /// A page of matching sessions with the requested properties.
    #[uniffi::method(default(request))]
    pub async fn fetch_sessions(&self, request: FetchRequest) -> Result<SessionPage, UsherError> {
        runtime::run(self.inner.fetch_sessions(request.into())).await.map(SessionPage::from)
    }

    /// How many sessions the filter selects (acts on none).
    pub async fn count_sessions(&self, filter: String) -> Result<u64, UsherError> {
        runtime::run(self.inner.count(filter)).await
    }

    /// `countSessions(filter:)` with the count per server.
    pub async fn count_sessions_detailed(&self, filter: String) -> Result<FilterResult, UsherError> {
        detailed(self.inner.count_detailed(filter)).await
    }

    /// Registers a session-event listener; returns once the snapshot (one
    /// `active` event per matching session) has been delivered to it. Keep
    /// the returned handle: releasing it unregisters.
    #[uniffi::method(default(parameters))]
    pub async fn add_session_event_listener(
        &self,
        listener: Arc<dyn SessionEventListener>,
        parameters: SessionEventParameters,
    ) -> Result<Arc<ListenerRegistration>, UsherError> {
        let register = self.inner.add_session_event_listener(SessionAdapter(listener), parameters.into());
        runtime::run(register).await.map(ListenerRegistration::new)
    }

    /// Registers this session's queue event handler (one per session; a
    /// second is `HandlerConflict`). Keep the returned handle: releasing it
    /// unregisters.
    pub async fn set_queue_event_handler(
        &self,
        handler: Arc<dyn QueueEventListener>,
    ) -> Result<Arc<ListenerRegistration>, UsherError> {
        let register = self.inner.set_queue_event_handler(QueueAdapter(handler));
        runtime::run(register).await.map(ListenerRegistration::new)
    }
}
