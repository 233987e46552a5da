//! Parking: an idle plain session without a task (SPEC §6, §9 P1).
//!
//! An open session normally costs a tokio task, tungstenite's per-connection
//! state and a tokio I/O registration even while it does nothing, ~2 KB of
//! the ~3 KB an idle session used to cost. Parking ends the connection task
//! of an idle session and keeps only its raw socket (deregistered from tokio)
//! and the few things needed to start a new one ([`Parked`]) in a table
//! indexed by file descriptor, with the socket in this server's own epoll
//! set (`EPOLLIN | EPOLLRDHUP | EPOLLONESHOT`). WebSocket framing carries no
//! state between frames, so a fresh `WebSocketStream::from_raw_socket`
//! resumes it exactly where the old one stopped, provided nothing was left
//! half-read ([`crate::boundary`]) or unwritten.
//!
//! **When a session parks.** The sweeper hints every session that has sent
//! nothing for `server.park_after_ms` (default 1 s; 0 disables parking);
//! the connection task parks on a hint if it read and wrote nothing since
//! the previous hint, its outbound queue is empty, nothing is pending in
//! tungstenite (no partial frame read, no fragmented message, nothing
//! unflushed, e.g. an automatic pong), it is not throttled into the future,
//! not closing, and the server is not shutting down. So a silent session
//! parks between one and two park delays after its last traffic (plus up to
//! one sweeper tick). TLS sessions never park: rustls keeps buffered
//! plaintext and session state that cannot be handed over.
//!
//! **What resumes it.** Anything that would have woken its task: the
//! session's waker is replaced by one that resumes it ([`ParkWaker`]), so a
//! push, a topic value, a response to a routed request, a role change, a
//! close by a controller or by the sweeper (idle timeout), server shutdown
//! and a due ping all resume it the way they woke the task before; and
//! epoll, when the client sends anything or hangs up. Resuming removes the
//! entry, deletes the socket from the epoll set and spawns a new connection
//! task ([`crate::connection::resume`]); the registry record never moves.
//! Whoever takes the entry out of the table first resumes; a late wake-up or
//! event finds the slot empty (or a newer parking of the same descriptor,
//! which then merely resumes early).
//!
//! **Bounds.** At most one entry per open connection (it keeps the
//! connection's permit, so `server.max_connections` bounds the table); the
//! table is a `Vec` indexed by descriptor that grows in steps of
//! [`GROW`] slots up to the highest parked descriptor and never shrinks
//! (~56 B a slot). Epoll events are taken [`BATCH`] at a time.
//!
//! **Errors.** If adding a socket to the epoll set fails (e.g. the kernel's
//! `max_user_watches`), that session is resumed at once and keeps a task. If
//! `epoll_wait` fails, or the parking task ends (shutdown, runtime gone),
//! parking stops for good: every parked session is resumed (or, with no
//! runtime left, its socket closed) and later hints are refused.

use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::task::{Wake, Waker};

use tokio::io::Interest;
use tokio::io::unix::AsyncFd;
use tokio::sync::{OwnedSemaphorePermit, mpsc};
use usher_core::SessionId;

use crate::session::Session;
use crate::shutdown::Shutdown;
use crate::state::Shared;

/// Table slots added at a time.
const GROW: usize = 1024;

/// Epoll events taken per `epoll_wait`.
const BATCH: usize = 256;

/// What a connection holds for its whole life, parked or not: its permit of
/// `server.max_connections` and its share of the shutdown-complete signal.
/// Kept only to be dropped when the connection ends.
#[derive(Debug)]
pub(crate) struct Held {
    _permit: OwnedSemaphorePermit,
    _done: mpsc::Sender<()>,
}

impl Held {
    pub(crate) fn new(permit: OwnedSemaphorePermit, done: mpsc::Sender<()>) -> Self {
        Self { _permit: permit, _done: done }
    }
}

/// A parked session: everything a new connection task needs (~56 B).
#[derive(Debug)]
pub(crate) struct Parked {
    /// The raw socket, deregistered from tokio, still non-blocking.
    pub socket: std::net::TcpStream,
    pub session: Arc<Session>,
    pub principal: Box<str>,
    pub held: Held,
}

/// Parking counters, for tests and operators.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ParkStats {
    /// Sessions parked now.
    pub parked: usize,
    /// Parkings since the server started.
    pub parks: u64,
    /// Resumptions since the server started.
    pub resumes: u64,
}

