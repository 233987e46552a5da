//! Value types that travel inside protocol messages and appear in every API:
//! queue policies, close reasons, client types, filter results, events.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::id::SessionId;

/// What kind of client library opened a session (`$ClientType`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ClientType {
    /// The Rust client.
    Rust,
    /// The Python binding.
    Python,
    /// The Node.js binding.
    Node,
    /// The Swift binding.
    Swift,
    /// The `usher` command line.
    Cli,
    /// Anything else.
    Other,
}

impl ClientType {
    /// The `$ClientType` text.
    pub const fn as_str(self) -> &'static str {
        match self {
            ClientType::Rust => "RUST",
            ClientType::Python => "PYTHON",
            ClientType::Node => "NODE",
            ClientType::Swift => "SWIFT",
            ClientType::Cli => "CLI",
            ClientType::Other => "OTHER",
        }
    }
}

/// Why a session ended (SPEC §4.4).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum CloseReason {
    /// The socket broke or the client vanished.
    ConnectionLost,
    /// The client closed its own session.
    ClosedByClient,
    /// A controller closed it.
    ClosedByController,
    /// Its outbound queue passed `max_depth` or `max_bytes`.
    MessageQueueLimitReached,
    /// The hello did not authenticate.
    AuthenticationFailed,
    /// The client broke the protocol.
    ProtocolError,
    /// A frame passed the frame-size bound.
    MessageTooLarge,
    /// The server is shutting down.
    ServerShutdown,
    /// No traffic (not even pongs) within the idle timeout.
    IdleTimeout,
    /// In events only: the session's server left the cluster.
    ServerLost,
}

impl CloseReason {
    /// The upper-snake text.
    pub const fn as_str(self) -> &'static str {
        match self {
            CloseReason::ConnectionLost => "CONNECTION_LOST",
            CloseReason::ClosedByClient => "CLOSED_BY_CLIENT",
            CloseReason::ClosedByController => "CLOSED_BY_CONTROLLER",
            CloseReason::MessageQueueLimitReached => "MESSAGE_QUEUE_LIMIT_REACHED",
            CloseReason::AuthenticationFailed => "AUTHENTICATION_FAILED",
            CloseReason::ProtocolError => "PROTOCOL_ERROR",
            CloseReason::MessageTooLarge => "MESSAGE_TOO_LARGE",
            CloseReason::ServerShutdown => "SERVER_SHUTDOWN",
            CloseReason::IdleTimeout => "IDLE_TIMEOUT",
            CloseReason::ServerLost => "SERVER_LOST",
        }
    }
}

impl fmt::Display for CloseReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How writes to a session's socket are paced (SPEC §5.3).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Throttler {
    /// As fast as the client reads.
    #[default]
    Unthrottled,
    /// At most this many messages a second.
    MessagesPerSecond(u32),
    /// At most this many bytes a second.
    BytesPerSecond(u64),
}

/// A session's outbound queue policy (SPEC §5.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct QueuePolicy {
    /// One pending value per topic while on.
    pub conflated: bool,
    /// Pacing of socket writes.
    pub throttler: Throttler,
    /// Most messages queued before the session is closed.
    pub max_depth: u32,
    /// Most bytes queued before the session is closed.
    pub max_bytes: u64,
    /// Upper threshold, percent of `max_depth`.
    pub upper_threshold: u8,
    /// Lower threshold, percent of `max_depth`; below `upper_threshold`.
    pub lower_threshold: u8,
}

impl Default for QueuePolicy {
    fn default() -> Self {
        Self {
            conflated: false,
            throttler: Throttler::Unthrottled,
            max_depth: 1000,
            max_bytes: 4 * 1024 * 1024,
            upper_threshold: 80,
            lower_threshold: 20,
        }
    }
}

impl QueuePolicy {
    /// U = ceil(max_depth × upper / 100): the depth that fires "upper crossed".
    pub fn upper_depth(&self) -> u32 {
        (u64::from(self.max_depth) * u64::from(self.upper_threshold)).div_ceil(100) as u32
    }

    /// L = floor(max_depth × lower / 100): the depth that fires "lower crossed".
    pub fn lower_depth(&self) -> u32 {
        (u64::from(self.max_depth) * u64::from(self.lower_threshold) / 100) as u32
    }
}

/// The full result of an operation on a target (SPEC §4.1).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FilterResult {
    /// Sessions matched and acted on (1 by id), unchanged ones included.
    pub total: u64,
    /// `total` per server name.
    pub per_server: BTreeMap<String, u64>,
    /// Servers that did not answer by the deadline (cluster only).
    pub unreachable: Vec<String>,
    /// Sessions skipped by the dominance rule.
    pub denied: u64,
    /// Sessions refused for a limit (setSessionProperties).
    pub rejected: u64,
    /// setSessionProperties by id: each changed key and its old value
    /// (`None`: the key was absent).
    pub changed: Option<BTreeMap<String, Option<String>>>,
}

