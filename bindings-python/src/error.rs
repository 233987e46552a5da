//! The one mapping of `usher_core::Error` to Python exceptions (SPEC §4.5).
//!
//! The classes live in Python (`usher/errors.py`, so they are ordinary typed
//! Python with attributes and docstrings); this module looks the class up by
//! the error's code in `usher.errors._BY_CODE` and builds it with the message
//! and a `details` dict. Binding code maps with [`CoreResultExt::into_py_result`]:
//!
//! ```ignore
//! let id = text.parse::<core::SessionId>().map_err(core::Error::from).into_py_result()?;
//! ```

use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PyList};
use usher_core::error::{Error, ErrorDetails};

/// `usher.errors._BY_CODE`, looked up once per interpreter.
static BY_CODE: PyOnceLock<Py<PyDict>> = PyOnceLock::new();

/// Maps core results to Python ones, raising the exception of the error's kind.
pub trait CoreResultExt<T> {
    /// `Ok` unchanged; `Err` as the matching `usher.UsherError` subclass.
    fn into_py_result(self) -> PyResult<T>;
}

impl<T> CoreResultExt<T> for Result<T, Error> {
    fn into_py_result(self) -> PyResult<T> {
        self.map_err(to_py_err)
    }
}

/// The Python exception for a core error. Needs the interpreter, which it
/// attaches to (cheap when the caller already is).
pub fn to_py_err(err: Error) -> PyErr {
    Python::attach(|py| build(py, &err).unwrap_or_else(|failed| failed))
}

fn build(py: Python<'_>, err: &Error) -> PyResult<PyErr> {
    let by_code = BY_CODE.get_or_try_init(py, || -> PyResult<Py<PyDict>> {
        Ok(py.import("usher.errors")?.getattr("_BY_CODE")?.cast_into::<PyDict>()?.unbind())
    })?;
    let class = by_code.bind(py).get_item(err.kind.code())?.ok_or_else(|| {
        pyo3::exceptions::PyRuntimeError::new_err(format!("usher: no exception class for {}", err.kind))
    })?;
    let value = class.call1((err.message.clone(), details(py, &err.details)?))?;
    Ok(PyErr::from_value(value))
}

/// The `details` dict of an exception; each subclass exposes its keys as
/// properties (`AccessDenied.permission`, `InvalidFilter.problems`, ...).
fn details<'py>(py: Python<'py>, details: &ErrorDetails) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    match details {
        ErrorDetails::None => {}
        ErrorDetails::Permission(p) => d.set_item("permission", p)?,
        ErrorDetails::Problems(problems) => {
            let list = PyList::empty(py);
            for p in problems {
                list.append((p.line, p.column, p.message.as_str()))?;
            }
            d.set_item("problems", list)?;
        }
        ErrorDetails::Limit { limit, key, count } => {
            d.set_item("limit", limit)?;
            d.set_item("key", key)?;
            d.set_item("count", count)?;
        }
        ErrorDetails::Argument(a) => d.set_item("argument", a)?,
        ErrorDetails::Result(r) => {
            let result = PyDict::new(py);
            result.set_item("total", r.total)?;
            result.set_item("per_server", r.per_server.clone())?;
            result.set_item("unreachable", r.unreachable.clone())?;
            result.set_item("denied", r.denied)?;
            result.set_item("rejected", r.rejected)?;
            result.set_item("changed", r.changed.clone())?;
            d.set_item("result", result)?;
        }
    }
    Ok(d)
}
