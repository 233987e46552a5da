//! What servers say to each other over NATS (SPEC §7; subjects and payloads
//! in `docs/CLUSTER.md`). Every payload is one MessagePack value of these
//! serde types, encoded like the client protocol (named struct fields,
//! externally tagged enums). Clients never see them, so they live in the
//! server, not in `usher-core`; they embed core's protocol types
//! ([`Request`], [`Reply`], encoded `ServerMessage` frames) so an operation
//! runs on a remote server exactly as it would for a local caller.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_bytes::ByteBuf;
use usher_core::SessionId;
use usher_core::protocol::{RegistrationId, Reply, Request, WireError};

/// Subjects of one cluster, all under `usher.<cluster name>`.
#[derive(Debug, Clone)]
pub(crate) struct Subjects {
    prefix: String,
}

impl Subjects {
    pub(crate) fn new(cluster: &str) -> Self {
        Self { prefix: format!("usher.{cluster}") }
    }

    /// Heartbeats of every member ([`Heartbeat`]).
    pub(crate) fn heartbeat(&self) -> String {
        format!("{}.hb", self.prefix)
    }

    /// Requests to one server ([`ClusterRequest`]; replies are [`OpReply`]).
    pub(crate) fn server(&self, part: u64) -> String {
        format!("{}.srv.{part:016x}", self.prefix)
    }

    /// Listener traffic for sessions of one server ([`Forward`]).
    pub(crate) fn events(&self, part: u64) -> String {
        format!("{}.ev.{part:016x}", self.prefix)
    }

    /// Queue events of every member ([`Forward`] with no owner).
    pub(crate) fn queue(&self) -> String {
        format!("{}.queue", self.prefix)
    }
}

/// "I am here" (every second), or "I am leaving" (on shutdown).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Heartbeat {
    /// The sender's server part (the first half of its session ids).
    pub server: u64,
    /// Its `$ServerName`.
    pub name: String,
    /// True once, on orderly shutdown: drop me now.
    pub leaving: bool,
}

/// Who asked, carried with every routed operation. The receiving server
/// resolves `roles` with its own security store (every member must load
/// the same store) and checks permissions and dominance with them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Caller {
    /// The calling session.
    pub id: SessionId,
    /// Its principal (for the audit line).
    pub principal: String,
    /// Its assigned roles.
    pub roles: Vec<String>,
}

/// A message on a server's own subject.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum ClusterRequest {
    /// Run a control operation on this server's sessions only; reply
    /// [`OpReply`].
    Op {
        /// The caller.
        caller: Caller,
        /// The operation (a by-id target names a session of this server;
        /// a filter is evaluated on this server's sessions).
        request: Request,
    },
    /// Register (or replace) a listener of a remote session on this
    /// server's sessions: its snapshot and then live events are published
    /// on the owner's server's events subject. Reply [`OpReply`] (`Done`)
    /// once the snapshot is queued.
    Listen {
        /// The listener's session (on another server).
        owner: SessionId,
        /// Its registration id.
        registration: RegistrationId,
        /// Its filter.
        filter: Option<String>,
        /// Its keys.
        keys: Vec<String>,
        /// Its `after`.
        after: Option<u64>,
    },
    /// The listener ended (no reply).
    Unlisten {
        /// The listener's session.
        owner: SessionId,
        /// Its registration id.
        registration: RegistrationId,
    },
    /// The owner session closed: drop all its listeners (no reply).
    OwnerGone {
        /// The session.
        owner: SessionId,
    },
}

/// The answer to [`ClusterRequest::Op`] and [`ClusterRequest::Listen`].
pub(crate) type OpReply = Result<Reply, WireError>;

/// Encoded `ServerMessage::Push` frames from one server, in order.
///
/// For listeners (`owner` set) these are the pushes the remote server
/// queued for the owner session: `SessionEvent`s, then, as the snapshot
/// marker, a `RegistrationClosed` for the registration whose snapshot is
/// complete (a real end of a remote registration is never forwarded), and
/// `Closing` when the remote side could not keep up. For queue events
/// (`owner` none) they are `QueueEvent` pushes about the sender's sessions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Forward {
    /// The sending server's part.
    pub from: u64,
    /// The listener's session, for listener traffic.
    pub owner: Option<SessionId>,
    /// The frames.
    pub frames: Vec<ByteBuf>,
}

/// Encodes a cluster message.
pub(crate) fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    // Encoding our own serde types into a Vec cannot fail (no I/O, every
    // map key is a string).
    rmp_serde::to_vec_named(value).unwrap_or_default()
}

/// Decodes a cluster message.
pub(crate) fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, rmp_serde::decode::Error> {
    rmp_serde::from_slice(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use usher_core::Target;

    #[test]
    fn messages_round_trip() {
        let hb = Heartbeat { server: 7, name: "a".into(), leaving: false };
        assert_eq!(decode::<Heartbeat>(&encode(&hb)).ok(), Some(hb));
        let req = ClusterRequest::Op {
            caller: Caller {
                id: SessionId::new(1, 2),
                principal: "admin".into(),
                roles: vec!["ADMINISTRATOR".into()],
            },
            request: Request::Close { target: Target::Filter("all".into()), max_targets: None },
        };
        assert_eq!(decode::<ClusterRequest>(&encode(&req)).ok(), Some(req));
        let s = Subjects::new("c");
        assert_eq!(s.server(0xab), "usher.c.srv.00000000000000ab");
    }
}
