//! Callback bridging: a registration's events (session events, queue events,
//! topic values) are read on the shared runtime and handed, one at a time and
//! in order, to the user's listener on the event loop that registered it.
//!
//! The user's object or callable is first wrapped by `usher._listeners`
//! (Python), which gives every listener the same face (`event`, `error`,
//! `close`), awaits `async def` methods, and logs an exception a listener
//! raises and reports it to the listener's `on_error`; so this side only
//! moves items. Each item is awaited before the next is read, so a slow
//! listener slows only its own registration (the core's bounded buffer then
//! backs up the socket, as SPEC §5.2 intends).
//!
//! A registration lives until [`Registration::close`] or the end of the
//! session; dropping the Python object does not end it (a listener kept
//! only for its side effects would otherwise stop at the next collection).

use futures_util::{FutureExt, StreamExt};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::PyBytes;
use pyo3_async_runtimes::TaskLocals;
use tokio::sync::watch;
use usher_core::client::{EventStream, StreamItem};
use usher_core::protocol;

use crate::error::{CoreResultExt, to_py_err};
use crate::runtime;
use crate::types::{QueueEvent, SessionEvent};

/// `usher._listeners.run`, looked up once per interpreter.
static RUN: PyOnceLock<Py<PyAny>> = PyOnceLock::new();

