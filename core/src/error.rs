//! The one error taxonomy (SPEC §4.5), shared by the wire, the Rust client and
//! every binding.
//!
//! An [`Error`] is a stable [`ErrorKind`] (the exact upper-snake code in every
//! language), a human message, machine-readable [`ErrorDetails`] and, on the
//! client side only, the local cause. Tests assert kinds and details, never
//! message text.

use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::protocol::FilterResult;

/// The stable error codes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ErrorKind {
    /// The caller lacks a permission; details name it.
    AccessDenied,
    /// Wrong principal or password, or anonymous sessions are denied.
    AuthenticationFailed,
    /// The filter does not parse; details list every problem found.
    InvalidFilter,
    /// No session with that id (or its server is not a cluster member).
    NoSuchSession,
    /// An argument is wrong (both role sets empty, a read-only key, ...).
    InvalidArgument,
    /// A bound was hit; details name it.
    LimitExceeded,
    /// A queue handler is already registered on this session.
    HandlerConflict,
    /// The session is closed; pending and later requests fail with this.
    SessionClosed,
    /// The connection could not be made or was lost.
    Connection,
    /// No answer in time.
    Timeout,
    /// A cluster member did not answer; details carry the partial result.
    ClusterRouting,
    /// The peer broke the protocol.
    Protocol,
    /// A bug or an unexpected failure on the server.
    Internal,
}

impl ErrorKind {
    /// Every kind, for tables and bindings.
    pub const ALL: [ErrorKind; 13] = [
        ErrorKind::AccessDenied,
        ErrorKind::AuthenticationFailed,
        ErrorKind::InvalidFilter,
        ErrorKind::NoSuchSession,
        ErrorKind::InvalidArgument,
        ErrorKind::LimitExceeded,
        ErrorKind::HandlerConflict,
        ErrorKind::SessionClosed,
        ErrorKind::Connection,
        ErrorKind::Timeout,
        ErrorKind::ClusterRouting,
        ErrorKind::Protocol,
        ErrorKind::Internal,
    ];

    /// The code, e.g. `ACCESS_DENIED`.
    pub const fn code(self) -> &'static str {
        match self {
            ErrorKind::AccessDenied => "ACCESS_DENIED",
            ErrorKind::AuthenticationFailed => "AUTHENTICATION_FAILED",
            ErrorKind::InvalidFilter => "INVALID_FILTER",
            ErrorKind::NoSuchSession => "NO_SUCH_SESSION",
            ErrorKind::InvalidArgument => "INVALID_ARGUMENT",
            ErrorKind::LimitExceeded => "LIMIT_EXCEEDED",
            ErrorKind::HandlerConflict => "HANDLER_CONFLICT",
            ErrorKind::SessionClosed => "SESSION_CLOSED",
            ErrorKind::Connection => "CONNECTION",
            ErrorKind::Timeout => "TIMEOUT",
            ErrorKind::ClusterRouting => "CLUSTER_ROUTING",
            ErrorKind::Protocol => "PROTOCOL",
            ErrorKind::Internal => "INTERNAL",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// One problem in a filter: 1-based line and column (columns count
/// characters) and what was expected.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FilterProblem {
    /// 1-based line.
    pub line: u32,
    /// 1-based column, in characters.
    pub column: u32,
    /// What is wrong, e.g. `expected a quoted string after 'is'`.
    pub message: String,
}

impl fmt::Display for FilterProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} at {}:{}", self.message, self.line, self.column)
    }
}

/// Machine-readable details of an error.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum ErrorDetails {
    /// Nothing more to say.
    #[default]
    None,
    /// `ACCESS_DENIED`: the missing permission, e.g. `MODIFY_SESSION`.
    Permission(String),
    /// `INVALID_FILTER`: every problem found.
    Problems(Vec<FilterProblem>),
    /// `LIMIT_EXCEEDED`: which limit, its bound, the offending key if any,
    /// and (for `max_targets`) how many sessions matched.
    Limit {
        /// The limit's name, e.g. `max_targets`, `max_value_bytes`.
        limit: String,
        /// The key that broke it, for property limits.
        key: Option<String>,
        /// How many sessions matched, for `max_targets`.
        count: Option<u64>,
    },
    /// `INVALID_ARGUMENT` naming the argument or key at fault.
    Argument(String),
    /// `CLUSTER_ROUTING`, and `LIMIT_EXCEEDED` of a by-filter set: the
    /// partial result.
    Result(Box<FilterResult>),
}

