//! A future polled on a foreign event loop's own thread (the asyncio loop's,
//! the JS thread), inside the shared runtime's context, for the bindings.
//!
//! A binding that polls a request's future on its loop's thread writes the
//! request from that thread (the core client writes a lone request directly)
//! and is woken once, by the answer, instead of handing the future to a
//! runtime thread and being handed the result back (SPEC §9, P9). The
//! binding says how a woken task gets back to its loop ([`Scheduler`]); this
//! type keeps the future, polls it and queues it at most once per wake-up.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll, Wake, Waker};
use std::time::{Duration, Instant};

/// The longest a loop waits for an answer after its session's socket woke it
/// early (`socket_watch`; the answer normally follows within ~10–40 µs).
pub const SPIN_LIMIT: Duration = Duration::from_micros(100);

/// Waits, yielding the CPU, until `done()` or `limit` has passed: how a loop
/// woken early by an answer's socket waits for the answer to be queued.
pub fn spin_until(limit: Duration, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() && start.elapsed() < limit {
        std::thread::yield_now();
    }
}

/// How a binding gets a woken [`LoopTask`] polled on its loop's thread, and
/// what it keeps per task (the awaitable or promise to settle).
pub trait Scheduler: Send + Sync + Sized + 'static {
    /// What the future produces (typically how to settle on the loop).
    type Output: 'static;

    /// Queues `task` for a poll on its loop's thread (called from any thread,
    /// at most once between two polls).
    fn schedule(task: Arc<LoopTask<Self>>);
}

type BoxFuture<O> = Pin<Box<dyn Future<Output = O> + Send>>;

/// A future polled on a loop's thread; its waker hands it to
/// [`Scheduler::schedule`].
pub struct LoopTask<S: Scheduler> {
    future: Mutex<Option<BoxFuture<S::Output>>>,
    queued: AtomicBool,
    /// The binding's per-task data.
    pub data: S,
}

impl<S: Scheduler> std::fmt::Debug for LoopTask<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoopTask").field("queued", &self.queued).finish_non_exhaustive()
    }
}

impl<S: Scheduler> Wake for LoopTask<S> {
    fn wake(self: Arc<Self>) {
        if !self.queued.swap(true, Ordering::AcqRel) {
            S::schedule(self);
        }
    }
}

impl<S: Scheduler> LoopTask<S> {
    /// A task for `future` with the binding's `data`; not polled yet.
    pub fn new(data: S, future: impl Future<Output = S::Output> + Send + 'static) -> Arc<Self> {
        Arc::new(Self { future: Mutex::new(Some(Box::pin(future))), queued: AtomicBool::new(false), data })
    }

    /// Polls the future once, inside the shared runtime's context (so it may
    /// create timers and spawn tasks); its output when it finished. A task
    /// that finished or was cancelled is not polled again.
    pub fn poll(self: &Arc<Self>) -> Option<S::Output> {
        self.queued.store(false, Ordering::Release);
        let mut slot = self.future.lock().unwrap_or_else(PoisonError::into_inner);
        let future = slot.as_mut()?;
        let waker = Waker::from(Arc::clone(self));
        let _runtime = crate::runtime::shared().enter();
        match future.as_mut().poll(&mut Context::from_waker(&waker)) {
            Poll::Ready(output) => {
                *slot = None;
                Some(output)
            }
            Poll::Pending => None,
        }
    }

    /// Drops the future (nobody waits for it any more).
    pub fn cancel(&self) {
        let future = self.future.lock().unwrap_or_else(PoisonError::into_inner).take();
        drop(future);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;

    /// Schedules by sending the task to a test's "loop".
    struct ToChannel(Mutex<mpsc::Sender<Arc<LoopTask<ToChannel>>>>);

    impl Scheduler for ToChannel {
        type Output = u32;

        fn schedule(task: Arc<LoopTask<Self>>) {
            let tx = task.data.0.lock().unwrap_or_else(PoisonError::into_inner).clone();
            let _ = tx.send(task);
        }
    }

    #[test]
    fn a_task_woken_from_a_runtime_thread_finishes_on_the_polling_thread() {
        let (tx, rx) = mpsc::channel();
        let (done_tx, done_rx) = tokio::sync::oneshot::channel::<u32>();
        let task = LoopTask::new(ToChannel(Mutex::new(tx)), async move { done_rx.await.unwrap_or(0) + 1 });
        assert_eq!(task.poll(), None, "nothing to read yet");
        crate::runtime::shared().spawn(async move {
            let _ = done_tx.send(41);
        });
        // Woken once, from a runtime thread; then polled here, it finishes.
        let woken = rx.recv_timeout(std::time::Duration::from_secs(10)).expect("the task was scheduled");
        assert_eq!(woken.poll(), Some(42));
        assert_eq!(woken.poll(), None, "a finished task is not polled again");
    }

    #[test]
    fn spin_until_stops_at_the_limit_or_when_done() {
        let start = Instant::now();
        spin_until(Duration::from_millis(2), || false);
        assert!(start.elapsed() >= Duration::from_millis(2));
        let mut calls = 0;
        spin_until(Duration::from_secs(10), || {
            calls += 1;
            calls == 3
        });
        assert_eq!(calls, 3);
    }

    #[test]
    fn a_cancelled_task_is_not_polled() {
        let (tx, _rx) = mpsc::channel();
        let task = LoopTask::new(ToChannel(Mutex::new(tx)), std::future::pending::<u32>());
        assert_eq!(task.poll(), None);
        task.cancel();
        assert_eq!(task.poll(), None);
    }

    #[test]
    fn timers_work_when_polled_off_the_runtime() {
        let (tx, rx) = mpsc::channel();
        let task = LoopTask::new(ToChannel(Mutex::new(tx)), async {
            tokio::time::sleep(std::time::Duration::from_millis(1)).await;
            7
        });
        assert_eq!(task.poll(), None);
        let woken = rx.recv_timeout(std::time::Duration::from_secs(10)).expect("the timer woke the task");
        assert_eq!(woken.poll(), Some(7));
    }
}
