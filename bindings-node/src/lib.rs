//! The Node.js binding of Usher: the npm package `usher-client` (napi-rs).
//! Thin: argument conversion, error mapping ([`error`]) and callback bridging;
//! promises are settled from the shared runtime ([`runtime`]).
//!
//! Modules mirror `usher_core` (`id.rs`, `session.rs`, `client_control.rs`,
//! `topics.rs`, `listener.rs`) and hold no logic; `convert.rs` converts
//! arguments and results. In Node a session id
//! is a string (SPEC §4.6).

use napi_derive::napi;

pub mod client_control;
pub mod convert;
pub mod error;
pub mod id;
pub mod listener;
pub mod runtime;
pub mod selftest;
pub mod session;
pub mod topics;
pub mod watch;

/// The package version, which is the workspace version.
#[napi]
pub fn version() -> &'static str {
    env!("CARGO_PKG_VERSION")
}

/// Every error code (`ACCESS_DENIED`, ...), in the core's order; an error
/// thrown by this package has one of them as its `code`.
#[napi]
pub fn error_codes() -> Vec<&'static str> {
    usher_core::ErrorKind::ALL.iter().map(|k| k.code()).collect()
}
