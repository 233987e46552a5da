//! The Python binding of Usher: the native module `usher._native` inside the
//! mixed Python package `usher` (`python/usher`). Thin: argument conversion,
//! error mapping ([`error`]) and callback bridging; async methods run on the
//! shared runtime through [`runtime`].
//!
//! Modules mirror `usher_core` (`id.rs`, `session.rs`, `client_control.rs`,
//! `topics.rs`, `types.rs` for the protocol value types) and hold no logic;
//! `convert.rs` converts arguments, `listener.rs` bridges callbacks.

use pyo3::prelude::*;

pub mod client_control;
pub mod convert;
pub mod error;
pub mod id;
pub mod listener;
pub mod mailbox;
pub mod runtime;
mod selftest;
pub mod session;
pub mod topics;
pub mod types;

/// The package version, which is the workspace version.
#[pyfunction]
fn version() -> &'static str {
    env!("CARGO_PKG_VERSION")
}

/// Every error code of `usher_core::ErrorKind`, in declaration order; the tests
/// check each has its exception class.
#[pyfunction]
fn error_codes() -> Vec<&'static str> {
    usher_core::ErrorKind::ALL.iter().map(|k| k.code()).collect()
}

#[pymodule]
#[pyo3(name = "_native")]
fn native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add_function(wrap_pyfunction!(version, m)?)?;
    m.add_function(wrap_pyfunction!(error_codes, m)?)?;
    m.add_class::<id::SessionId>()?;
    m.add_function(wrap_pyfunction!(session::connect, m)?)?;
    m.add_class::<session::Session>()?;
    m.add_class::<client_control::ClientControl>()?;
    m.add_class::<topics::Topics>()?;
    m.add_class::<topics::Subscription>()?;
    m.add_class::<listener::Registration>()?;
    m.add_class::<mailbox::Completions>()?;
    types::register(m)?;
    m.add_function(wrap_pyfunction!(runtime::_at_exit, m)?)?;
    selftest::register(m)?;
    Ok(())
}
