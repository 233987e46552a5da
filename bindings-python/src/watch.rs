//! What a loop's completion queue registers with asyncio: on Linux an epoll
//! set holding the queue's wake-up socket and, armed one-shot per request,
//! the sockets of sessions with a request in flight.
//!
//! Why the sessions' sockets: with one request in flight, the answer reaches
//! a runtime thread (woken by the socket) which then wakes the loop's thread
//! through the queue, two wake-ups one after the other. An idle vCPU on this
//! kind of machine takes ~40 µs to wake, so the second was most of the
//! binding's per-op overhead (SPEC §9, P9). Watching the socket too wakes the
//! loop's thread at the same moment as the runtime thread; the drain then
//! waits briefly (at most [`SPIN_LIMIT`]) for the answer to be queued
//! instead of going back to sleep. Nothing here reads the socket: the
//! runtime thread does, as before.
//!
//! Bounds and stale descriptors: a socket is armed with `EPOLLONESHOT` each
//! time a request is submitted on it, so it wakes the loop at most once per
//! request, and a drain waits at most [`SPIN_LIMIT`] (yielding the CPU) per
//! wake. A closed socket leaves the set by itself; a descriptor number
//! reused after its session ended can only be armed in the short window
//! before the session notices, and then costs one spurious wake-up.
//! Elsewhere than Linux only the wake-up socket is watched.

use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::net::UnixStream;
use std::time::Duration;

/// The longest a drain waits for an answer after its session's socket woke
/// the loop (the answer normally follows within ~10–40 µs).
pub const SPIN_LIMIT: Duration = Duration::from_micros(100);

#[cfg(target_os = "linux")]
mod imp {
    use std::io;
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

    /// The epoll `data` of the wake-up socket (a descriptor is never this).
    const WAKE: u64 = u64::MAX;

    #[derive(Debug)]
    pub struct Watch {
        epoll: OwnedFd,
    }

    fn ctl(epoll: RawFd, op: i32, fd: RawFd, events: u32, data: u64) -> io::Result<()> {
        let mut event = libc::epoll_event { events, u64: data };
        // SAFETY: a plain syscall with a valid pointer to an initialised event.
        if unsafe { libc::epoll_ctl(epoll, op, fd, &mut event) } == 0 {
            Ok(())
        } else {
            Err(io::Error::last_os_error())
        }
    }

    impl Watch {
        pub fn new(wake: RawFd) -> io::Result<Self> {
            // SAFETY: plain syscall; the result is checked before use.
            let fd = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
            if fd < 0 {
                return Err(io::Error::last_os_error());
            }
            // SAFETY: a fresh descriptor that nothing else owns.
            let epoll = unsafe { OwnedFd::from_raw_fd(fd) };
            ctl(fd, libc::EPOLL_CTL_ADD, wake, libc::EPOLLIN as u32, WAKE)?;
            Ok(Self { epoll })
        }

        pub fn fileno(&self) -> RawFd {
            self.epoll.as_raw_fd()
        }

        pub fn arm(&self, fd: RawFd) {
            let events = (libc::EPOLLIN | libc::EPOLLONESHOT) as u32;
            let epoll = self.epoll.as_raw_fd();
            if ctl(epoll, libc::EPOLL_CTL_MOD, fd, events, fd as u64).is_err() {
                // Not in the set yet (or closed and dropped from it). A
                // failure here only loses the early wake-up.
                let _ = ctl(epoll, libc::EPOLL_CTL_ADD, fd, events, fd as u64);
            }
        }

        pub fn take_socket_events(&self) -> bool {
            let mut events = [libc::epoll_event { events: 0, u64: 0 }; 16];
            // SAFETY: the buffer holds `events.len()` entries; timeout 0.
            let n = unsafe { libc::epoll_wait(self.epoll.as_raw_fd(), events.as_mut_ptr(), 16, 0) };
            let n = usize::try_from(n).unwrap_or(0);
            events[..n].iter().any(|e| e.u64 != WAKE)
        }
    }
}

#[cfg(not(target_os = "linux"))]
mod imp {
    use std::io;
    use std::os::fd::RawFd;

    #[derive(Debug)]
    pub struct Watch {
        wake: RawFd,
    }

    impl Watch {
        pub fn new(wake: RawFd) -> io::Result<Self> {
            Ok(Self { wake })
        }

        pub fn fileno(&self) -> RawFd {
            self.wake
        }

        pub fn arm(&self, _fd: RawFd) {}

        pub fn take_socket_events(&self) -> bool {
            false
        }
    }
}

/// A loop's watched set (module docs).
#[derive(Debug)]
pub struct Watch(imp::Watch);

impl Watch {
    /// A set watching `wake` (the read end of the queue's wake-up socket).
    pub fn new(wake: &UnixStream) -> io::Result<Self> {
        imp::Watch::new(wake.as_raw_fd()).map(Self)
    }

    /// The descriptor the loop watches for readability.
    pub fn fileno(&self) -> RawFd {
        self.0.fileno()
    }

    /// Wakes the loop once when `fd` (a session's socket) turns readable.
    pub fn arm(&self, fd: RawFd) {
        self.0.arm(fd);
    }

    /// Consumes what is ready; true when a session's socket woke the loop.
    pub fn take_socket_events(&self) -> bool {
        self.0.take_socket_events()
    }
}
