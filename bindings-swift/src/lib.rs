//! The Swift binding of Usher (UniFFI, proc-macros): the Swift package
//! `Usher` in this directory is generated from this crate (see README.md), and
//! the same interface is exercised here through UniFFI's Python bindings
//! against a real server (SPEC §10).
//!
//! Thin: argument conversion, error mapping ([`error`]) and callback bridging;
//! async functions run on the shared runtime through [`runtime`]. Modules
//! mirror `usher_core` (`id.rs`, later `session.rs`, `client_control.rs`,
//! `topics.rs`) and hold no logic.

uniffi::setup_scaffolding!();

pub mod error;
pub mod id;
pub mod runtime;
pub mod selftest;

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
