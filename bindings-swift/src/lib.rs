//! The Swift binding of Usher (UniFFI, proc-macros): the Swift package
//! `Usher` in this directory is generated from this crate (see README.md), and
//! the same interface is exercised here through UniFFI's Python bindings
//! against a real server (SPEC §10).
//!
//! Thin: argument conversion, error mapping ([`error`]) and callback bridging;
//! async functions run on the shared runtime through [`runtime`]. Modules
//! mirror `usher_core`'s client and hold no logic:
//!
//! - [`session`]: `Session` (connect, id, close) and the entry points;
//! - [`client_control`]: `ClientControl`, every operation of SPEC §4.1;
//! - [`listener`]: the foreign listener traits and their registrations;
//! - [`topics`]: `Topics` and topic subscriptions;
//! - [`types`]: the records and enums; [`id`]: `SessionId`; [`error`]: `UsherError`.

// `UsherError` is the shape UniFFI hands to Swift (an enum with associated
// values, two of them a whole `FilterResult`); UniFFI records cannot be boxed,
// and the size of an error next to an FFI call and a network round trip is
// of no account.
#![allow(clippy::result_large_err)]

uniffi::setup_scaffolding!();

pub mod client_control;
pub mod error;
pub mod id;
pub mod listener;
pub mod runtime;
pub mod selftest;
pub mod session;
pub mod topics;
pub mod types;

pub use error::UsherError;
pub use id::SessionId;

/// The version of the Rust core behind the Swift package.
#[uniffi::export]
pub fn version() -> String {
    env!("CARGO_PKG_VERSION").to_owned()
}

/// Every error code (`ACCESS_DENIED`, ...), in the core's order.
#[uniffi::export]
pub fn error_codes() -> Vec<String> {
    usher_core::ErrorKind::ALL.iter().map(|k| k.code().to_owned()).collect()
}
