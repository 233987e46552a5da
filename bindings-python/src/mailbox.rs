//! Hands the results of native awaitables back to their asyncio loop in
//! batches, without the runtime threads ever taking the interpreter.
//!
//! One [`Completions`] per event loop: a queue of finished Rust futures and a
//! socket pair whose read end the loop watches (`loop.add_reader`). A runtime
//! thread pushes its result (still a Rust value) and writes one byte only when
//! the queue was empty, so a burst of results costs one wake-up of the loop.
//! The loop's thread then drains the queue: it reads the wake-up bytes first,
//! takes the whole queue, converts each value to Python and resolves its
//! future. A result pushed after the bytes were read either is in the queue
//! taken (no byte needed) or finds the queue empty and writes a byte (the next
//! drain). Conversion happens on the loop's thread, which holds the
//! interpreter anyway; so per call there is no interpreter hand-off between
//! threads, which is what made the binding's per-op overhead (SPEC §9, P9)
//! high when many requests were in flight.
//!
//! Request-shaped awaitables (client control) go further: their Rust future is
//! a [`Task`] polled on the loop's thread itself, first when it is created,
//! so the request frame is written to the socket by the calling thread, and
//! then each time its waker posts it here. A call with one request in flight
//! then costs one thread wake-up (the reply reaching the loop) instead of
//! three (caller → runtime worker → writer → loop), which is what kept the
//! per-op overhead (P9) of a lone request high. Polls run detached from the
//! interpreter.
//!
//! On Linux the loop watches an epoll set instead of the socket pair alone
//! (`usher_core::socket_watch`): the pair's read end plus, armed one-shot
//! per request, the sockets of sessions with a client-control request in
//! flight, so the loop's thread wakes together with the runtime thread that
//! reads the answer rather than after it, then waits at most
//! `loop_task::SPIN_LIMIT` for the answer to be queued.
//!
//! Bounds: the queue holds at most one entry per pending awaitable of the
//! loop (each awaitable is posted once; a task is queued at most once at a
//! time however often it is woken). The wake-up socket carries at most a
//! byte per drain; if its buffer were ever full, the pending bytes already
//! guarantee a drain, so a failed write is ignored.

use std::future::Future;
use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::sync::{Arc, Mutex, PoisonError};

use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use usher_core::loop_task::{LoopTask, SPIN_LIMIT, Scheduler, spin_until};

/// Turns a finished Rust result into the Python value (or exception) of its
/// awaitable; runs on the loop's thread.
pub type Convert = Box<dyn FnOnce(Python<'_>) -> PyResult<Py<PyAny>> + Send>;

/// What the loop's thread has to do for an awaitable.
enum Entry {
    /// Resolve it with this result.
    Done(Py<PyAny>, Convert),
    /// Poll its task again.
    Poll(Arc<Task>),
}

/// What a loop-polled awaitable keeps: the asyncio future it resolves and
/// the mailbox its waker posts it to.
#[derive(Debug)]
pub struct Awaitable {
    awaitable: Py<PyAny>,
    mailbox: Arc<Mailbox>,
}

impl Scheduler for Awaitable {
    type Output = Convert;

    fn schedule(task: Arc<Task>) {
        let mailbox = Arc::clone(&task.data.mailbox);
        mailbox.push(Entry::Poll(task));
    }
}

/// A Rust future polled on its loop's thread (see the module docs).
pub type Task = LoopTask<Awaitable>;

/// A task for `future`, resolving `awaitable` on the loop of `mailbox`.
pub fn task(
    mailbox: Arc<Mailbox>,
    awaitable: Py<PyAny>,
    future: impl Future<Output = Convert> + Send + 'static,
) -> Arc<Task> {
    LoopTask::new(Awaitable { awaitable, mailbox }, future)
}

/// Resolves the task's awaitable with `convert` (the loop's thread).
pub fn resolve_task(py: Python<'_>, task: &Task, convert: Convert) {
    let awaitable = task.data.awaitable.bind(py);
    if let Err(e) = resolve(py, awaitable, convert) {
        e.write_unraisable(py, Some(awaitable));
    }
}

/// The runtime threads' side of a loop's [`Completions`].
pub struct Mailbox {
    pending: Mutex<Vec<Entry>>,
    wake: UnixStream,
    /// Linux: the set the loop watches (the read end of `wake` and armed
    /// sockets); `None` if epoll could not be had.
    #[cfg(target_os = "linux")]
    watch: Option<usher_core::socket_watch::SocketWatch>,
}

impl std::fmt::Debug for Mailbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mailbox").field("wake", &self.wake).finish_non_exhaustive()
    }
}

impl Mailbox {
    fn take(&self) -> Vec<Entry> {
        std::mem::take(&mut *self.pending.lock().unwrap_or_else(PoisonError::into_inner))
    }

    fn is_empty(&self) -> bool {
        self.pending.lock().unwrap_or_else(PoisonError::into_inner).is_empty()
    }