/// An Usher error.
#[derive(Clone)]
pub struct Error {
    /// The stable code.
    pub kind: ErrorKind,
    /// For people; never parsed.
    pub message: String,
    /// For programs.
    pub details: ErrorDetails,
    /// The local cause (I/O, TLS, ...), client side only; never sent.
    pub source: Option<Arc<dyn std::error::Error + Send + Sync>>,
}

impl Error {
    /// An error with no details.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self { kind, message: message.into(), details: ErrorDetails::None, source: None }
    }

    /// Adds details.
    pub fn with_details(mut self, details: ErrorDetails) -> Self {
        self.details = details;
        self
    }

    /// Adds the local cause.
    pub fn with_source(mut self, source: impl std::error::Error + Send + Sync + 'static) -> Self {
        self.source = Some(Arc::new(source));
        self
    }

    /// `ACCESS_DENIED` naming the missing permission.
    pub fn access_denied(permission: impl fmt::Display) -> Self {
        let permission = permission.to_string();
        Self::new(ErrorKind::AccessDenied, format!("permission {permission} is required"))
            .with_details(ErrorDetails::Permission(permission))
    }

    /// `INVALID_FILTER` with its problems.
    pub fn invalid_filter(problems: Vec<FilterProblem>) -> Self {
        let message = match problems.first() {
            Some(p) if problems.len() == 1 => format!("invalid filter: {p}"),
            Some(p) => format!("invalid filter: {p} (and {} more)", problems.len() - 1),
            None => "invalid filter".to_owned(),
        };
        Self::new(ErrorKind::InvalidFilter, message).with_details(ErrorDetails::Problems(problems))
    }

    /// `INVALID_ARGUMENT` naming the argument.
    pub fn invalid_argument(argument: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(ErrorKind::InvalidArgument, message).with_details(ErrorDetails::Argument(argument.into()))
    }

    /// `LIMIT_EXCEEDED` naming the limit.
    pub fn limit(limit: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(ErrorKind::LimitExceeded, message).with_details(ErrorDetails::Limit {
            limit: limit.into(),
            key: None,
            count: None,
        })
    }

    /// `SESSION_CLOSED`.
    pub fn session_closed() -> Self {
        Self::new(ErrorKind::SessionClosed, "the session is closed")
    }

    /// The problems of an `INVALID_FILTER` error (empty otherwise).
    pub fn problems(&self) -> &[FilterProblem] {
        match &self.details {
            ErrorDetails::Problems(p) => p,
            _ => &[],
        }
    }

    /// The filter result carried by `CLUSTER_ROUTING` or `LIMIT_EXCEEDED`.
    pub fn filter_result(&self) -> Option<&FilterResult> {
        match &self.details {
            ErrorDetails::Result(r) => Some(r),
            _ => None,
        }
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Error")
            .field("kind", &self.kind)
            .field("message", &self.message)
            .field("details", &self.details)
            .field("source", &self.source.as_ref().map(|s| s.to_string()))
            .finish()
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.kind, self.message)?;
        if let Some(source) = &self.source {
            write!(f, ": {source}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source.as_deref().map(|s| s as &(dyn std::error::Error + 'static))
    }
}

impl PartialEq for Error {
    /// Equal when kind, message and details are; the local cause is ignored.
    fn eq(&self, other: &Self) -> bool {
        self.kind == other.kind && self.message == other.message && self.details == other.details
    }
}

/// `Result` with an Usher [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_upper_snake_and_match_serde() {
        for kind in ErrorKind::ALL {
            let json = serde_json::to_string(&kind).expect("encode");
            assert_eq!(json, format!("\"{}\"", kind.code()));
            assert!(kind.code().bytes().all(|c| c.is_ascii_uppercase() || c == b'_'));
        }
    }

    #[test]
    fn helpers_fill_details() {
        let e = Error::access_denied("MODIFY_SESSION");
        assert_eq!(e.kind, ErrorKind::AccessDenied);
        assert_eq!(e.details, ErrorDetails::Permission("MODIFY_SESSION".into()));
        let p = FilterProblem { line: 1, column: 14, message: "expected a quoted string after 'is'".into() };
        let e = Error::invalid_filter(vec![p.clone()]);
        assert_eq!(e.problems(), &[p]);
        assert!(e.to_string().contains("1:14"));
    }
}