/// An item a registration yields, as the Python object its listener gets.
pub trait ToPython: StreamItem {
    /// The Python value.
    fn to_python(self, py: Python<'_>) -> PyResult<Py<PyAny>>;
}

impl ToPython for protocol::SessionEvent {
    fn to_python(self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        Ok(Py::new(py, SessionEvent::from(self))?.into_any())
    }
}

impl ToPython for protocol::QueueEvent {
    fn to_python(self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        Ok(Py::new(py, QueueEvent::from(self))?.into_any())
    }
}

/// A topic value: `(path, value: bytes)`.
impl ToPython for (String, Vec<u8>) {
    fn to_python(self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        Ok((self.0, PyBytes::new(py, &self.1)).into_pyobject(py)?.into_any().unbind())
    }
}

/// Wraps a user listener with `usher._listeners.<factory>` (raising
/// `usher.InvalidArgument` when it has neither the methods nor is callable).
pub fn adapt(py: Python<'_>, factory: &str, listener: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
    Ok(py.import("usher._listeners")?.getattr(factory)?.call1((listener,))?.unbind())
}

/// Runs `adapter.<method>(arg)` on the listener's loop and waits for it.
/// `Err` only when the loop can no longer run it (closed): delivery stops.
async fn deliver(
    adapter: &Py<PyAny>,
    locals: &TaskLocals,
    method: &'static str,
    arg: impl FnOnce(Python<'_>) -> PyResult<Py<PyAny>>,
) -> Result<(), ()> {
    let scheduled = runtime::attach_guarded(|py| {
        let run = RUN.get_or_try_init(py, || -> PyResult<Py<PyAny>> {
            Ok(py.import("usher._listeners")?.getattr("run")?.unbind())
        })?;
        let coro = run.bind(py).call1((adapter.bind(py), method, arg(py)?))?;
        pyo3_async_runtimes::into_future_with_locals(locals, coro)
    });
    match scheduled {
        Some(Ok(fut)) => fut.await.map(drop).map_err(drop),
        _ => Err(()),
    }
}

/// Delivers one stream item (or its error). `Err` when delivery must stop.
async fn deliver_item<T: ToPython>(
    adapter: &Py<PyAny>,
    locals: &TaskLocals,
    item: usher_core::error::Result<T>,
) -> Result<(), ()> {
    match item {
        Ok(value) => deliver(adapter, locals, "event", move |py| value.to_python(py)).await,
        Err(e) => {
            deliver(adapter, locals, "error", move |py| Ok(to_py_err(e).into_value(py).into_any())).await
        }
    }
}

/// Starts delivering `stream` to `adapter`: what is already buffered (a
/// session listener's snapshot, at least) is delivered before this returns,
/// so a registration resolves once its snapshot has been handed over; the
/// rest is delivered by a task on the shared runtime.
pub async fn start<T: ToPython>(
    mut stream: EventStream<T>,
    adapter: Py<PyAny>,
    locals: TaskLocals,
) -> Registration {
    let (stop_tx, stop_rx) = watch::channel(false);
    let (done_tx, done_rx) = watch::channel(false);
    // The snapshot sits in the stream's own buffer, so it is always ready
    // here; live items that happen to be ready too go with it (harmless).
    let mut alive = true;
    while let Some(Some(item)) = stream.next().now_or_never() {
        if deliver_item(&adapter, &locals, item).await.is_err() {
            alive = false;
            break;
        }
    }
    usher_core::runtime::shared().spawn(run(stream, adapter, locals, stop_rx, done_tx, alive));
    Registration { stop: stop_tx, done: done_rx }
}

/// The delivery task: items until the end, an unregistration or a closed loop;
/// then `close` on the listener, exactly once, last.
async fn run<T: ToPython>(
    mut stream: EventStream<T>,
    adapter: Py<PyAny>,
    locals: TaskLocals,
    mut stop: watch::Receiver<bool>,
    done: watch::Sender<bool>,
    mut alive: bool,
) {
    enum Next<T> {
        Item(Option<usher_core::error::Result<T>>),
        Stop,
    }
    while alive {
        let next = tokio::select! {
            // A closed sender (the Registration was collected) never stops delivery.
            Ok(_) = stop.wait_for(|stop| *stop) => Next::Stop,
            item = stream.next() => Next::Item(item),
        };
        match next {
            Next::Stop => {
                if let Err(e) = stream.close().await {
                    tracing::debug!(error = %e, "unregistering a Python listener");
                }
                let _ = deliver(&adapter, &locals, "close", |py| Ok(py.None())).await;
                done.send_replace(true);
                return;
            }
            Next::Item(Some(item)) => alive = deliver_item(&adapter, &locals, item).await.is_ok(),
            Next::Item(None) => break,
        }
    }
    if alive {
        let _ = deliver(&adapter, &locals, "close", |py| Ok(py.None())).await;
    }
    // Without a loop to run on, the stream is dropped: that unregisters.
    drop(stream);
    done.send_replace(true);
}

/// A listener registration or a callback subscription: `await reg.close()`
/// (or `async with`) ends it and waits until the listener's `on_close` has
/// run. It also ends when the session does.
#[pyclass(module = "usher", name = "Registration", frozen)]
#[derive(Debug)]
pub struct Registration {
    stop: watch::Sender<bool>,
    done: watch::Receiver<bool>,
}

#[pymethods]
impl Registration {
    /// Ends the registration; resolves once the listener's `on_close` has run.
    /// Closing twice, or after the session ended, does nothing.
    fn close<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        self.stop.send_replace(true);
        let mut done = self.done.clone();
        runtime::future_into_py(py, async move {
            // An error means the task is gone, which is done too.
            let _ = done.wait_for(|d| *d).await;
            Ok(())
        })
    }

    /// True once the registration has ended and `on_close` has run.
    #[getter]
    fn is_closed(&self) -> bool {
        *self.done.borrow()
    }

    fn __aenter__<'py>(slf: Bound<'py, Self>) -> PyResult<Bound<'py, PyAny>> {
        let py = slf.py();
        let me = slf.unbind();
        runtime::future_into_py(py, async move { Ok(me) })
    }

    #[pyo3(signature = (*_args))]
    fn __aexit__<'py>(
        &self,
        py: Python<'py>,
        _args: &Bound<'py, pyo3::types::PyTuple>,
    ) -> PyResult<Bound<'py, PyAny>> {
        self.close(py)
    }

    fn __repr__(&self) -> String {
        format!("Registration(closed={})", if self.is_closed() { "True" } else { "False" })
    }
}

/// Registers a listener: `register` resolves to the stream; the awaitable
/// resolves to a [`Registration`] once buffered items have been delivered.
pub fn register<'py, T, F>(
    py: Python<'py>,
    factory: &str,
    listener: &Bound<'py, PyAny>,
    register: impl FnOnce() -> F,
) -> PyResult<Bound<'py, PyAny>>
where
    T: ToPython,
    F: std::future::Future<Output = usher_core::error::Result<EventStream<T>>> + Send + 'static,
{
    let adapter = match adapt(py, factory, listener) {
        Ok(adapter) => adapter,
        Err(e) => return runtime::future_into_py(py, async move { Err::<(), _>(e) }),
    };
    let locals = runtime::current_locals(py)?;
    let registering = register();
    runtime::future_into_py(py, async move {
        let stream = registering.await.into_py_result()?;
        Ok(start(stream, adapter, locals).await)
    })
}