    /// Wakes the loop once when `socket` (a session's, with a request in
    /// flight) turns readable; nothing off Linux.
    pub fn arm(&self, socket: std::os::fd::RawFd) {
        #[cfg(target_os = "linux")]
        if let Some(watch) = &self.watch {
            watch.arm(socket);
        }
        #[cfg(not(target_os = "linux"))]
        let _ = socket;
    }

    /// Consumes the set's events; true when an armed socket woke the loop.
    fn socket_woke(&self) -> bool {
        #[cfg(target_os = "linux")]
        return self.watch.as_ref().is_some_and(|w| w.take_socket_events());
        #[cfg(not(target_os = "linux"))]
        false
    }

    /// Queues the result for `fut` and wakes the loop if it was idle. Never
    /// touches the interpreter.
    pub fn post(&self, fut: Py<PyAny>, convert: Convert) {
        self.push(Entry::Done(fut, convert));
    }

    fn push(&self, entry: Entry) {
        let was_empty = {
            let mut pending = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
            let was_empty = pending.is_empty();
            pending.push(entry);
            was_empty
        };
        if was_empty {
            // Full buffer: a drain is already due (module docs).
            let _ = (&self.wake).write(&[1]);
        }
    }
}

/// One event loop's completion queue (see the module docs). Created and
/// registered with the loop by `usher._listeners._mailbox`.
#[pyclass(name = "_Completions", module = "usher._native", frozen)]
#[derive(Debug)]
pub struct Completions {
    mailbox: Arc<Mailbox>,
    reader: UnixStream,
}

#[pymethods]
impl Completions {
    #[new]
    fn new() -> PyResult<Self> {
        let (reader, wake) = UnixStream::pair()?;
        reader.set_nonblocking(true)?;
        wake.set_nonblocking(true)?;
        #[cfg(target_os = "linux")]
        let watch = usher_core::socket_watch::SocketWatch::new()
            .and_then(|w| w.add_wake(reader.as_raw_fd()).map(|()| w))
            .ok();
        let mailbox = Mailbox {
            pending: Mutex::new(Vec::new()),
            wake,
            #[cfg(target_os = "linux")]
            watch,
        };
        Ok(Self { mailbox: Arc::new(mailbox), reader })
    }

    /// The descriptor the loop watches for readability: the epoll set, or
    /// the socket pair's read end without one.
    fn fileno(&self) -> i32 {
        #[cfg(target_os = "linux")]
        if let Some(watch) = &self.mailbox.watch {
            return watch.fd();
        }
        self.reader.as_raw_fd()
    }

    /// Resolves every queued awaitable (the loop's reader callback). A future
    /// already done (cancelled meanwhile) is skipped; a failure to resolve one
    /// is reported as unraisable and the rest are still resolved.
    fn drain(&self, py: Python<'_>) {
        let socket_woke = self.mailbox.socket_woke();
        let mut buf = [0u8; 256];
        while matches!((&self.reader).read(&mut buf), Ok(n) if n > 0) {}
        let mut ready = self.mailbox.take();
        if ready.is_empty() && socket_woke {
            // An answer is being read by a runtime thread right now.
            py.detach(|| spin_until(SPIN_LIMIT, || !self.mailbox.is_empty()));
            ready = self.mailbox.take();
        }
        let mut done = Vec::with_capacity(ready.len());
        let mut tasks = Vec::new();
        for entry in ready {
            match entry {
                Entry::Done(fut, convert) => done.push((fut, convert)),
                Entry::Poll(task) => tasks.push(task),
            }
        }
        for (fut, convert) in done {
            if let Err(e) = resolve(py, fut.bind(py), convert) {
                e.write_unraisable(py, Some(fut.bind(py)));
            }
        }
        if !tasks.is_empty() {
            let finished: Vec<_> =
                py.detach(|| tasks.into_iter().filter_map(|t| t.poll().map(|c| (t, c))).collect());
            for (task, convert) in finished {
                resolve_task(py, &task, convert);
            }
        }
    }
}

fn resolve(py: Python<'_>, fut: &Bound<'_, PyAny>, convert: Convert) -> PyResult<()> {
    if fut.call_method0(pyo3::intern!(py, "done"))?.is_truthy()? {
        return Ok(());
    }
    match convert(py) {
        Ok(value) => fut.call_method1(pyo3::intern!(py, "set_result"), (value,))?,
        Err(err) => fut.call_method1(pyo3::intern!(py, "set_exception"), (err.into_value(py),))?,
    };
    Ok(())
}

static MAILBOX_FOR: PyOnceLock<Py<PyAny>> = PyOnceLock::new();

/// The mailbox of `event_loop`, created and registered on first use.
pub fn for_loop(py: Python<'_>, event_loop: &Bound<'_, PyAny>) -> PyResult<Arc<Mailbox>> {
    let get = MAILBOX_FOR.get_or_try_init(py, || -> PyResult<Py<PyAny>> {
        Ok(py.import("usher._listeners")?.getattr("_mailbox")?.unbind())
    })?;
    let completions = get.bind(py).call1((event_loop,))?;
    Ok(completions.cast::<Completions>()?.get().mailbox.clone())
}
