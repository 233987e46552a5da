//! The wire protocol (SPEC §6; field by field in `docs/PROTOCOL.md`).
//!
//! WebSocket binary frames, each exactly one MessagePack-encoded message.
//! Structs are encoded as maps with field names; enums are externally tagged
//! (`{"Variant": ...}`, unit variants as plain strings).
//!
//! - client → server: [`ClientMessage`] — first a [`Hello`], then requests
//!   carrying a correlation id, and `Bye` to close.
//! - server → client: [`ServerMessage`] — [`Welcome`] or [`Reject`], then
//!   responses (carrying the request's id back) and pushes (no id).
//!
//! Listener registrations carry an id chosen by the client (unique within the
//! session), so the events of a registration's snapshot, which the server
//! pushes before the response that completes the registration, can be routed
//! before that response arrives.

mod codec;
mod types;
mod ws_frame;

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

pub use codec::{DecodeError, decode, encode};
pub use types::*;
pub use ws_frame::push_frame_header;

use crate::error::{Error, ErrorDetails, ErrorKind};
use crate::id::{SessionId, Target};

/// The protocol version this crate speaks. A hello with another version is
/// rejected with a reason naming both.
pub const PROTOCOL_VERSION: u32 = 1;

/// A registration id, chosen by the client, unique within its session.
pub type RegistrationId = u32;

/// First message from the client.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hello {
    /// Must equal the server's [`PROTOCOL_VERSION`].
    pub version: u32,
    /// `$ClientType`.
    pub client_type: ClientType,
    /// `$Environment`, e.g. `RUST_1.95`.
    pub environment: String,
    /// `None` for an anonymous session.
    pub principal: Option<String>,
    /// The password; never logged (see the redacting `Debug`).
    pub password: Option<String>,
    /// Proposed user properties (untrusted; validated by the server).
    pub properties: BTreeMap<String, String>,
}

impl fmt::Debug for Hello {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Hello")
            .field("version", &self.version)
            .field("client_type", &self.client_type)
            .field("environment", &self.environment)
            .field("principal", &self.principal)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("properties", &self.properties)
            .finish()
    }
}

/// Bounds the server enforces on this session, told to the client so the
/// client library can respect them (SPEC §6).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionLimits {
    /// Largest frame, bytes.
    pub max_frame_bytes: u32,
    /// Most requests in flight.
    pub max_in_flight: u32,
    /// Most listener registrations.
    pub max_registrations: u32,
    /// Server pings this often, ms.
    pub ping_interval_ms: u32,
    /// Session closed after this long without traffic, ms.
    pub idle_timeout_ms: u32,
}

impl Default for SessionLimits {
    fn default() -> Self {
        Self {
            max_frame_bytes: 1024 * 1024,
            max_in_flight: 1024,
            max_registrations: 64,
            ping_interval_ms: 20_000,
            idle_timeout_ms: 60_000,
        }
    }
}

/// The server's answer to a good hello.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Welcome {
    /// The new session's id.
    pub session_id: SessionId,
    /// The server's name (`$ServerName`).
    pub server_name: String,
    /// The session's assigned roles, sorted.
    pub roles: Vec<String>,
    /// The session's initial queue policy.
    pub queue_policy: QueuePolicy,
    /// Bounds on this session.
    pub limits: SessionLimits,
    /// `$StartTime`.
    pub start_time: u64,
}

/// The server's answer to a bad hello; the server closes the socket after it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reject {
    /// Why, as a close reason (`AUTHENTICATION_FAILED`, `PROTOCOL_ERROR`, ...).
    pub reason: CloseReason,
    /// The error (kind, message, details).
    pub error: WireError,
}

/// Messages from the client.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ClientMessage {
    /// The first message, exactly once.
    Hello(Hello),
    /// A request; answered by a [`Response`] with the same id.
    Request {
        /// Correlation id, chosen by the client; unique among its requests in flight.
        id: u64,
        /// What to do.
        request: Request,
    },
    /// The client closes its session (`CLOSED_BY_CLIENT`).
    Bye,
}

