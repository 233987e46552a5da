//! `usher.Topics` and `usher.Subscription`: the data plane of SPEC §5.1 on
//! `usher_core::client::Topics`.

use std::sync::Arc;

use futures_util::StreamExt;
use pyo3::exceptions::PyStopAsyncIteration;
use pyo3::prelude::*;
use pyo3::types::{PyByteArray, PyBytes, PyString, PyTuple};
use usher_core::client;
use usher_core::error::Error;

use crate::client_control::spawn;
use crate::convert;
use crate::error::CoreResultExt;
use crate::listener::{self, ToPython};
use crate::runtime;

/// `bytes`, `bytearray` or `str` (UTF-8).
fn value(v: &Bound<'_, PyAny>) -> Result<Vec<u8>, Error> {
    if let Ok(b) = v.cast::<PyBytes>() {
        return Ok(b.as_bytes().to_vec());
    }
    if let Ok(b) = v.cast::<PyByteArray>() {
        return Ok(b.to_vec());
    }
    if let Ok(s) = v.cast::<PyString>() {
        return Ok(s.to_str().map_err(|e| convert::bad("value", e))?.as_bytes().to_vec());
    }
    Err(convert::bad("value", "expected bytes, bytearray or str"))
}

/// Topic operations: `session.topics`.
#[pyclass(module = "usher", name = "Topics", frozen)]
#[derive(Debug)]
pub struct Topics {
    pub(crate) inner: client::Topics,
}

#[pymethods]
impl Topics {
    /// Adds a topic with its initial value (needs `MODIFY_TOPIC`).
    #[pyo3(signature = (path, value=None))]
    fn add<'py>(
        &self,
        py: Python<'py>,
        path: &Bound<'py, PyAny>,
        value: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let prepared = (|| {
            let v = match value {
                Some(v) if !v.is_none() => self::value(v)?,
                _ => Vec::new(),
            };
            Ok(self.inner.add(convert::string("path", path)?, v))
        })();
        spawn(py, None, prepared, |r| r)
    }

    /// Removes a topic (needs `MODIFY_TOPIC`).
    fn remove<'py>(&self, py: Python<'py>, path: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
        let prepared = convert::string("path", path).map(|p| self.inner.remove(p));
        spawn(py, None, prepared, |r| r)
    }

    /// Sets a topic's value (needs `UPDATE_TOPIC`).
    fn update<'py>(
        &self,
        py: Python<'py>,
        path: &Bound<'py, PyAny>,
        value: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let prepared = (|| Ok(self.inner.update(convert::string("path", path)?, self::value(value)?)))();
        spawn(py, None, prepared, |r| r)
    }

    /// Subscribes to `path` or `path/*`. Without `callback`, resolves to a
    /// `Subscription` (an async iterator of `(path, value)`); with one
    /// (`callback(path, value)`, sync or `async def`), to a `Registration`.
    /// Current values come first, then every update.
    #[pyo3(signature = (selector, callback=None))]
    fn subscribe<'py>(
        &self,
        py: Python<'py>,
        selector: &Bound<'py, PyAny>,
        callback: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let selector = match convert::string("selector", selector) {
            Ok(s) => s,
            Err(e) => return spawn(py, None, Err::<std::future::Ready<Result<(), Error>>, _>(e), |r| r),
        };
        let topics = self.inner.clone();
        match callback.filter(|c| !c.is_none()) {
            Some(callback) => {
                listener::register(py, "topic_callback", callback, move || topics.subscribe(selector))
            }
            None => spawn(py, None, Ok(topics.subscribe(selector)), Subscription::new),
        }
    }

    fn __repr__(&self) -> String {
        "Topics(...)".into()
    }
}

type Shared = Arc<tokio::sync::Mutex<Option<client::Subscription>>>;

/// A topic subscription as an async iterator of `(path, value: bytes)`:
/// `async for path, value in subscription:`. A slow reader backs up its
/// session's queue on the server (that is what queue handlers watch).
/// `await sub.close()` (or `async with`) unsubscribes; iteration also ends
/// when the session closes.
#[pyclass(module = "usher", name = "Subscription", frozen)]
#[derive(Debug)]
pub struct Subscription {
    inner: Shared,
    // Set by `close`, so a close does not wait for an `__anext__` that holds
    // the stream until the next value.
    stop: tokio::sync::watch::Sender<bool>,
}

impl Subscription {
    fn new(inner: client::Subscription) -> Self {
        Self {
            inner: Arc::new(tokio::sync::Mutex::new(Some(inner))),
            stop: tokio::sync::watch::channel(false).0,
        }
    }
}

#[pymethods]
impl Subscription {
    fn __aiter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    fn __anext__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let inner = Arc::clone(&self.inner);
        let mut stop = self.stop.subscribe();
        runtime::future_into_py(py, async move {
            let mut guard = inner.lock().await;
            let next = match guard.as_mut() {
                Some(stream) => tokio::select! {
                    _ = stop.wait_for(|s| *s) => None,
                    next = stream.next() => next,
                },
                None => None,
            };
            match next {
                Some(item) => {
                    let item = item.into_py_result()?;
                    runtime::attach_guarded(|py| item.to_python(py))
                        .unwrap_or_else(|| Err(PyStopAsyncIteration::new_err(())))
                }
                None => Err(PyStopAsyncIteration::new_err(())),
            }
        })
    }

    /// Unsubscribes; iteration ends. Closing twice does nothing.
    fn close<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        self.stop.send_replace(true);
        let inner = Arc::clone(&self.inner);
        runtime::future_into_py(py, async move {
            let taken = inner.lock().await.take();
            match taken {
                Some(stream) => stream.close().await.into_py_result(),
                None => Ok(()),
            }
        })
    }

    fn __aenter__<'py>(slf: Bound<'py, Self>) -> PyResult<Bound<'py, PyAny>> {
        let py = slf.py();
        let me = slf.unbind();
        runtime::future_into_py(py, async move { Ok(me) })
    }

    #[pyo3(signature = (*_args))]
    fn __aexit__<'py>(&self, py: Python<'py>, _args: &Bound<'py, PyTuple>) -> PyResult<Bound<'py, PyAny>> {
        self.close(py)
    }
}
