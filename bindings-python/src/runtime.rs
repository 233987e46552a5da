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

use pyo3::prelude::*;
use pyo3::types::PyAny;
use pyo3_async_runtimes::TaskLocals;
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

/// Turns a Rust future into a Python awaitable resolved on the caller's event
/// loop; the future itself runs on the shared runtime.
pub fn future_into_py<'py, F, T>(py: Python<'py>, fut: F) -> PyResult<Bound<'py, PyAny>>
where
    F: Future<Output = PyResult<T>> + Send + 'static,
    T: for<'a> IntoPyObject<'a> + Send + 'static,
{
    generic::future_into_py::<SharedRuntime, F, T>(py, fut)
}

/// The caller's event loop and context, captured when a listener is
/// registered so async listeners run on that loop.
pub fn current_locals(py: Python<'_>) -> PyResult<TaskLocals> {
    generic::get_current_locals::<SharedRuntime>(py)
}
