//! `SessionId`, a Swift value type (`Hashable`, `CustomStringConvertible`).

use std::fmt;

use usher_core::id;

use crate::UsherError;

/// A session id: a server part and a value; text form `%016x-%016x`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, uniffi::Record)]
#[uniffi::export(Display, Eq, Hash)]
pub struct SessionId {
    /// The server part.
    pub server: u64,
    /// The value, unique within its server.
    pub value: u64,
}

impl From<id::SessionId> for SessionId {
    fn from(id: id::SessionId) -> Self {
        Self { server: id.server, value: id.value }
    }
}

impl From<SessionId> for id::SessionId {
    fn from(id: SessionId) -> Self {
        id::SessionId::new(id.server, id.value)
    }
}

impl fmt::Display for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        id::SessionId::from(*self).fmt(f)
    }
}

/// Parses the text form (either case, surrounding white space ignored);
/// throws `UsherError.invalidArgument` otherwise.
#[uniffi::export]
pub fn parse_session_id(text: String) -> Result<SessionId, UsherError> {
    let parsed = text.parse::<id::SessionId>().map_err(usher_core::Error::from)?;
    Ok(parsed.into())
}
