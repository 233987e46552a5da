//! The Python binding of Usher: the native module `usher._native` inside the
//! mixed Python package `usher` (`python/usher`). Thin: argument conversion,
//! error mapping ([`error`]) and callback bridging; async methods run on the
//! shared runtime through [`runtime`].
//!
//! Modules mirror `usher_core` (`id.rs`, later `session.rs`,
//! `client_control.rs`, `topics.rs`) and hold no logic.

use pyo3::prelude::*;

pub mod error;
pub mod id;
pub mod runtime;
mod selftest;

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
    selftest::register(m)?;
    Ok(())
}
