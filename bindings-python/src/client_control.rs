//! `usher.ClientControl`: the operations of SPEC §4.1 (Python column of
//! §4.6) on `usher_core::client::ClientControl`. Arguments are converted
//! first; a bad one fails the returned awaitable with `InvalidArgument`.

use std::future::Future;

use pyo3::prelude::*;
use usher_core::client::{self, SessionEventParams};
use usher_core::error::Error;
use usher_core::protocol::FetchRequest;

use crate::convert;
use crate::error::CoreResultExt;
use crate::listener;
use crate::runtime;
use crate::types::{FilterResult, SessionPage, Throttler};

/// Runs a prepared core call as an awaitable; a preparation error becomes
/// the awaitable's exception. `socket`: the descriptor of the session the
/// call sends a request on, if the loop should also watch it for the answer
/// (see `crate::mailbox`).
pub(crate) fn spawn<'py, T, U, F>(
    py: Python<'py>,
    socket: Option<std::os::fd::RawFd>,
    prepared: Result<F, Error>,
    map: fn(T) -> U,
) -> PyResult<Bound<'py, PyAny>>
where
    F: Future<Output = Result<T, Error>> + Send + 'static,
    T: Send + 'static,
    U: for<'a> IntoPyObject<'a> + Send + 'static,
{
    match prepared {
        Ok(fut) => {
            runtime::local_future_into_py(py, socket, async move { fut.await.map(map).into_py_result() })
        }
        Err(e) => runtime::future_into_py(py, async move { Err::<U, _>(e).into_py_result() }),
    }
}

fn same<T>(t: T) -> T {
    t
}

/// Client control on a session: `session.client_control`.
///
/// Every operation on `sessions` takes a `SessionId` or a `str` (an id's
/// text or a filter), resolves to the count of sessions matched and acted
/// on, and has a `*_detailed` twin resolving to a `FilterResult`.
/// `max_targets=n` makes a filter matching more than `n` sessions fail with
/// `LimitExceeded` and act on none.
#[pyclass(module = "usher", name = "ClientControl", frozen)]
#[derive(Debug)]
pub struct ClientControl {
    pub(crate) inner: client::ClientControl,
}

impl ClientControl {
    fn with(&self, max_targets: Option<&Bound<'_, PyAny>>) -> Result<client::ClientControl, Error> {
        Ok(match convert::opt_u64("max_targets", max_targets)? {
            Some(n) => self.inner.max_targets(n),
            None => self.inner.clone(),
        })
    }

    fn close_op(
        &self,
        sessions: &Bound<'_, PyAny>,
        max_targets: Option<&Bound<'_, PyAny>>,
    ) -> Result<(client::ClientControl, usher_core::Target), Error> {
        Ok((self.with(max_targets)?, convert::target(sessions)?))
    }

    fn roles_op(
        &self,
        sessions: &Bound<'_, PyAny>,
        remove: &Bound<'_, PyAny>,
        add: &Bound<'_, PyAny>,
        max_targets: Option<&Bound<'_, PyAny>>,
    ) -> Result<(client::ClientControl, usher_core::Target, Vec<String>, Vec<String>), Error> {
        Ok((
            self.with(max_targets)?,
            convert::target(sessions)?,
            convert::strings("roles_to_remove", remove)?,
            convert::strings("roles_to_add", add)?,
        ))
    }

    #[allow(clippy::type_complexity)]
    fn props_op(
        &self,
        sessions: &Bound<'_, PyAny>,
        props: &Bound<'_, PyAny>,
        max_targets: Option<&Bound<'_, PyAny>>,
    ) -> Result<(client::ClientControl, usher_core::Target, Vec<(String, Option<String>)>), Error> {
        let map = convert::mapping("props", props, true)?;
        Ok((self.with(max_targets)?, convert::target(sessions)?, map.into_iter().collect()))
    }

    fn throttler(value: &Bound<'_, PyAny>) -> Result<usher_core::protocol::Throttler, Error> {
        value
            .cast::<Throttler>()
            .map(|t| t.get().0)
            .map_err(|_| convert::bad("throttler", "expected a usher.Throttler"))
    }
}

#[pymethods]
impl ClientControl {
    /// The same operations, failing with `LimitExceeded` (acting on none)
    /// when a filter matches more than `max_targets` sessions.
    fn max_targets(&self, max_targets: u64) -> Self {
        Self { inner: self.inner.max_targets(max_targets) }
    }

