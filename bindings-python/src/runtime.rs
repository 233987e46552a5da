//! Python awaitables driven by the shared runtime of `usher_core::runtime`.
//!
//! pyo3-async-runtimes' own tokio integration keeps a runtime of its own in a
//! `OnceLock`, which would be a second runtime (SPEC §1 wants one) and would
//! not survive `fork()`. Its `generic` module takes any runtime through a
//! trait, so [`SharedRuntime`] points it at `usher_core::runtime::shared()`.
//!
//! Pattern for an async method (the Rust future runs on the shared runtime,
//! never with the interpreter attached):
//!
//! ```ignore
//! fn close<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
//!     let inner = self.inner()?.clone();
//!     runtime::future_into_py(py, async move { inner.close().await.into_py_result() })
//! }
//! ```

use std::cell::OnceCell;
use std::future::Future;
use std::pin::Pin;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use pyo3::BoundObject;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::PyAny;
use pyo3_async_runtimes::TaskLocals;

use crate::mailbox;
use pyo3_async_runtimes::generic::{self, ContextExt, JoinError, Runtime};

/// The marker type that plugs `usher_core::runtime::shared()` into
/// pyo3-async-runtimes.
#[derive(Debug)]
pub struct SharedRuntime;

/// A task of the shared runtime failed (panicked or was cancelled).
#[derive(Debug)]
pub struct TaskFailed(tokio::task::JoinError);

impl JoinError for TaskFailed {
    fn is_panic(&self) -> bool {
        self.0.is_panic()
    }

    fn into_panic(self) -> Box<dyn std::any::Any + Send + 'static> {
        self.0.into_panic()
    }
}

/// The join handle of a task spawned on the shared runtime.
#[derive(Debug)]
pub struct Handle(tokio::task::JoinHandle<()>);

impl Future for Handle {
    type Output = Result<(), TaskFailed>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> std::task::Poll<Self::Output> {
        Pin::new(&mut self.0).poll(cx).map(|r| r.map_err(TaskFailed))
    }
}

tokio::task_local! {
    // The asyncio event loop and contextvars of the Python caller, so a Rust
    // task can call back into the loop it was started from.
    static TASK_LOCALS: OnceCell<TaskLocals>;
}

impl Runtime for SharedRuntime {
    type JoinError = TaskFailed;
    type JoinHandle = Handle;

    fn spawn<F>(fut: F) -> Self::JoinHandle
    where
        F: Future<Output = ()> + Send + 'static,
    {
        Handle(usher_core::runtime::shared().spawn(fut))
    }

    fn spawn_blocking<F>(f: F) -> Self::JoinHandle
    where
        F: FnOnce() + Send + 'static,
    {
        Handle(usher_core::runtime::shared().spawn_blocking(f))
    }
}

impl ContextExt for SharedRuntime {
    fn scope<F, R>(locals: TaskLocals, fut: F) -> Pin<Box<dyn Future<Output = R> + Send>>
    where
        F: Future<Output = R> + Send + 'static,
    {
        let cell = OnceCell::new();
        // A fresh cell: `set` cannot fail, and ignoring its result is safe.
        let _ = cell.set(locals);
        Box::pin(TASK_LOCALS.scope(cell, fut))
    }

    fn get_task_locals() -> Option<TaskLocals> {
        TASK_LOCALS.try_with(|c| c.get().cloned()).unwrap_or_default()
    }
}

/// Set by [`_at_exit`]: the interpreter is finalizing, runtime threads must
/// not attach to it any more.
static FINALIZING: AtomicBool = AtomicBool::new(false);
/// Runtime threads attached (or about to attach) right now.
static ATTACHED: AtomicUsize = AtomicUsize::new(0);

