//! The shared runtime is rebuilt in a child after `fork()` (SPEC §1).
//!
//! Its own test binary with one test, so the process forks with as few other
//! threads as possible.

#![cfg(unix)]

use std::time::{Duration, Instant};

use usher_core::runtime;

/// Runs `child` in a forked process and returns its exit status, failing the
/// test if it has not exited within `deadline` (a hang is the failure mode).
fn in_child(deadline: Duration, child: impl FnOnce() -> i32) -> i32 {
    // SAFETY: the child only runs `child` and `_exit`s; it never returns into
    // the test harness.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork failed");
    if pid == 0 {
        let code = std::panic::catch_unwind(std::panic::AssertUnwindSafe(child)).unwrap_or(101);
        // SAFETY: ends the child without running the parent's atexit handlers.
        unsafe { libc::_exit(code) };
    }
    let start = Instant::now();
    loop {
        let mut status = 0;
        // SAFETY: plain waitpid on our own child.
        let r = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
        if r == pid {
            assert!(libc::WIFEXITED(status), "child did not exit normally: {status}");
            return libc::WEXITSTATUS(status);
        }
        if start.elapsed() > deadline {
            // SAFETY: our own child.
            unsafe { libc::kill(pid, libc::SIGKILL) };
            panic!("the child hung: the runtime was not rebuilt after fork");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn runtime_is_rebuilt_after_fork() {
    let parent = runtime::shared();
    assert_eq!(parent.block_on(async { tokio::spawn(async { 1 }).await }).ok(), Some(1));
    let parent_pid = std::process::id();
    assert_eq!(runtime::creator_pid(), Some(parent_pid));

    let code = in_child(Duration::from_secs(20), move || {
        // The inherited runtime belongs to the parent...
        if runtime::creator_pid() != Some(parent_pid) {
            return 2;
        }
        // ...so the child gets a new one whose workers run tasks.
        let handle = runtime::shared();
        if runtime::creator_pid() != Some(std::process::id()) {
            return 3;
        }
        let spawned = handle.block_on(async {
            let t = tokio::spawn(async {
                tokio::time::sleep(Duration::from_millis(10)).await;
                42
            });
            t.await.ok()
        });
        if spawned == Some(42) { 0 } else { 4 }
    });
    assert_eq!(code, 0, "child exit code");

    // The parent's runtime is untouched by the child's.
    assert_eq!(runtime::creator_pid(), Some(parent_pid));
    assert_eq!(parent.block_on(async { tokio::spawn(async { 2 }).await }).ok(), Some(2));
}