/// Every request a session can make after its hello.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Request {
    /// Close the target sessions. Reply: [`Reply::Result`].
    Close {
        /// Which sessions.
        target: Target,
        /// Fail with `LIMIT_EXCEEDED` (acting on none) if more match.
        max_targets: Option<u64>,
    },
    /// Remove then add roles. Reply: [`Reply::Result`].
    ChangeRoles {
        /// Which sessions.
        target: Target,
        /// Roles to remove.
        remove: Vec<String>,
        /// Roles to add.
        add: Vec<String>,
        /// As for `Close`.
        max_targets: Option<u64>,
    },
    /// Read one session's properties. Reply: [`Reply::Properties`].
    GetSessionProperties {
        /// The session.
        session: SessionId,
        /// `*F`, `*U` or names.
        keys: Vec<String>,
    },
    /// Set (or with `None`, remove) properties. Reply: [`Reply::Result`].
    SetSessionProperties {
        /// Which sessions.
        target: Target,
        /// Key → new value, `None` to remove.
        properties: BTreeMap<String, Option<String>>,
        /// As for `Close`.
        max_targets: Option<u64>,
    },
    /// Turn conflation on or off. Reply: [`Reply::Result`].
    SetConflated {
        /// Which sessions.
        target: Target,
        /// On or off.
        conflated: bool,
        /// As for `Close`.
        max_targets: Option<u64>,
    },
    /// Set the throttler. Reply: [`Reply::Result`].
    SetThrottled {
        /// Which sessions.
        target: Target,
        /// The new throttler.
        throttler: Throttler,
        /// As for `Close`.
        max_targets: Option<u64>,
    },
    /// A page of matching sessions. Reply: [`Reply::Sessions`].
    FetchSessions(FetchRequest),
    /// How many sessions match (acts on none). Reply: [`Reply::Result`].
    Count {
        /// The filter.
        filter: String,
    },
    /// Register a session listener. The snapshot's events are pushed first,
    /// then the reply [`Reply::Done`].
    AddSessionListener {
        /// Chosen by the client.
        registration: RegistrationId,
        /// Which sessions (default `all`).
        filter: Option<String>,
        /// Which properties events carry (`*F`, `*U`, names).
        keys: Vec<String>,
        /// Only sessions with `$StartTime` > this (ms since epoch).
        after: Option<u64>,
    },
    /// Register this session's queue handler. Reply: [`Reply::Done`].
    SetQueueHandler {
        /// Chosen by the client.
        registration: RegistrationId,
    },
    /// End a registration (listener or queue handler). Reply: [`Reply::Done`];
    /// a [`Push::RegistrationClosed`] follows.
    Unregister {
        /// The registration.
        registration: RegistrationId,
    },
    /// Add a topic (MODIFY_TOPIC). Reply: [`Reply::Done`].
    AddTopic {
        /// Its path.
        path: String,
        /// Its initial value.
        #[serde(with = "serde_bytes")]
        value: Vec<u8>,
    },
    /// Remove a topic (MODIFY_TOPIC). Reply: [`Reply::Done`].
    RemoveTopic {
        /// Its path.
        path: String,
    },
    /// Set a topic's value (UPDATE_TOPIC). Reply: [`Reply::Done`].
    UpdateTopic {
        /// Its path.
        path: String,
        /// The new value.
        #[serde(with = "serde_bytes")]
        value: Vec<u8>,
    },
    /// Subscribe (SELECT_TOPIC on the selector, READ_TOPIC per topic).
    /// Current values are pushed first, then [`Reply::Done`].
    Subscribe {
        /// An exact path, or `path/*`.
        selector: String,
    },
    /// Undo a subscription. Reply: [`Reply::Done`].
    Unsubscribe {
        /// As given to `Subscribe`.
        selector: String,
    },
}