/// Runs `f` attached to the interpreter from a runtime thread, unless the
/// interpreter is finalizing (then `None`). A thread that attaches while
/// Python finalizes is stopped dead in the middle of Rust code (a crash), and
/// `call_soon_threadsafe` releases the interpreter while it wakes the loop,
/// so the main thread can reach finalization while a runtime thread still
/// needs to attach again; [`_at_exit`] waits for those. (Results of awaitables
/// never attach: see [`crate::mailbox`]; listeners and errors do.)
pub fn attach_guarded<R>(f: impl FnOnce(Python<'_>) -> R) -> Option<R> {
    ATTACHED.fetch_add(1, Ordering::SeqCst);
    let result = if FINALIZING.load(Ordering::SeqCst) { None } else { Some(Python::attach(f)) };
    ATTACHED.fetch_sub(1, Ordering::SeqCst);
    result
}

/// Registered with `atexit` by the package: stops runtime threads from
/// attaching and waits (detached, up to 2 s) for those that are.
#[pyfunction]
pub fn _at_exit(py: Python<'_>) {
    FINALIZING.store(true, Ordering::SeqCst);
    py.detach(|| {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
        while ATTACHED.load(Ordering::SeqCst) > 0 && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
    });
}

static GET_RUNNING_LOOP: PyOnceLock<Py<PyAny>> = PyOnceLock::new();

/// Cancels the Rust future when its asyncio future is done (a no-op when it
/// finished by itself), so `wait_for` timeouts and task cancellation drop the
/// Rust side too.
#[pyclass]
struct AbortOnDone(tokio::task::AbortHandle);

#[pymethods]
impl AbortOnDone {
    fn __call__(&self, _fut: &Bound<'_, PyAny>) {
        self.0.abort();
    }
}

/// Turns a Rust future into a Python awaitable (an asyncio future of the
/// running loop). The Rust future runs on the shared runtime, detached from
/// the interpreter, and posts its result to the loop's [`mailbox`] without
/// attaching; the loop's thread converts it and resolves the awaitable. One
/// task per call and no blocking-pool hop: this path is the binding's per-call
/// overhead (SPEC §9, P9).
pub fn future_into_py<'py, F, T>(py: Python<'py>, fut: F) -> PyResult<Bound<'py, PyAny>>
where
    F: Future<Output = PyResult<T>> + Send + 'static,
    T: for<'a> IntoPyObject<'a> + Send + 'static,
{
    let (mailbox, py_fut) = awaitable(py)?;
    let fut_ref = py_fut.clone().unbind();
    let task = usher_core::runtime::shared().spawn(async move {
        let result = fut.await;
        mailbox.post(
            fut_ref,
            Box::new(move |py| {
                result.and_then(|v| v.into_pyobject(py).map(|o| o.into_any().unbind()).map_err(Into::into))
            }),
        );
    });
    py_fut.call_method1(pyo3::intern!(py, "add_done_callback"), (AbortOnDone(task.abort_handle()),))?;
    Ok(py_fut)
}

/// The running loop's mailbox and a new future of that loop.
fn awaitable(py: Python<'_>) -> PyResult<(Arc<mailbox::Mailbox>, Bound<'_, PyAny>)> {
    let get_loop = GET_RUNNING_LOOP.get_or_try_init(py, || -> PyResult<Py<PyAny>> {
        Ok(py.import("asyncio")?.getattr("get_running_loop")?.unbind())
    })?;
    let event_loop = get_loop.bind(py).call0()?;
    let mailbox = mailbox::for_loop(py, &event_loop)?;
    let py_fut = event_loop.call_method0(pyo3::intern!(py, "create_future"))?;
    Ok((mailbox, py_fut))
}

/// Cancels a loop-polled task when its asyncio future is done.
#[pyclass]
struct CancelOnDone(Arc<mailbox::Task>);

#[pymethods]
impl CancelOnDone {
    fn __call__(&self, _fut: &Bound<'_, PyAny>) {
        self.0.cancel();
    }
}

/// Like [`future_into_py`], but the Rust future is polled on the event loop's
/// thread (detached from the interpreter) instead of a runtime thread: first
/// right here, so a request is written to the socket before this returns,
/// then whenever it is woken (see [`mailbox`]). For futures that only submit
/// requests and wait for their answers, never for ones that compute or block.
///
/// With `socket`, the descriptor of the session the future sends a request
/// on, the loop also watches that socket for the answer (see
/// [`mailbox`]).
pub fn local_future_into_py<'py, F, T>(
    py: Python<'py>,
    socket: Option<std::os::fd::RawFd>,
    fut: F,
) -> PyResult<Bound<'py, PyAny>>
where
    F: Future<Output = PyResult<T>> + Send + 'static,
    T: for<'a> IntoPyObject<'a> + Send + 'static,
{
    let (mailbox, py_fut) = awaitable(py)?;
    let task = mailbox::task(Arc::clone(&mailbox), py_fut.clone().unbind(), async move {
        let result = fut.await;
        Box::new(move |py: Python<'_>| {
            result.and_then(|v| v.into_pyobject(py).map(|o| o.into_any().unbind()).map_err(Into::into))
        }) as mailbox::Convert
    });
    if let Some(convert) = py.detach(|| task.poll()) {
        mailbox::resolve_task(py, &task, convert);
    } else {
        if let Some(fd) = socket {
            mailbox.arm(fd);
        }
        py_fut.call_method1(pyo3::intern!(py, "add_done_callback"), (CancelOnDone(task),))?;
    }
    Ok(py_fut)
}

/// The caller's event loop and context, captured when a listener is
/// registered so async listeners run on that loop.
pub fn current_locals(py: Python<'_>) -> PyResult<TaskLocals> {
    generic::get_current_locals::<SharedRuntime>(py)
}