/// One server's parking component: its epoll set and table.
#[derive(Debug)]
pub(crate) struct Parker {
    epoll: std::os::fd::OwnedFd,
    // A std Mutex: held only to put an entry in or take one out, never
    // across a system call or an await.
    slots: Mutex<Vec<Option<Parked>>>,
    shared: Weak<Shared>,
    runtime: tokio::runtime::Handle,
    /// Set when parking stopped for good (see the module docs).
    closed: AtomicBool,
    parked: AtomicUsize,
    parks: AtomicU64,
    resumes: AtomicU64,
}

/// Starts parking for this server unless `server.park_after_ms` is 0. Must
/// run inside the server's runtime (resumed tasks are spawned on it).
pub(crate) fn start(shared: &Arc<Shared>, shutdown: Shutdown) {
    if shared.config.server.park_after_ms == 0 {
        return;
    }
    let epoll = match sys::create() {
        Ok(fd) => fd,
        Err(e) => {
            tracing::warn!(error = %e, "no epoll set for parking; idle sessions keep their tasks");
            return;
        }
    };
    let parker = Arc::new(Parker {
        epoll,
        slots: Mutex::new(Vec::new()),
        shared: Arc::downgrade(shared),
        runtime: tokio::runtime::Handle::current(),
        closed: AtomicBool::new(false),
        parked: AtomicUsize::new(0),
        parks: AtomicU64::new(0),
        resumes: AtomicU64::new(0),
    });
    if shared.parker.set(parker.clone()).is_ok() {
        tokio::spawn(run(parker, shutdown));
    }
}

impl Parker {
    fn lock(&self) -> MutexGuard<'_, Vec<Option<Parked>>> {
        self.slots.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The counters.
    pub(crate) fn stats(&self) -> ParkStats {
        ParkStats {
            parked: self.parked.load(Ordering::Relaxed),
            parks: self.parks.load(Ordering::Relaxed),
            resumes: self.resumes.load(Ordering::Relaxed),
        }
    }

    /// Parks a session whose connection task is ending (or resumes it at
    /// once when parking is closed, failed, or something is already due).
    pub(crate) fn park(self: &Arc<Self>, parked: Parked) {
        let fd = parked.socket.as_raw_fd();
        let Ok(slot) = usize::try_from(fd) else { return self.spawn(parked) };
        let session = parked.session.clone();
        session.set_parked(true);
        {
            let mut slots = self.lock();
            // Checked under the lock that `close` sets it under, so no entry
            // is added after `close` emptied the table.
            if self.closed.load(Ordering::SeqCst) {
                drop(slots);
                session.set_parked(false);
                return self.spawn(parked);
            }
            if slots.len() <= slot {
                let more = (slot + 1 - slots.len()).max(GROW);
                slots.reserve_exact(more);
                slots.resize_with(slot + 1, || None);
            }
            // An open descriptor is in at most one entry: the slot is empty.
            slots[slot] = Some(parked);
            self.parked.fetch_add(1, Ordering::Relaxed);
            self.parks.fetch_add(1, Ordering::Relaxed);
        }
        let events = (libc::EPOLLIN | libc::EPOLLRDHUP | libc::EPOLLONESHOT) as u32;
        if let Err(e) = sys::ctl(self.epoll.as_raw_fd(), libc::EPOLL_CTL_ADD, fd, events, slot as u64) {
            tracing::warn!(session = %session.id, error = %e, "cannot park; the session keeps its task");
            return self.resume(fd, Some(session.id));
        }
        // Register, then check: a push after the check wakes the new waker;
        // one before it (possibly aimed at the ended task) is seen here.
        session.register(&Waker::from(Arc::new(ParkWaker { parker: self.clone(), fd, id: session.id })));
        if session.needs_task() {
            self.resume(fd, Some(session.id));
        }
        tracing::trace!(session = %session.id, "parked");
    }

    /// Resumes the session parked on `fd` (only if it is session `id`, when
    /// given) by spawning a new connection task for it.
    fn resume(self: &Arc<Self>, fd: RawFd, id: Option<SessionId>) {
        let Ok(slot) = usize::try_from(fd) else { return };
        let taken = {
            let mut slots = self.lock();
            match slots.get_mut(slot) {
                Some(entry) if entry.as_ref().is_some_and(|p| id.is_none_or(|id| p.session.id == id)) => {
                    self.parked.fetch_sub(1, Ordering::Relaxed);
                    self.resumes.fetch_add(1, Ordering::Relaxed);
                    entry.take()
                }
                _ => None,
            }
        };
        let Some(parked) = taken else { return };
        // Failure only means it was not (or no longer) in the set.
        let _ = sys::ctl(self.epoll.as_raw_fd(), libc::EPOLL_CTL_DEL, fd, 0, 0);
        parked.session.set_parked(false);
        tracing::trace!(session = %parked.session.id, "resumed");
        self.spawn(parked);
    }

