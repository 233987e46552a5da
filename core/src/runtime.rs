//! The one tokio runtime the language bindings share (SPEC §1).
//!
//! The Rust client runs on its caller's runtime; Python, Node.js and Swift
//! callers have none, so the binding crates drive the core client on the
//! runtime [`shared`] hands out. It is a multi-thread runtime, created on first
//! use and recreated in a child process after `fork()`: a forked child inherits
//! the runtime's memory but none of its worker threads, so the parent's
//! runtime would accept tasks there and never run them.
//!
//! # Why lock-free
//!
//! A `Mutex` held by another thread at the moment of `fork()` stays locked
//! forever in the child. So the current runtime sits behind an [`AtomicPtr`]
//! to a leaked, never-freed entry tagged with the pid that created it; a
//! caller whose pid differs builds a new entry and swaps it in with a
//! compare-and-swap. The inherited entry is deliberately leaked in the child:
//! dropping a runtime waits for its (absent) threads, which would hang.
//!
//! ```
//! let handle = usher_core::runtime::shared();
//! let answer = handle.block_on(async { tokio::spawn(async { 6 * 7 }).await });
//! assert_eq!(answer.ok(), Some(42));
//! ```

use std::sync::atomic::{AtomicPtr, Ordering};

use tokio::runtime::{Builder, Handle, Runtime};

/// The runtime and the process that created it.
struct Entry {
    pid: u32,
    // Kept only so the runtime lives (and is never dropped): the handle below
    // is what callers get.
    _runtime: Runtime,
    handle: Handle,
}

/// The current entry; null until first use. Entries are leaked on purpose
/// (see the module docs), so a non-null pointer is always valid.
static CURRENT: AtomicPtr<Entry> = AtomicPtr::new(std::ptr::null_mut());

/// A handle to the bindings' shared multi-thread runtime, creating it on first
/// use in this process (and again in a forked child).
///
/// Binding futures spawn onto it or `block_on` it from a thread that is not a
/// runtime thread (and, for Python, with the interpreter released).
///
/// # Panics
///
/// Only when the operating system refuses to start the runtime's threads, in
/// which case no binding could do anything anyway.
pub fn shared() -> Handle {
    let pid = std::process::id();
    let mut seen = CURRENT.load(Ordering::Acquire);
    loop {
        // SAFETY: entries are only ever created by `Box::into_raw` below and
        // never freed, so a non-null pointer stays valid for the process's life.
        if let Some(entry) = unsafe { seen.as_ref() }
            && entry.pid == pid
        {
            return entry.handle.clone();
        }
        let fresh = Box::into_raw(Box::new(new_entry(pid)));
        match CURRENT.compare_exchange(seen, fresh, Ordering::AcqRel, Ordering::Acquire) {
            Ok(_) => {
                // `seen` (a parent's runtime after fork, or null) is leaked on purpose.
                // SAFETY: just published; never freed.
                return unsafe { &*fresh }.handle.clone();
            }
            Err(winner) => {
                // Another thread published first: discard ours without waiting for
                // its threads, and look at the winner.
                // SAFETY: `fresh` was never published, so this is its only owner.
                let ours = unsafe { Box::from_raw(fresh) };
                ours._runtime.shutdown_background();
                seen = winner;
            }
        }
    }
}

/// The pid of the process that created the current runtime, if any; for tests.
pub fn creator_pid() -> Option<u32> {
    // SAFETY: as in `shared`, a non-null entry is never freed.
    unsafe { CURRENT.load(Ordering::Acquire).as_ref() }.map(|e| e.pid)
}

fn new_entry(pid: u32) -> Entry {
    let runtime = Builder::new_multi_thread()
        .enable_all()
        .thread_name("usher-rt")
        .build()
        .expect("usher: cannot start the shared tokio runtime");
    let handle = runtime.handle().clone();
    Entry { pid, _runtime: runtime, handle }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_runtime_per_process() {
        let a = shared();
        let b = shared();
        assert_eq!(a.id(), b.id());
        assert_eq!(creator_pid(), Some(std::process::id()));
        assert_eq!(a.runtime_flavor(), tokio::runtime::RuntimeFlavor::MultiThread);
        let n = a.block_on(async { tokio::spawn(async { 7 }).await });
        assert_eq!(n.ok(), Some(7));
    }

    #[test]
    fn concurrent_first_use_agrees() {
        let ids: Vec<_> = (0..8)
            .map(|_| std::thread::spawn(|| shared().id()))
            .collect::<Vec<_>>()
            .into_iter()
            .map(|t| t.join().ok())
            .collect();
        assert!(ids.iter().all(|id| id.is_some() && *id == ids[0]));
    }
}
