//! Session ids and targets (SPEC §2.1).
//!
//! A [`SessionId`] is a server part (random, drawn once per server process,
//! never 0) and a value unique within that server. Its text form is
//! `%016x-%016x`. A [`Target`] is what every "by id or by filter" operation
//! takes; [`Target::parse`] is the one function that decides which a string is.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// The id of one session anywhere in a cluster.
///
/// On the wire it is a MessagePack map `{"server": u64, "value": u64}` (see
/// `docs/PROTOCOL.md`); in text it is `8f3a2c41d09e7b15-0000000000000007`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct SessionId {
    /// The server part: names the server that holds the session.
    pub server: u64,
    /// Unique within that server.
    pub value: u64,
}

impl SessionId {
    /// Length of the text form.
    pub const TEXT_LEN: usize = 33;

    /// Builds an id from its two parts.
    pub const fn new(server: u64, value: u64) -> Self {
        Self { server, value }
    }

    /// Writes the text form into a stack buffer, so hot paths (filter
    /// evaluation) can compare it without allocating.
    pub fn to_text(&self) -> [u8; Self::TEXT_LEN] {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut out = [b'-'; Self::TEXT_LEN];
        for i in 0..16 {
            out[i] = HEX[((self.server >> (60 - 4 * i)) & 0xf) as usize];
            out[17 + i] = HEX[((self.value >> (60 - 4 * i)) & 0xf) as usize];
        }
        out
    }
}

impl fmt::Display for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}-{:016x}", self.server, self.value)
    }
}

impl fmt::Debug for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SessionId({self})")
    }
}

/// The text was not a session id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a session id (expected 16 hex digits, '-', 16 hex digits): {0:?}")]
pub struct ParseSessionIdError(pub String);

/// A malformed id given where an id is required is `INVALID_ARGUMENT` naming
/// `session_id`; every binding maps it the same way through this.
impl From<ParseSessionIdError> for crate::error::Error {
    fn from(e: ParseSessionIdError) -> Self {
        crate::error::Error::invalid_argument("session_id", e.to_string())
    }
}

impl FromStr for SessionId {
    type Err = ParseSessionIdError;

    /// Accepts exactly 16 hex digits, `-`, 16 hex digits (either case), after
    /// trimming white space. Anything else, including a `+` sign or a short
    /// part, is an error.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t = s.trim();
        let err = || ParseSessionIdError(s.to_owned());
        let b = t.as_bytes();
        if b.len() != Self::TEXT_LEN || b[16] != b'-' {
            return Err(err());
        }
        let part = |p: &[u8]| -> Option<u64> {
            if !p.iter().all(u8::is_ascii_hexdigit) {
                return None;
            }
            u64::from_str_radix(std::str::from_utf8(p).ok()?, 16).ok()
        };
        match (part(&b[..16]), part(&b[17..])) {
            (Some(server), Some(value)) => Ok(Self { server, value }),
            _ => Err(err()),
        }
    }
}

/// The sessions an operation acts on: one id, or every session a filter
/// selects. Tagged on the wire (`{"Id": [s, v]}` / `{"Filter": "..."}`) so the
/// server never guesses.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Target {
    /// One session.
    Id(SessionId),
    /// The sessions a filter expression selects (SPEC §3).
    Filter(String),
}

impl Target {
    /// The one rule of SPEC §2.1: after trimming, text of the session-id form
    /// is an id; anything else is a filter (which may then fail to parse).
    pub fn parse(text: &str) -> Self {
        match text.parse::<SessionId>() {
            Ok(id) => Target::Id(id),
            Err(_) => Target::Filter(text.to_owned()),
        }
    }

    /// True when the target is a filter.
    pub fn is_filter(&self) -> bool {
        matches!(self, Target::Filter(_))
    }
}

impl From<SessionId> for Target {
    fn from(id: SessionId) -> Self {
        Target::Id(id)
    }
}

impl From<&SessionId> for Target {
    fn from(id: &SessionId) -> Self {
        Target::Id(*id)
    }
}

impl From<&str> for Target {
    fn from(text: &str) -> Self {
        Target::parse(text)
    }
}

impl From<String> for Target {
    fn from(text: String) -> Self {
        Target::parse(&text)
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Id(id) => write!(f, "{id}"),
            Target::Filter(text) => f.write_str(text),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_error_is_invalid_argument_naming_session_id() {
        let e: crate::error::Error = "nope".parse::<SessionId>().expect_err("not an id").into();
        assert_eq!(e.kind, crate::error::ErrorKind::InvalidArgument);
        assert_eq!(e.details, crate::error::ErrorDetails::Argument("session_id".into()));
    }

    #[test]
    fn text_form_round_trips() {
        let id = SessionId::new(0x8f3a_2c41_d09e_7b15, 7);
        assert_eq!(id.to_string(), "8f3a2c41d09e7b15-0000000000000007");
        assert_eq!(std::str::from_utf8(&id.to_text()).ok(), Some(id.to_string().as_str()));
        assert_eq!("8f3a2c41d09e7b15-0000000000000007".parse(), Ok(id));
        assert_eq!("  8F3A2C41D09E7B15-0000000000000007\n".parse(), Ok(id));
        let max = SessionId::new(u64::MAX, u64::MAX);
        assert_eq!(max.to_string().parse(), Ok(max));
    }

    #[test]
    fn rejects_everything_else() {
        for bad in [
            "",
            "8f3a2c41d09e7b15",
            "8f3a2c41d09e7b15-000000000000007",
            "8f3a2c41d09e7b15-00000000000000070",
            "8f3a2c41d09e7b15_0000000000000007",
            "+f3a2c41d09e7b15-0000000000000007",
            "8f3a2c41d09e7b1g-0000000000000007",
            "8f3a2c41d09e7b15--000000000000007",
            "8f3a 2c41d09e7b1-0000000000000007",
            "é8f3a2c41d09e7b1-000000000000007",
        ] {
            assert!(bad.parse::<SessionId>().is_err(), "{bad:?} parsed");
        }
    }

    #[test]
    fn target_decides_once() {
        let id = SessionId::new(1, 2);
        assert_eq!(Target::parse(&id.to_string()), Target::Id(id));
        assert_eq!(Target::parse(" 0000000000000001-0000000000000002 "), Target::Id(id));
        assert_eq!(Target::parse("$Principal is 'x'"), Target::Filter("$Principal is 'x'".into()));
        assert_eq!(Target::parse("all"), Target::Filter("all".into()));
        assert!(Target::from("0000000000000001-000000000000002").is_filter());
    }

    #[test]
    fn wire_form_is_tagged() {
        let id = SessionId::new(1, 2);
        let bytes = rmp_serde::to_vec_named(&Target::Id(id)).expect("encode");
        let back: Target = rmp_serde::from_slice(&bytes).expect("decode");
        assert_eq!(back, Target::Id(id));
        let f = Target::Filter("all".into());
        let bytes = rmp_serde::to_vec_named(&f).expect("encode");
        assert_eq!(rmp_serde::from_slice::<Target>(&bytes).expect("decode"), f);
    }
}
