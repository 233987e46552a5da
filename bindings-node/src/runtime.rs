//! Promises settled from the shared runtime of `usher_core::runtime`.
//!
//! napi's own `async fn` support would poll futures on a second tokio runtime
//! it owns; SPEC §1 wants one runtime for every binding. So a method that does
//! async work returns a promise from [`promise`], whose Rust future is a
//! [`Task`] polled on the JS thread itself (inside the shared runtime's
//! context, so it may create timers and spawn tasks there):
//!
//! - first inside the method call, so a request's frame is written to the
//!   socket by the JS thread before the method returns (the core writes
//!   directly when its write half is idle);
//! - then whenever the future is woken: its waker queues the task in the
//!   env's [`Queue`] and, when the queue was empty, calls one thread-safe
//!   function, whose callback (on the JS thread) polls every queued task and
//!   settles the promises of those that finished, converting the result
//!   there (a core error becomes the JS `Error` of [`crate::error`]).
//!
//! A call with one request in flight thus costs one thread wake-up, the
//! reply reaching the JS thread, where spawning on the runtime and settling a
//! `JsDeferred` cost three plus a thread-safe function per promise (SPEC §9,
//! P9); for client control even that wake-up happens together with the
//! runtime thread's rather than after it ([`crate::watch`]). A burst of
//! replies costs one wake-up. The futures given here only submit requests
//! and wait; anything that computes or blocks would stall the JS thread and
//! must be spawned on the runtime inside the future.
//!
//! An unsettled promise keeps Node alive (like any pending I/O): the
//! thread-safe function is referenced while the env has unsettled promises
//! and unreferenced when it has none.
//!
//! Pattern for an async method (TypeScript return type given explicitly):
//!
//! ```ignore
//! #[napi(ts_return_type = "Promise<void>")]
//! pub fn close(&self, env: Env) -> napi::Result<Object<'_>> {
//!     let inner = self.inner()?.clone();
//!     runtime::promise(&env, async move { inner.close().await })
//! }
//! ```

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::rc::Rc;
use std::sync::{Arc, Mutex, PoisonError};

use napi::bindgen_prelude::{JsValue, Object, ToNapiValue};
use napi::threadsafe_function::{ThreadsafeFunction, ThreadsafeFunctionCallMode};
use napi::{Env, JsError, Result, Status, check_status, sys};

use usher_core::loop_task::{LoopTask, SPIN_LIMIT, Scheduler, spin_until};

use crate::watch::Watch;

/// Settles a promise on the JS thread: `Ok` resolves with the value, `Err`
/// rejects with it.
type Settle = Box<dyn FnOnce(&Env) -> std::result::Result<sys::napi_value, sys::napi_value> + Send>;
/// Weak (does not keep Node alive by itself), called without a JS error slot.
type Wakeup = ThreadsafeFunction<(), (), (), Status, false, true>;

/// One env's queue of tasks to poll. Bounded by the env's unsettled
/// promises: a task is queued at most once at a time.
struct Queue {
    tasks: Mutex<Vec<Arc<Task>>>,
    wakeup: Wakeup,
}

impl Queue {
    fn is_empty(&self) -> bool {
        self.tasks.lock().unwrap_or_else(PoisonError::into_inner).is_empty()
    }

    fn push(&self, task: Arc<Task>) {
        let was_empty = {
            let mut tasks = self.tasks.lock().unwrap_or_else(PoisonError::into_inner);
            tasks.push(task);
            tasks.len() == 1
        };
        if was_empty {
            // Fails only once the env is being torn down: nobody is left to
            // settle for.
            let _ = self.wakeup.call((), ThreadsafeFunctionCallMode::NonBlocking);
        }
    }
}

/// A promise's deferred; only ever used on the JS thread that created it.
struct Deferred(sys::napi_deferred);

// SAFETY: the raw deferred is only dereferenced by napi calls made on the JS
// thread that created it (`Promise::settle` runs there); other threads only move
// the task around.
unsafe impl Send for Deferred {}

/// What a promise's task keeps: its deferred and the env's queue.
struct Promise {
    deferred: Mutex<Option<Deferred>>,
    queue: Arc<Queue>,
}

impl Scheduler for Promise {
    type Output = Settle;

    fn schedule(task: Arc<Task>) {
        let queue = Arc::clone(&task.data.queue);
        queue.push(task);
    }
}

/// A promise's Rust future, polled on the JS thread (module docs).
type Task = LoopTask<Promise>;

impl Promise {
    /// Resolves or rejects the promise (the JS thread).
    fn settle(&self, env: &Env, settle: Settle) {
        let Some(Deferred(deferred)) = self.deferred.lock().unwrap_or_else(PoisonError::into_inner).take()
        else {
            return;
        };
        // A failure here means the env is going away; nothing to tell.
        let _ = match settle(env) {
            // SAFETY: on the JS thread of `env`, with the deferred it created.
            Ok(value) => unsafe { sys::napi_resolve_deferred(env.raw(), deferred, value) },
            Err(error) => unsafe { sys::napi_reject_deferred(env.raw(), deferred, error) },
        };
    }
}