    /// Closes the target sessions (`CLOSED_BY_CONTROLLER`); resolves to the count.
    #[pyo3(signature = (sessions, *, max_targets=None))]
    fn close<'py>(
        &self,
        py: Python<'py>,
        sessions: &Bound<'py, PyAny>,
        max_targets: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let prepared = self.close_op(sessions, max_targets).map(|(c, t)| c.close(t));
        spawn(py, self.inner.socket_fd(), prepared, same)
    }

    /// `close` resolving to the full `FilterResult`.
    #[pyo3(signature = (sessions, *, max_targets=None))]
    fn close_detailed<'py>(
        &self,
        py: Python<'py>,
        sessions: &Bound<'py, PyAny>,
        max_targets: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let prepared = self.close_op(sessions, max_targets).map(|(c, t)| c.close_detailed(t));
        spawn(py, self.inner.socket_fd(), prepared, FilterResult::from)
    }

    /// Removes and adds roles; the two may not share a role nor both be empty.
    #[pyo3(signature = (sessions, roles_to_remove, roles_to_add, *, max_targets=None))]
    fn change_roles<'py>(
        &self,
        py: Python<'py>,
        sessions: &Bound<'py, PyAny>,
        roles_to_remove: &Bound<'py, PyAny>,
        roles_to_add: &Bound<'py, PyAny>,
        max_targets: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let prepared = self
            .roles_op(sessions, roles_to_remove, roles_to_add, max_targets)
            .map(|(c, t, r, a)| c.change_roles(t, r, a));
        spawn(py, self.inner.socket_fd(), prepared, same)
    }

    /// `change_roles` resolving to the full `FilterResult`.
    #[pyo3(signature = (sessions, roles_to_remove, roles_to_add, *, max_targets=None))]
    fn change_roles_detailed<'py>(
        &self,
        py: Python<'py>,
        sessions: &Bound<'py, PyAny>,
        roles_to_remove: &Bound<'py, PyAny>,
        roles_to_add: &Bound<'py, PyAny>,
        max_targets: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let prepared = self
            .roles_op(sessions, roles_to_remove, roles_to_add, max_targets)
            .map(|(c, t, r, a)| c.change_roles_detailed(t, r, a));
        spawn(py, self.inner.socket_fd(), prepared, FilterResult::from)
    }

    /// One session's properties: names, `"*F"` (all fixed), `"*U"` (all user).
    fn get_session_properties<'py>(
        &self,
        py: Python<'py>,
        session_id: &Bound<'py, PyAny>,
        keys: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let prepared = convert::session_id(session_id)
            .and_then(|id| Ok((id, convert::strings("keys", keys)?)))
            .map(|(id, keys)| self.inner.get_session_properties(id, keys));
        spawn(py, self.inner.socket_fd(), prepared, same)
    }

    /// Sets properties (a `None` value removes the key); resolves to the count.
    #[pyo3(signature = (sessions, props, *, max_targets=None))]
    fn set_session_properties<'py>(
        &self,
        py: Python<'py>,
        sessions: &Bound<'py, PyAny>,
        props: &Bound<'py, PyAny>,
        max_targets: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let prepared =
            self.props_op(sessions, props, max_targets).map(|(c, t, p)| c.set_session_properties(t, p));
        spawn(py, self.inner.socket_fd(), prepared, same)
    }

    /// `set_session_properties` resolving to the full `FilterResult` (by id,
    /// `changed` maps each changed key to its old value).
    #[pyo3(signature = (sessions, props, *, max_targets=None))]
    fn set_session_properties_detailed<'py>(
        &self,
        py: Python<'py>,
        sessions: &Bound<'py, PyAny>,
        props: &Bound<'py, PyAny>,
        max_targets: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let prepared = self
            .props_op(sessions, props, max_targets)
            .map(|(c, t, p)| c.set_session_properties_detailed(t, p));
        spawn(py, self.inner.socket_fd(), prepared, FilterResult::from)
    }

    /// Turns conflation on or off; resolves to the count.
    #[pyo3(signature = (sessions, conflated, *, max_targets=None))]
    fn set_conflated<'py>(
        &self,
        py: Python<'py>,
        sessions: &Bound<'py, PyAny>,
        conflated: &Bound<'py, PyAny>,
        max_targets: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let prepared = self
            .close_op(sessions, max_targets)
            .and_then(|(c, t)| Ok(c.set_conflated(t, convert::boolean("conflated", conflated)?)));
        spawn(py, self.inner.socket_fd(), prepared, same)
    }

    /// `set_conflated` resolving to the full `FilterResult`.
    #[pyo3(signature = (sessions, conflated, *, max_targets=None))]
    fn set_conflated_detailed<'py>(
        &self,
        py: Python<'py>,
        sessions: &Bound<'py, PyAny>,
        conflated: &Bound<'py, PyAny>,
        max_targets: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let prepared = self
            .close_op(sessions, max_targets)
            .and_then(|(c, t)| Ok(c.set_conflated_detailed(t, convert::boolean("conflated", conflated)?)));
        spawn(py, self.inner.socket_fd(), prepared, FilterResult::from)
    }

    /// Sets the throttler (`usher.Throttler`); resolves to the count.
    #[pyo3(signature = (sessions, throttler, *, max_targets=None))]
    fn set_throttled<'py>(
        &self,
        py: Python<'py>,
        sessions: &Bound<'py, PyAny>,
        throttler: &Bound<'py, PyAny>,
        max_targets: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let prepared = self
            .close_op(sessions, max_targets)
            .and_then(|(c, t)| Ok(c.set_throttled(t, Self::throttler(throttler)?)));
        spawn(py, self.inner.socket_fd(), prepared, same)
    }

    /// `set_throttled` resolving to the full `FilterResult`.
    #[pyo3(signature = (sessions, throttler, *, max_targets=None))]
    fn set_throttled_detailed<'py>(
        &self,
        py: Python<'py>,
        sessions: &Bound<'py, PyAny>,
        throttler: &Bound<'py, PyAny>,
        max_targets: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let prepared = self
            .close_op(sessions, max_targets)
            .and_then(|(c, t)| Ok(c.set_throttled_detailed(t, Self::throttler(throttler)?)));
        spawn(py, self.inner.socket_fd(), prepared, FilterResult::from)
    }

    /// A page of matching sessions with the requested properties.
    #[pyo3(signature = (filter="all", properties=None, limit=None, cursor=None))]
    fn fetch_sessions<'py>(
        &self,
        py: Python<'py>,
        filter: &str,
        properties: Option<&Bound<'py, PyAny>>,
        limit: Option<&Bound<'py, PyAny>>,
        cursor: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let request = (|| {
            Ok(FetchRequest {
                filter: filter.to_owned(),
                keys: match properties {
                    Some(p) if !p.is_none() => convert::strings("properties", p)?,
                    _ => Vec::new(),
                },
                limit: convert::opt_u64("limit", limit)?
                    .map(|n| u32::try_from(n).map_err(|_| convert::bad("limit", "too large")))
                    .transpose()?,
                cursor: match cursor {
                    Some(c) if !c.is_none() => Some(convert::string("cursor", c)?),
                    _ => None,
                },
            })
        })();
        let prepared = request.map(|r| self.inner.fetch_sessions(r));
        spawn(py, self.inner.socket_fd(), prepared, SessionPage::from)
    }

    /// How many sessions match `filter` (acts on none).
    fn count<'py>(&self, py: Python<'py>, filter: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
        let prepared = convert::string("filter", filter).map(|f| self.inner.count(f));
        spawn(py, self.inner.socket_fd(), prepared, same)
    }

    /// `count` resolving to a `FilterResult` (the count per server).
    fn count_detailed<'py>(
        &self,
        py: Python<'py>,
        filter: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let prepared = convert::string("filter", filter).map(|f| self.inner.count_detailed(f));
        spawn(py, self.inner.socket_fd(), prepared, FilterResult::from)
    }

    /// Registers a session-event listener: an object with `on_event(event)`
    /// (and optionally `on_error(error)`, `on_close()`), or a callable taking
    /// the event; sync or `async def`. Resolves to a `Registration` once the
    /// snapshot (one `ACTIVE` per matching session, unless `after`) has been
    /// delivered.
    #[pyo3(signature = (listener, filter=None, properties=None, after=None))]
    fn add_session_event_listener<'py>(
        &self,
        py: Python<'py>,
        listener: &Bound<'py, PyAny>,
        filter: Option<&Bound<'py, PyAny>>,
        properties: Option<&Bound<'py, PyAny>>,
        after: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let params = (|| {
            let mut params = SessionEventParams::new();
            if let Some(f) = filter.filter(|f| !f.is_none()) {
                params = params.filter(convert::string("filter", f)?);
            }
            if let Some(p) = properties.filter(|p| !p.is_none()) {
                params = params.properties(convert::strings("properties", p)?);
            }
            if let Some(after) = convert::opt_u64("after", after)? {
                params = params.after(after);
            }
            Ok::<_, Error>(params)
        })();
        let params = match params {
            Ok(p) => p,
            Err(e) => return spawn(py, None, Err::<std::future::Ready<Result<(), Error>>, _>(e), same),
        };
        let control = self.inner.clone();
        listener::register(py, "session_listener", listener, move || control.session_events(params))
    }

    /// Registers this session's queue event handler: an object with any of
    /// `on_upper_threshold_crossed(session_id, policy)`,
    /// `on_lower_threshold_crossed(...)`, `on_policy_changed(...)`,
    /// `on_error(error)`, `on_close()`, or a callable taking a `QueueEvent`.
    /// A second handler on one session fails with `HandlerConflict`.
    fn set_queue_event_handler<'py>(
        &self,
        py: Python<'py>,
        handler: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let control = self.inner.clone();
        listener::register(py, "queue_handler", handler, move || control.queue_events())
    }

    fn __repr__(&self) -> String {
        "ClientControl(...)".into()
    }
}
