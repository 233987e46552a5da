//! `usher.Session` and `usher._native.connect`: one connection, its identity,
//! roles and end, on `usher_core::client::Session`.

use std::time::Duration;

use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::PyTuple;
use usher_core::client::{self, ConnectOptions};
use usher_core::error::Error;
use usher_core::protocol::ClientType;

use crate::client_control::{ClientControl, spawn};
use crate::convert;
use crate::id::SessionId;
use crate::runtime;
use crate::topics::Topics;

fn seconds(name: &str, value: Option<&Bound<'_, PyAny>>) -> Result<Option<Duration>, Error> {
    match value {
        Some(v) if !v.is_none() => {
            let s: f64 = v.extract().map_err(|_| convert::bad(name, "expected seconds (a number)"))?;
            Duration::try_from_secs_f64(s).map(Some).map_err(|_| convert::bad(name, "expected seconds >= 0"))
        }
        _ => Ok(None),
    }
}

#[allow(clippy::too_many_arguments)]
fn options(
    py: Python<'_>,
    url: &Bound<'_, PyAny>,
    principal: Option<&Bound<'_, PyAny>>,
    password: Option<&Bound<'_, PyAny>>,
    properties: Option<&Bound<'_, PyAny>>,
    connect_timeout: Option<&Bound<'_, PyAny>>,
    request_timeout: Option<&Bound<'_, PyAny>>,
    listener_buffer: Option<&Bound<'_, PyAny>>,
    listener_stall_timeout: Option<&Bound<'_, PyAny>>,
) -> Result<ConnectOptions, Error> {
    let version = py.version_info();
    let mut o = ConnectOptions::new(convert::string("url", url)?)
        .client_type(ClientType::Python)
        .environment(format!("PYTHON_{}.{}", version.major, version.minor));
    if let Some(p) = principal.filter(|p| !p.is_none()) {
        o = o.principal(convert::string("principal", p)?);
    }
    if let Some(p) = password.filter(|p| !p.is_none()) {
        o = o.password(convert::string("password", p)?);
    }
    if let Some(p) = properties.filter(|p| !p.is_none()) {
        let map = convert::mapping("properties", p, false)?;
        o = o.properties(map.into_iter().map(|(k, v)| (k, v.unwrap_or_default())));
    }
    if let Some(t) = seconds("connect_timeout", connect_timeout)? {
        o = o.connect_timeout(t);
    }
    if let Some(t) = seconds("request_timeout", request_timeout)? {
        o = o.request_timeout(t);
    }
    if let Some(n) = convert::opt_u64("listener_buffer", listener_buffer)? {
        o = o.listener_buffer(usize::try_from(n).unwrap_or(usize::MAX));
    }
    if let Some(t) = seconds("listener_stall_timeout", listener_stall_timeout)? {
        o = o.listener_stall_timeout(t);
    }
    Ok(o)
}

/// Connects and authenticates; resolves to a `Session`. Use `usher.connect`
/// (which also works with `async with`).
#[pyfunction]
#[pyo3(signature = (url, principal=None, password=None, properties=None, *, connect_timeout=None, request_timeout=None, listener_buffer=None, listener_stall_timeout=None))]
#[allow(clippy::too_many_arguments)]
pub fn connect<'py>(
    py: Python<'py>,
    url: &Bound<'py, PyAny>,
    principal: Option<&Bound<'py, PyAny>>,
    password: Option<&Bound<'py, PyAny>>,
    properties: Option<&Bound<'py, PyAny>>,
    connect_timeout: Option<&Bound<'py, PyAny>>,
    request_timeout: Option<&Bound<'py, PyAny>>,
    listener_buffer: Option<&Bound<'py, PyAny>>,
    listener_stall_timeout: Option<&Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyAny>> {
    let prepared = options(
        py,
        url,
        principal,
        password,
        properties,
        connect_timeout,
        request_timeout,
        listener_buffer,
        listener_stall_timeout,
    )
    .map(client::Session::connect);
    spawn(py, None, prepared, Session::new)
}

/// One session on an Usher server. `async with session:` closes it at the end.
#[pyclass(module = "usher", name = "Session", frozen)]
pub struct Session {
    inner: client::Session,
    control: PyOnceLock<Py<ClientControl>>,
    topics: PyOnceLock<Py<Topics>>,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session").field("inner", &self.inner).finish_non_exhaustive()
    }
}

impl Session {
    fn new(inner: client::Session) -> Self {
        Self { inner, control: PyOnceLock::new(), topics: PyOnceLock::new() }
    }
}

#[pymethods]
impl Session {
    /// The session's id.
    #[getter]
    fn id(&self) -> SessionId {
        SessionId(self.inner.id())
    }

    /// The name of the server holding the session (`$ServerName`).
    #[getter]
    fn server_name(&self) -> &str {
        self.inner.server_name()
    }

    /// `$StartTime`: ms since the Unix epoch.
    #[getter]
    fn start_time(&self) -> u64 {
        self.inner.start_time()
    }

    /// The session's assigned roles now (sorted), as last told by the server.
    #[getter]
    fn roles(&self) -> Vec<String> {
        self.inner.roles()
    }

    /// Why the session ended (`"CLOSED_BY_CONTROLLER"`, ...), or `None` while open.
    #[getter]
    fn close_reason(&self) -> Option<&'static str> {
        self.inner.close_reason().map(|r| r.as_str())
    }

    /// True once the session has ended.
    #[getter]
    fn is_closed(&self) -> bool {
        self.inner.is_closed()
    }

    /// Client control: operations on other sessions (SPEC §4.1).
    #[getter]
    fn client_control(&self, py: Python<'_>) -> PyResult<Py<ClientControl>> {
        self.control
            .get_or_try_init(py, || Py::new(py, ClientControl { inner: self.inner.clients() }))
            .map(|c| c.clone_ref(py))
    }

    /// Topics: add, remove, update, subscribe (SPEC §5.1).
    #[getter]
    fn topics(&self, py: Python<'_>) -> PyResult<Py<Topics>> {
        self.topics
            .get_or_try_init(py, || Py::new(py, Topics { inner: self.inner.topics() }))
            .map(|t| t.clone_ref(py))
    }

    /// Resolves with the close reason once the session has ended.
    fn closed<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let closed = self.inner.closed();
        runtime::future_into_py(py, async move { Ok(closed.await.as_str()) })
    }

    /// Resolves with the new roles at the next change a controller makes;
    /// fails with `SessionClosed` if the session ends first.
    fn roles_changed<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        spawn(py, None, Ok(self.inner.roles_changed()), |r| r)
    }

    /// Closes the session; pending requests fail with `SessionClosed`.
    /// Closing a closed session does nothing.
    fn close<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        spawn(py, None, Ok(self.inner.close()), |r| r)
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

    fn __repr__(&self) -> String {
        format!(
            "Session(id='{}', server_name={:?}, roles={:?}, close_reason={:?})",
            self.inner.id(),
            self.inner.server_name(),
            self.inner.roles(),
            self.close_reason()
        )
    }
}
