//! Test hooks (`usher._native._*`) that exercise the binding's plumbing
//! before the real API exists: the error table, an async call on the shared
//! runtime, and a listener called back from the runtime. The real API uses the
//! same three patterns; these stay as the plumbing's regression tests.

use std::time::Duration;

use pyo3::prelude::*;
use usher_core::error::{Error, ErrorDetails, ErrorKind, FilterProblem};
use usher_core::protocol::FilterResult;

use crate::error::CoreResultExt;
use crate::runtime;

/// A core error of the kind named by `code`, with the details that kind
/// carries in real use.
fn sample(code: &str) -> PyResult<Error> {
    let kind = ErrorKind::ALL
        .into_iter()
        .find(|k| k.code() == code)
        .ok_or_else(|| pyo3::exceptions::PyValueError::new_err(format!("unknown error code {code:?}")))?;
    Ok(match kind {
        ErrorKind::AccessDenied => Error::access_denied("MODIFY_SESSION"),
        ErrorKind::InvalidFilter => Error::invalid_filter(vec![FilterProblem {
            line: 1,
            column: 14,
            message: "expected a quoted string after 'is'".into(),
        }]),
        ErrorKind::InvalidArgument => Error::invalid_argument("roles", "both role sets are empty"),
        ErrorKind::LimitExceeded => Error::limit("max_targets", "too many sessions"),
        ErrorKind::ClusterRouting => {
            let result = FilterResult { total: 3, unreachable: vec!["b".into()], ..FilterResult::default() };
            Error::new(kind, "a member did not answer").with_details(ErrorDetails::Result(Box::new(result)))
        }
        _ => Error::new(kind, format!("a sample {code} error")),
    })
}

/// Raises the mapped exception for `code`, synchronously.
#[pyfunction]
fn _raise(code: &str) -> PyResult<()> {
    Err(sample(code)?).into_py_result()
}

/// Awaitable: after `millis` on the shared runtime, the value and the name of
/// the runtime thread that produced it.
#[pyfunction]
fn _echo_after<'py>(py: Python<'py>, value: String, millis: u64) -> PyResult<Bound<'py, PyAny>> {
    runtime::future_into_py(py, async move {
        tokio::time::sleep(Duration::from_millis(millis)).await;
        let thread = std::thread::current().name().unwrap_or("").to_owned();
        Ok((value, thread))
    })
}

/// Awaitable that fails with the mapped exception for `code`.
#[pyfunction]
fn _fail_after<'py>(py: Python<'py>, code: &str, millis: u64) -> PyResult<Bound<'py, PyAny>> {
    let err = sample(code)?;
    runtime::future_into_py(py, async move {
        tokio::time::sleep(Duration::from_millis(millis)).await;
        Err::<(), _>(err).into_py_result()
    })
}

/// Awaitable: calls `listener(value)` for each value from a runtime task, the
/// way session and queue events will be delivered, and returns how many calls
/// succeeded. The listener (sync or `async def`) runs on the caller's event
/// loop through `usher._listeners.invoke`; an exception it raises is reported
/// through `sys.unraisablehook` and never stops delivery.
#[pyfunction]
fn _deliver<'py>(py: Python<'py>, listener: Py<PyAny>, values: Vec<String>) -> PyResult<Bound<'py, PyAny>> {
    let locals = runtime::current_locals(py)?;
    runtime::future_into_py(py, async move {
        let mut delivered = 0u32;
        for value in values {
            // Only builds the coroutine with the interpreter attached; the
            // listener itself runs on the event loop, and we wait detached.
            let call = Python::attach(|py| {
                let invoke = py.import("usher._listeners")?.getattr("invoke")?;
                let coro = invoke.call1((listener.bind(py), value))?;
                pyo3_async_runtimes::into_future_with_locals(&locals, coro)
            });
            let outcome = match call {
                Ok(fut) => fut.await.map(drop),
                Err(e) => Err(e),
            };
            match outcome {
                Ok(()) => delivered += 1,
                Err(e) => Python::attach(|py| e.write_unraisable(py, Some(listener.bind(py)))),
            }
        }
        Ok(delivered)
    })
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(_raise, m)?)?;
    m.add_function(wrap_pyfunction!(_echo_after, m)?)?;
    m.add_function(wrap_pyfunction!(_fail_after, m)?)?;
    m.add_function(wrap_pyfunction!(_deliver, m)?)?;
    Ok(())
}
