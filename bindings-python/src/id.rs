//! `usher.SessionId`: the Python face of `usher_core::id::SessionId`.

use pyo3::prelude::*;
use usher_core::id;

use crate::error::CoreResultExt;

/// A session id: a server part and a value; text form
/// `%016x-%016x` (SPEC §2.1). Immutable and hashable.
#[pyclass(module = "usher", name = "SessionId", frozen, eq, ord, hash)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SessionId(pub id::SessionId);

#[pymethods]
impl SessionId {
    /// `SessionId(server, value)` from its two parts.
    #[new]
    fn new(server: u64, value: u64) -> Self {
        Self(id::SessionId::new(server, value))
    }

    /// Parses the text form (either case, surrounding white space ignored);
    /// raises `usher.InvalidArgument` otherwise.
    #[staticmethod]
    fn parse(text: &str) -> PyResult<Self> {
        let parsed = text.parse::<id::SessionId>().map_err(usher_core::Error::from).into_py_result()?;
        Ok(Self(parsed))
    }

    /// The server part.
    #[getter]
    fn server(&self) -> u64 {
        self.0.server
    }

    /// The value, unique within its server.
    #[getter]
    fn value(&self) -> u64 {
        self.0.value
    }

    fn __str__(&self) -> String {
        self.0.to_string()
    }

    fn __repr__(&self) -> String {
        format!("SessionId('{}')", self.0)
    }
}
