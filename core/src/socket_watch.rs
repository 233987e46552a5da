//! An epoll set of session sockets, armed one-shot per request, that a
//! binding's event loop watches so that it wakes when an answer arrives.
//!
//! Why: with one request in flight the answer reaches a runtime thread
//! (woken by the socket), which then wakes the event loop's thread: two
//! wake-ups one after the other, and an idle vCPU on a VM like the one
//! SPEC §9 is measured on takes ~40 µs to wake (P9). With the set watched by
//! the loop too (Python: registered with asyncio; Node: a libuv poll
//! handle), the loop's thread wakes at the same moment as the runtime
//! thread, and then waits briefly (`loop_task::spin_until`, at most
//! `loop_task::SPIN_LIMIT`)
//! for the answer to be queued instead of going back to sleep. Nothing here
//! reads a socket: the runtime thread does, as before.
//!
//! Bounds and stale descriptors: a socket is armed with `EPOLLONESHOT` each
//! time a request is submitted on it, so it wakes the loop at most once per
//! request. A closed socket leaves the set by itself; a descriptor number
//! reused after its session ended can only be armed in the short window
//! before the session notices (`Session::socket_fd` is `None` once it
//! has), and then costs one spurious wake-up. Linux only; elsewhere the
//! bindings settle through their completion queues alone.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

/// The epoll `data` of a level-triggered member added with
/// [`SocketWatch::add_wake`] (a descriptor is never this).
const WAKE: u64 = u64::MAX;

/// The set (module docs). Closing it (dropping) is safe at any time.
#[derive(Debug)]
pub struct SocketWatch {
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

impl SocketWatch {
    /// An empty set.
    pub fn new() -> io::Result<Self> {
        // SAFETY: plain syscall; the result is checked before use.
        let fd = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: a fresh descriptor that nothing else owns.
        Ok(Self { epoll: unsafe { OwnedFd::from_raw_fd(fd) } })
    }

    /// The set's descriptor, readable while a member has an event: what the
    /// event loop watches.
    pub fn fd(&self) -> RawFd {
        self.epoll.as_raw_fd()
    }

    /// Adds `fd` (e.g. the read end of a completion queue's wake-up socket)
    /// level-triggered; its events are not reported as a socket's.
    pub fn add_wake(&self, fd: RawFd) -> io::Result<()> {
        ctl(self.fd(), libc::EPOLL_CTL_ADD, fd, libc::EPOLLIN as u32, WAKE)
    }

    /// Wakes the loop once when `fd` (a session's socket) turns readable. A
    /// failure only loses the early wake-up.
    pub fn arm(&self, fd: RawFd) {
        let events = (libc::EPOLLIN | libc::EPOLLONESHOT) as u32;
        if ctl(self.fd(), libc::EPOLL_CTL_MOD, fd, events, fd as u64).is_err() {
            // Not in the set yet (or closed and dropped from it).
            let _ = ctl(self.fd(), libc::EPOLL_CTL_ADD, fd, events, fd as u64);
        }
    }

    /// Consumes what is ready (without waiting); true when an armed socket
    /// woke the loop.
    pub fn take_socket_events(&self) -> bool {
        let mut events = [libc::epoll_event { events: 0, u64: 0 }; 16];
        // SAFETY: the buffer holds `events.len()` entries; timeout 0.
        let n = unsafe { libc::epoll_wait(self.fd(), events.as_mut_ptr(), 16, 0) };
        let n = usize::try_from(n).unwrap_or(0);
        events[..n].iter().any(|e| e.u64 != WAKE)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::os::unix::net::UnixStream;

    #[test]
    fn an_armed_socket_is_reported_once_a_wake_member_never() {
        let watch = SocketWatch::new().expect("epoll");
        let (wake_r, mut wake_w) = UnixStream::pair().expect("pair");
        let (sock, mut peer) = UnixStream::pair().expect("pair");
        watch.add_wake(wake_r.as_raw_fd()).expect("add");
        wake_w.write_all(&[1]).expect("write");
        assert!(!watch.take_socket_events(), "the wake member is not a socket event");
        watch.arm(sock.as_raw_fd());
        assert!(!watch.take_socket_events(), "nothing to read yet");
        peer.write_all(b"answer").expect("write");
        assert!(watch.take_socket_events(), "the armed socket turned readable");
        assert!(!watch.take_socket_events(), "one-shot: not again until re-armed");
        watch.arm(sock.as_raw_fd());
        assert!(watch.take_socket_events(), "re-armed while still readable");
    }
}
