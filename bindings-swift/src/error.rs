//! The one mapping of `usher_core::Error` to the UniFFI error enum, which is a
//! Swift `Error` enum with associated values (SPEC §4.5) and a Python
//! exception class per case in the generated Python.

use usher_core::error::{Error, ErrorDetails, ErrorKind};

use crate::types::FilterResult;

/// One problem in a filter: 1-based line and column, and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct FilterProblem {
    /// 1-based line.
    pub line: u32,
    /// 1-based column, in characters.
    pub column: u32,
    /// What is wrong.
    pub message: String,
}

/// Every error of Usher; `code()` is the upper-snake code shared by every
/// language. Cases carry the message and the machine-readable details.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, uniffi::Error)]
pub enum UsherError {
    /// The caller lacks `permission`.
    #[error("{message}")]
    AccessDenied { message: String, permission: String },
    /// Wrong principal or password, or anonymous sessions are denied.
    #[error("{message}")]
    AuthenticationFailed { message: String },
    /// The filter does not parse; every problem found.
    #[error("{message}")]
    InvalidFilter { message: String, problems: Vec<FilterProblem> },
    /// No session with that id.
    #[error("{message}")]
    NoSuchSession { message: String },
    /// An argument is wrong; `argument` names it when known.
    #[error("{message}")]
    InvalidArgument { message: String, argument: Option<String> },
    /// A bound was hit: which `limit`, the `key` at fault, how many matched;
    /// for a setSessionProperties refused on some sessions, the `result`
    /// (and an empty `limit`).
    #[error("{message}")]
    LimitExceeded {
        message: String,
        limit: String,
        key: Option<String>,
        count: Option<u64>,
        result: Option<FilterResult>,
    },
    /// A queue handler is already registered on this session.
    #[error("{message}")]
    HandlerConflict { message: String },
    /// The session is closed.
    #[error("{message}")]
    SessionClosed { message: String },
    /// The connection could not be made or was lost (code `CONNECTION`).
    #[error("{message}")]
    ConnectionFailed { message: String },
    /// No answer in time.
    #[error("{message}")]
    Timeout { message: String },
    /// A cluster member did not answer; the partial result.
    #[error("{message}")]
    ClusterRouting { message: String, result: Option<FilterResult> },
    /// The peer broke the protocol (code `PROTOCOL`).
    #[error("{message}")]
    ProtocolError { message: String },
    /// A bug or an unexpected failure (code `INTERNAL`).
    #[error("{message}")]
    InternalError { message: String },
}

#[uniffi::export]
impl UsherError {
    /// The exact upper-snake code, e.g. `ACCESS_DENIED`.
    pub fn code(&self) -> String {
        self.kind().code().to_owned()
    }
}

impl UsherError {
    /// The core kind of this error.
    pub fn kind(&self) -> ErrorKind {
        match self {
            UsherError::AccessDenied { .. } => ErrorKind::AccessDenied,
            UsherError::AuthenticationFailed { .. } => ErrorKind::AuthenticationFailed,
            UsherError::InvalidFilter { .. } => ErrorKind::InvalidFilter,
            UsherError::NoSuchSession { .. } => ErrorKind::NoSuchSession,
            UsherError::InvalidArgument { .. } => ErrorKind::InvalidArgument,
            UsherError::LimitExceeded { .. } => ErrorKind::LimitExceeded,
            UsherError::HandlerConflict { .. } => ErrorKind::HandlerConflict,
            UsherError::SessionClosed { .. } => ErrorKind::SessionClosed,
            UsherError::ConnectionFailed { .. } => ErrorKind::Connection,
            UsherError::Timeout { .. } => ErrorKind::Timeout,
            UsherError::ClusterRouting { .. } => ErrorKind::ClusterRouting,
            UsherError::ProtocolError { .. } => ErrorKind::Protocol,
            UsherError::InternalError { .. } => ErrorKind::Internal,
        }
    }
}

impl From<Error> for UsherError {
    fn from(e: Error) -> Self {
        let message = e.message;
        let d = e.details;
        match e.kind {
            ErrorKind::AccessDenied => UsherError::AccessDenied {
                message,
                permission: match d {
                    ErrorDetails::Permission(p) => p,
                    _ => String::new(),
                },
            },
            ErrorKind::AuthenticationFailed => UsherError::AuthenticationFailed { message },
            ErrorKind::InvalidFilter => UsherError::InvalidFilter {
                message,
                problems: match d {
                    ErrorDetails::Problems(p) => p
                        .into_iter()
                        .map(|p| FilterProblem { line: p.line, column: p.column, message: p.message })
                        .collect(),
                    _ => Vec::new(),
                },
            },
            ErrorKind::NoSuchSession => UsherError::NoSuchSession { message },
            ErrorKind::InvalidArgument => UsherError::InvalidArgument {
                message,
                argument: match d {
                    ErrorDetails::Argument(a) => Some(a),
                    _ => None,
                },
            },
            ErrorKind::LimitExceeded => match d {
                ErrorDetails::Limit { limit, key, count } => {
                    UsherError::LimitExceeded { message, limit, key, count, result: None }
                }
                ErrorDetails::Result(r) => UsherError::LimitExceeded {
                    message,
                    limit: String::new(),
                    key: None,
                    count: None,
                    result: Some(FilterResult::from(&*r)),
                },
                _ => UsherError::LimitExceeded {
                    message,
                    limit: String::new(),
                    key: None,
                    count: None,
                    result: None,
                },
            },
            ErrorKind::HandlerConflict => UsherError::HandlerConflict { message },
            ErrorKind::SessionClosed => UsherError::SessionClosed { message },
            ErrorKind::Connection => UsherError::ConnectionFailed { message },
            ErrorKind::Timeout => UsherError::Timeout { message },
            ErrorKind::ClusterRouting => UsherError::ClusterRouting {
                message,
                result: match d {
                    ErrorDetails::Result(r) => Some(FilterResult::from(&*r)),
                    _ => None,
                },
            },
            ErrorKind::Protocol => UsherError::ProtocolError { message },
            ErrorKind::Internal => UsherError::InternalError { message },
        }
    }
}

/// A foreign listener failed in a way its declared signature does not
/// allow (UniFFI calls this for unexpected foreign exceptions).
impl From<uniffi::UnexpectedUniFFICallbackError> for UsherError {
    fn from(e: uniffi::UnexpectedUniFFICallbackError) -> Self {
        UsherError::InternalError { message: format!("a listener failed: {}", e.reason) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_maps_to_a_case_with_the_same_code() {
        for kind in ErrorKind::ALL {
            let mapped = UsherError::from(Error::new(kind, "x"));
            assert_eq!(mapped.kind(), kind);
            assert_eq!(mapped.code(), kind.code());
        }
    }
}