    /// A new connection task for a session; with the server gone, the
    /// socket is closed instead.
    fn spawn(&self, parked: Parked) {
        if let Some(shared) = self.shared.upgrade() {
            self.runtime.spawn(crate::connection::resume(parked, shared));
        }
    }

    /// Takes ready events; true when the batch was full (more may wait).
    fn take_events(self: &Arc<Self>) -> io::Result<bool> {
        let mut events = [libc::epoll_event { events: 0, u64: 0 }; BATCH];
        let n = loop {
            match sys::wait(self.epoll.as_raw_fd(), &mut events) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                other => break other?,
            }
        };
        for event in &events[..n] {
            let slot = event.u64;
            self.resume(slot as RawFd, None);
        }
        Ok(n == BATCH)
    }

    /// Stops parking for good and resumes every parked session.
    fn close(self: &Arc<Self>) {
        let fds: Vec<RawFd> = {
            let slots = self.lock();
            self.closed.store(true, Ordering::SeqCst);
            slots.iter().filter_map(|p| p.as_ref().map(|p| p.socket.as_raw_fd())).collect()
        };
        for fd in fds {
            self.resume(fd, None);
        }
    }
}

/// The waker a parked session's pushes, closes and pings call: it resumes
/// the session (48 B while parked).
#[derive(Debug)]
struct ParkWaker {
    parker: Arc<Parker>,
    fd: RawFd,
    id: SessionId,
}

impl Wake for ParkWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.parker.resume(self.fd, Some(self.id));
    }
}

/// Closes parking when the task ends, however it ends (dropped with its
/// runtime included), which also breaks the parker → entry → session →
/// waker → parker reference cycle.
struct CloseOnDrop(Arc<Parker>);

impl Drop for CloseOnDrop {
    fn drop(&mut self) {
        self.0.close();
    }
}

/// The epoll set's descriptor for tokio; holding the [`Parker`] keeps it open.
struct EpollFd(Arc<Parker>);

impl AsRawFd for EpollFd {
    fn as_raw_fd(&self) -> RawFd {
        self.0.epoll.as_raw_fd()
    }
}

/// The parking task: waits (through tokio) until the epoll set has events,
/// resumes their sessions; ends at shutdown.
async fn run(parker: Arc<Parker>, mut shutdown: Shutdown) {
    let _close = CloseOnDrop(parker.clone());
    // SAFETY: the descriptor is the parker's `OwnedFd`, which the `Arc`
    // inside `EpollFd` keeps open (and unchanged) as long as the `AsyncFd`.
    let registered = unsafe { AsyncFd::register_with_interest(EpollFd(parker.clone()), Interest::READABLE) };
    let ready = match registered {
        Ok(fd) => fd,
        Err(e) => {
            tracing::warn!(error = %e, "cannot watch the parking epoll set; parking is off");
            return;
        }
    };
    loop {
        let mut guard = tokio::select! {
            _ = shutdown.recv() => return,
            guard = ready.readable() => match guard {
                Ok(guard) => guard,
                Err(e) => {
                    tracing::error!(error = %e, "parking stopped; parked sessions resume");
                    return;
                }
            },
        };
        match parker.take_events() {
            Ok(true) => {}
            Ok(false) => guard.clear_ready(),
            Err(e) => {
                tracing::error!(error = %e, "epoll_wait failed; parking stopped, parked sessions resume");
                return;
            }
        }
    }
}

/// The three epoll calls.
mod sys {
    use std::io;
    use std::os::fd::{FromRawFd, OwnedFd, RawFd};

    pub(super) fn create() -> io::Result<OwnedFd> {
        // SAFETY: no pointers; the result is checked.
        let fd = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: a fresh descriptor that nothing else owns.
        Ok(unsafe { OwnedFd::from_raw_fd(fd) })
    }

    pub(super) fn ctl(epoll: RawFd, op: i32, fd: RawFd, events: u32, data: u64) -> io::Result<()> {
        let mut event = libc::epoll_event { events, u64: data };
        // SAFETY: `event` outlives the call; the kernel only reads it.
        if unsafe { libc::epoll_ctl(epoll, op, fd, &mut event) } == 0 {
            Ok(())
        } else {
            Err(io::Error::last_os_error())
        }
    }

    pub(super) fn wait(epoll: RawFd, events: &mut [libc::epoll_event]) -> io::Result<usize> {
        let max = i32::try_from(events.len()).unwrap_or(i32::MAX);
        // SAFETY: the kernel writes at most `max` events into `events`.
        let n = unsafe { libc::epoll_wait(epoll, events.as_mut_ptr(), max, 0) };
        usize::try_from(n).map_err(|_| io::Error::last_os_error())
    }
}