impl Request {
    /// The operation's name for logs and audit lines (`close`, `changeRoles`, ...).
    pub fn name(&self) -> &'static str {
        match self {
            Request::Close { .. } => "close",
            Request::ChangeRoles { .. } => "changeRoles",
            Request::GetSessionProperties { .. } => "getSessionProperties",
            Request::SetSessionProperties { .. } => "setSessionProperties",
            Request::SetConflated { .. } => "setConflated",
            Request::SetThrottled { .. } => "setThrottled",
            Request::FetchSessions(_) => "fetchSessions",
            Request::Count { .. } => "count",
            Request::AddSessionListener { .. } => "addSessionEventListener",
            Request::SetQueueHandler { .. } => "setQueueEventHandler",
            Request::Unregister { .. } => "unregister",
            Request::AddTopic { .. } => "addTopic",
            Request::RemoveTopic { .. } => "removeTopic",
            Request::UpdateTopic { .. } => "updateTopic",
            Request::Subscribe { .. } => "subscribe",
            Request::Unsubscribe { .. } => "unsubscribe",
        }
    }
}

/// Messages from the server.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ServerMessage {
    /// The hello was accepted.
    Welcome(Welcome),
    /// The hello was refused; the socket closes next.
    Reject(Reject),
    /// The answer to one request.
    Response(Response),
    /// Something the client did not ask for in this exchange.
    Push(Push),
}

/// The answer to one request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Response {
    /// The request's correlation id.
    pub id: u64,
    /// `{"Ok": reply}` or `{"Err": error}`.
    pub result: Result<Reply, WireError>,
}

/// A successful answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Reply {
    /// For operations on a target and for `Count`.
    Result(FilterResult),
    /// For `GetSessionProperties`: the requested keys the session has.
    Properties(BTreeMap<String, String>),
    /// For `FetchSessions`.
    Sessions(SessionPage),
    /// For everything else.
    Done,
}

/// Server pushes (no correlation id).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Push {
    /// A session event for a listener registration.
    SessionEvent {
        /// The registration.
        registration: RegistrationId,
        /// The event.
        event: SessionEvent,
    },
    /// A queue event for the queue handler registration.
    QueueEvent {
        /// The registration.
        registration: RegistrationId,
        /// The event.
        event: QueueEvent,
    },
    /// The registration failed (e.g. `ACCESS_DENIED` after a role change);
    /// `RegistrationClosed` follows.
    RegistrationError {
        /// The registration.
        registration: RegistrationId,
        /// What went wrong.
        error: WireError,
    },
    /// The registration has ended; nothing more comes for it.
    RegistrationClosed {
        /// The registration.
        registration: RegistrationId,
    },
    /// A topic's value, for a subscription.
    TopicValue {
        /// The topic.
        path: String,
        /// Its value.
        #[serde(with = "serde_bytes")]
        value: Vec<u8>,
    },
    /// A subscribed topic was removed, or lost to a role change.
    TopicUnsubscribed {
        /// The topic.
        path: String,
    },
    /// A controller changed this session's roles.
    RolesChanged {
        /// The new roles, sorted.
        roles: Vec<String>,
    },
    /// The server is closing this session; the socket closes next.
    Closing {
        /// Why.
        reason: CloseReason,
        /// For people.
        message: String,
    },
}

/// An error as it travels: the code, a message, details.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WireError {
    /// The stable code.
    pub kind: ErrorKind,
    /// For people.
    pub message: String,
    /// For programs.
    pub details: ErrorDetails,
}

impl From<Error> for WireError {
    fn from(e: Error) -> Self {
        Self { kind: e.kind, message: e.message, details: e.details }
    }
}

impl From<WireError> for Error {
    fn from(e: WireError) -> Self {
        Error::new(e.kind, e.message).with_details(e.details)
    }
}

#[cfg(test)]
mod tests;