/// The JS thread's side of its env's queue.
struct Completions {
    env: sys::napi_env,
    queue: Arc<Queue>,
    /// Sessions' sockets to wake on, when libuv can be had.
    watch: Option<Watch>,
    /// Promises handed out and not settled yet.
    unsettled: Cell<usize>,
}

thread_local! {
    // One env per JS thread (the main thread or a worker's); recreated if a
    // new env appears on the same thread.
    static COMPLETIONS: RefCell<Option<Rc<Completions>>> = const { RefCell::new(None) };
}

fn completions(env: &Env) -> Result<Rc<Completions>> {
    if let Some(c) = COMPLETIONS.with_borrow(|c| c.clone()).filter(|c| c.env == env.raw()) {
        return Ok(c);
    }
    let function = env.create_function_from_closure::<(), (), _>("usherSettle", |_| Ok(()))?;
    let wakeup =
        function.build_threadsafe_function::<()>().weak::<true>().callee_handled::<false>().build_callback(
            |ctx| {
                drain(&ctx.env);
                Ok(())
            },
        )?;
    let queue = Arc::new(Queue { tasks: Mutex::new(Vec::new()), wakeup });
    let waiting = Arc::clone(&queue);
    let watch = Watch::new(env, Box::new(move || spin_until(SPIN_LIMIT, || !waiting.is_empty())));
    let c = Rc::new(Completions { env: env.raw(), queue, watch, unsettled: Cell::new(0) });
    COMPLETIONS.set(Some(Rc::clone(&c)));
    Ok(c)
}

impl Completions {
    fn add_unsettled(&self, env: &Env) {
        if self.unsettled.replace(self.unsettled.get() + 1) == 0 {
            // SAFETY: on this env's JS thread, with its live thread-safe function.
            unsafe { sys::napi_ref_threadsafe_function(env.raw(), self.queue.wakeup.raw()) };
        }
    }

    fn remove_unsettled(&self, env: &Env) {
        let left = self.unsettled.get().saturating_sub(1);
        self.unsettled.set(left);
        if left == 0 {
            // SAFETY: as in `add_unsettled`.
            unsafe { sys::napi_unref_threadsafe_function(env.raw(), self.queue.wakeup.raw()) };
        }
    }
}

/// The thread-safe function's callback: polls every queued task and settles
/// the promises of those that finished.
fn drain(env: &Env) {
    let Some(c) = COMPLETIONS.with_borrow(|c| c.clone()).filter(|c| c.env == env.raw()) else { return };
    let tasks = std::mem::take(&mut *c.queue.tasks.lock().unwrap_or_else(PoisonError::into_inner));
    for task in tasks {
        if let Some(settle) = task.poll() {
            task.data.settle(env, settle);
            c.remove_unsettled(env);
        }
    }
}

/// The JS value of a napi error (to reject with).
fn error_value(env: &Env, e: napi::Error) -> sys::napi_value {
    // SAFETY: `env` is the live env of this thread.
    unsafe { JsError::from(e).into_value(env.raw()) }
}

/// Returns a promise settled with `fut`'s output: resolved with the value,
/// or rejected with the mapped core error. `fut` is polled on the JS thread
/// (module docs), first before this returns.
pub fn promise<'env, T, F>(env: &'env Env, fut: F) -> Result<Object<'env>>
where
    T: ToNapiValue + Send + 'static,
    F: Future<Output = std::result::Result<T, usher_core::Error>> + Send + 'static,
{
    promise_watching(env, None, fut)
}

/// [`promise`] for a request on the session whose socket is `socket`: the JS
/// thread also wakes when the answer arrives ([`crate::watch`]).
pub fn promise_watching<'env, T, F>(
    env: &'env Env,
    socket: Option<std::os::fd::RawFd>,
    fut: F,
) -> Result<Object<'env>>
where
    T: ToNapiValue + Send + 'static,
    F: Future<Output = std::result::Result<T, usher_core::Error>> + Send + 'static,
{
    let completions = completions(env)?;
    let mut deferred = std::ptr::null_mut();
    let mut promise = std::ptr::null_mut();
    // SAFETY: a plain napi call on the JS thread with out-pointers it fills.
    check_status!(unsafe { sys::napi_create_promise(env.raw(), &mut deferred, &mut promise) })?;
    let settle = async move {
        let outcome = fut.await;
        Box::new(move |env: &Env| match outcome {
            // SAFETY: converting on the JS thread of `env`.
            Ok(value) => unsafe { T::to_napi_value(env.raw(), value) }.map_err(|e| error_value(env, e)),
            Err(e) => match crate::error::js_error(env, &e) {
                Ok(object) => Err(object.raw()),
                Err(failed) => Err(error_value(env, failed)),
            },
        }) as Settle
    };
    let promise_data =
        Promise { deferred: Mutex::new(Some(Deferred(deferred))), queue: Arc::clone(&completions.queue) };
    let task = LoopTask::new(promise_data, settle);
    match task.poll() {
        Some(settle) => task.data.settle(env, settle),
        None => {
            completions.add_unsettled(env);
            if let (Some(watch), Some(fd)) = (&completions.watch, socket) {
                watch.arm(fd);
            }
        }
    }
    Ok(Object::from_raw(env.raw(), promise))
}