/// One session in a `fetchSessions` page.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionInfo {
    /// The session.
    pub id: SessionId,
    /// The requested properties it has.
    pub properties: BTreeMap<String, String>,
}

/// A page of `fetchSessions`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionPage {
    /// Sessions ordered by (`$StartTime`, `$SessionId`).
    pub sessions: Vec<SessionInfo>,
    /// How many sessions matched in all.
    pub total: u64,
    /// True when more sessions follow this page.
    pub has_more: bool,
    /// Pass back to fetch the next page.
    pub next_cursor: Option<String>,
    /// Servers that did not answer (cluster only).
    pub unreachable: Vec<String>,
}

/// What a `fetchSessions` call asks for.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FetchRequest {
    /// Which sessions (default `all`).
    pub filter: String,
    /// Which properties to return (`*F`, `*U`, or names).
    pub keys: Vec<String>,
    /// Page size; default 100, at most 1,000.
    pub limit: Option<u32>,
    /// From a previous page's `next_cursor`.
    pub cursor: Option<String>,
}

impl Default for FetchRequest {
    fn default() -> Self {
        Self { filter: "all".into(), keys: Vec::new(), limit: None, cursor: None }
    }
}

/// The state a `STATE` session event reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum SessionState {
    /// The session exists (snapshot) or has just opened.
    Active,
    /// The session has ended.
    Closed,
}

/// An event a session listener receives (SPEC §4.2).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum SessionEvent {
    /// `ACTIVE` (snapshot or opened) or `CLOSED`.
    State {
        /// The session.
        session: SessionId,
        /// Its state.
        state: SessionState,
        /// For `CLOSED`: why.
        reason: Option<CloseReason>,
        /// The requested properties: current for `ACTIVE`, last for `CLOSED`.
        properties: BTreeMap<String, String>,
    },
    /// Requested properties changed.
    Properties {
        /// The session.
        session: SessionId,
        /// Each changed key: (old, new); `None` means absent.
        changed: BTreeMap<String, (Option<String>, Option<String>)>,
        /// Whether the session matches the listener's filter now.
        matches: bool,
    },
}

impl SessionEvent {
    /// The session the event is about.
    pub fn session(&self) -> SessionId {
        match self {
            SessionEvent::State { session, .. } | SessionEvent::Properties { session, .. } => *session,
        }
    }
}

/// An event a queue handler receives (SPEC §4.3).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum QueueEvent {
    /// The queue depth rose to the upper threshold.
    UpperThresholdCrossed {
        /// The session.
        session: SessionId,
        /// Its current policy.
        policy: QueuePolicy,
    },
    /// After an upper event, the depth fell to the lower threshold.
    LowerThresholdCrossed {
        /// The session.
        session: SessionId,
        /// Its current policy.
        policy: QueuePolicy,
    },
    /// A controller really changed conflation or throttling.
    PolicyChanged {
        /// The session.
        session: SessionId,
        /// The new policy.
        policy: QueuePolicy,
    },
}

impl QueueEvent {
    /// The session the event is about.
    pub fn session(&self) -> SessionId {
        match self {
            QueueEvent::UpperThresholdCrossed { session, .. }
            | QueueEvent::LowerThresholdCrossed { session, .. }
            | QueueEvent::PolicyChanged { session, .. } => *session,
        }
    }

    /// The policy carried by the event.
    pub fn policy(&self) -> &QueuePolicy {
        match self {
            QueueEvent::UpperThresholdCrossed { policy, .. }
            | QueueEvent::LowerThresholdCrossed { policy, .. }
            | QueueEvent::PolicyChanged { policy, .. } => policy,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thresholds_round_as_spec_says() {
        let p = QueuePolicy::default();
        assert_eq!((p.upper_depth(), p.lower_depth()), (800, 200));
        let p = QueuePolicy { max_depth: 7, upper_threshold: 80, lower_threshold: 20, ..p };
        // ceil(5.6) = 6, floor(1.4) = 1
        assert_eq!((p.upper_depth(), p.lower_depth()), (6, 1));
    }

    #[test]
    fn reasons_serialize_as_codes() {
        let json = serde_json::to_string(&CloseReason::MessageQueueLimitReached).expect("encode");
        assert_eq!(json, "\"MESSAGE_QUEUE_LIMIT_REACHED\"");
        assert_eq!(CloseReason::ServerLost.as_str(), "SERVER_LOST");
        assert_eq!(serde_json::to_string(&ClientType::Python).expect("encode"), "\"PYTHON\"");
    }
}
