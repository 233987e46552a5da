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
//! **When a session parks.** A session just welcomed parks on the first
//! poll that finds it idle (so a burst of new sessions never holds a task
//! each at once). Otherwise the sweeper hints every session that has sent
//! nothing for `server.park_after_ms` (default 1 s; 0 disables parking);
//! the connection task parks on a hint if it read and wrote nothing since
//! the previous hint. Either way only if its outbound queue is empty, nothing is pending in
//! tungstenite (no partial frame read, no fragmented message, nothing
//! unflushed, e.g. an automatic pong), it is not throttled into the future,
//! not closing, and the server is not shutting down. So a silent session
//! parks between one and two park delays after its last traffic (plus up to
//! one sweeper tick). TLS sessions never park: rustls keeps buffered
//! plaintext and session state that cannot be handed over.
//!
//! **What resumes it.** Anything that would have woken its task: the
//! session's waker is replaced by one that resumes it ([`ParkWaker`]), so a
//! push, a topic value, a response to a routed request and a role change
//! all resume it the way they woke the task before; and epoll, when the
//! client sends anything or hangs up. A ping due with nothing else to do is
//! written here instead ([`Parker::ping`]), and a lone pong read here
//! ([`Parker::take_pong`]), so an idle session is not resumed by pings; a
//! close (by a controller, the idle timeout, shutdown) with nothing queued
//! before it is written here too, and the socket lingers here until it is
//! dropped ([`linger`]). Wake-ups are queued for the parking task
//! ([`Parker::woken`]; a burst is shared with tasks on the other workers),
//! which resumes the session: it removes the entry, deletes the socket from
//! the epoll set and spawns a new connection task
//! ([`crate::connection::resume`]); the registry record never moves.
//! Whoever takes the entry out of the table first resumes; a late wake-up or
//! event finds the slot empty (or a newer parking of the same descriptor,
//! which then merely resumes early).
//!
//! **Bounds.** At most one entry per open connection (it keeps the
//! connection's permit, so `server.max_connections` bounds the table); the
//! table is indexed by descriptor, in chunks of [`CHUNK`] slots (~56 B a
//! slot) allocated when a descriptor in their range first parks, never moved
//! (a growing `Vec` would leave its old copies behind as allocator garbage)
//! and never freed. Epoll events are taken [`BATCH`] at a time.
//!
//! **Errors.** If adding a socket to the epoll set fails (e.g. the kernel's
//! `max_user_watches`), that session is resumed at once and keeps a task. If
//! `epoll_wait` fails, or the parking task ends (shutdown, runtime gone),
//! parking stops for good: every parked session is resumed (or, with no
//! runtime left, its socket closed) and later hints are refused.

mod linger;

use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::task::{Wake, Waker};

use tokio::io::Interest;
use tokio::io::unix::AsyncFd;
use usher_core::SessionId;

pub use crate::parked::ParkStats;
pub(crate) use crate::parked::{Held, Parked};
use crate::shutdown::Shutdown;
use crate::state::Shared;

/// Table slots per chunk.
const CHUNK: usize = 1024;

/// Queued wake-ups handled per task: more are shared with other tasks
/// ([`Parker::take_woken`]).
const SHARE: usize = 512;

/// Epoll events taken per `epoll_wait`.
const BATCH: usize = 256;

/// What a parked socket waits for (one-shot: re-armed or deleted after).
const EVENTS: u32 = (libc::EPOLLIN | libc::EPOLLRDHUP | libc::EPOLLONESHOT) as u32;

/// A server's ping frame: FIN + ping, unmasked, empty payload.
const PING: [u8; 2] = [0x89, 0x00];

/// The length of `bytes` when it is exactly one complete pong frame from a
/// client (masked, as RFC 6455 requires of clients, payload ≤ 125 bytes).
fn lone_pong(bytes: &[u8]) -> Option<usize> {
    let (&first, &second) = (bytes.first()?, bytes.get(1)?);
    let len = 2 + 4 + usize::from(second & 0x7f);
    (first == 0x8a && second & 0x80 != 0 && second & 0x7f <= 125 && bytes.len() == len).then_some(len)
}

/// One server's parking component: its epoll set and table.
#[derive(Debug)]
pub(crate) struct Parker {
    epoll: std::os::fd::OwnedFd,
    // A std Mutex: held only to put an entry in or take one out, never
    // across a system call or an await.
    slots: Mutex<Table>,
    shared: Weak<Shared>,
    runtime: tokio::runtime::Handle,
    /// Set when parking stopped for good (see the module docs).
    closed: AtomicBool,
    parked: AtomicUsize,
    parks: AtomicU64,
    resumes: AtomicU64,
    pings: AtomicU64,
    pongs: AtomicU64,
    closes: AtomicU64,
    /// Closed sessions' sockets waiting for their peers ([`linger`]).
    lingering: Mutex<linger::Lingerers>,
    /// Woken parked sessions, for the parking task ([`Parker::woken`]);
    /// at most one entry per parked session and wake-up, drained at once.
    woken: Mutex<Vec<Arc<ParkWaker>>>,
    /// Tells the parking task that `woken` has entries.
    wake_task: tokio::sync::Notify,
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
        slots: Mutex::new(Table::default()),
        shared: Arc::downgrade(shared),
        runtime: tokio::runtime::Handle::current(),
        closed: AtomicBool::new(false),
        parked: AtomicUsize::new(0),
        parks: AtomicU64::new(0),
        resumes: AtomicU64::new(0),
        pings: AtomicU64::new(0),
        pongs: AtomicU64::new(0),
        closes: AtomicU64::new(0),
        lingering: Mutex::default(),
        woken: Mutex::new(Vec::new()),
        wake_task: tokio::sync::Notify::new(),
    });
    if shared.parker.set(parker.clone()).is_ok() {
        tokio::spawn(run(parker, shutdown));
    }
}

impl Parker {
    fn lock(&self) -> MutexGuard<'_, Table> {
        self.slots.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The counters.
    pub(crate) fn stats(&self) -> ParkStats {
        ParkStats {
            parked: self.parked.load(Ordering::Relaxed),
            parks: self.parks.load(Ordering::Relaxed),
            resumes: self.resumes.load(Ordering::Relaxed),
            pings: self.pings.load(Ordering::Relaxed),
            pongs: self.pongs.load(Ordering::Relaxed),
            closes: self.closes.load(Ordering::Relaxed),
            lingering: self.lingering_count(),
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
            // An open descriptor is in at most one entry: the slot is empty.
            *slots.slot(slot) = Some(parked);
            self.parked.fetch_add(1, Ordering::Relaxed);
            self.parks.fetch_add(1, Ordering::Relaxed);
        }
        if let Err(e) = sys::ctl(self.epoll.as_raw_fd(), libc::EPOLL_CTL_ADD, fd, EVENTS, slot as u64) {
            tracing::warn!(session = %session.id, error = %e, "cannot park; the session keeps its task");
            self.resume(fd, Some(session.id));
            return;
        }
        // Register, then check: a push after the check wakes the new waker;
        // one before it (possibly aimed at the ended task) is seen here.
        session.register(&Waker::from(Arc::new(ParkWaker { parker: self.clone(), fd, id: session.id })));
        if session.needs_task() {
            self.resume(fd, Some(session.id));
        }
        tracing::trace!(session = %session.id, "parked");
    }

    /// A parked session's waker was woken: queued for the parking task,
    /// which resumes it (or writes its ping). Not done here: wakers are
    /// called in loops over thousands of sessions (a close or changeRoles by
    /// filter, P2–P4), some under a registry lock, and a resumption costs
    /// two system calls and a spawn; queued, that work runs beside the loop.
    fn woken(self: &Arc<Self>, waker: Arc<ParkWaker>) {
        let first = {
            let mut woken = self.woken.lock().unwrap_or_else(|e| e.into_inner());
            if self.closed.load(Ordering::SeqCst) {
                // No parking task any more (and nothing left parked).
                drop(woken);
                self.resume(waker.fd, Some(waker.id));
                return;
            }
            woken.push(waker);
            woken.len() == 1
        };
        if first {
            self.wake_task.notify_one();
        }
    }

    /// Handles the queued wake-ups (see [`Parker::woken`]).
    fn take_woken(self: &Arc<Self>) {
        let mut woken = std::mem::take(&mut *self.woken.lock().unwrap_or_else(|e| e.into_inner()));
        // A burst (a close or changeRoles by filter over thousands of
        // parked sessions) is shared with the runtime's other workers: its
        // system calls are most of the work, and they run in parallel.
        while woken.len() > SHARE && !self.closed.load(Ordering::Relaxed) {
            let share = woken.split_off(woken.len() - SHARE);
            let parker = self.clone();
            self.runtime.spawn(async move { parker.handle_woken(share) });
        }
        self.handle_woken(woken);
    }

    fn handle_woken(self: &Arc<Self>, woken: Vec<Arc<ParkWaker>>) {
        let n = woken.len();
        for (i, waker) in woken.into_iter().enumerate() {
            // A close with nothing queued before it is written here, and so
            // is a ping alone; anything else resumes. (The two exclude each
            // other; the close is tried first, as the one that comes in
            // bursts: `n - i` more may follow it.)
            if !self.close_parked(&waker, n - i) && !self.ping(&waker) {
                self.resume(waker.fd, Some(waker.id));
            }
        }
    }

    /// Resumes the session parked on `fd` (only if it is session `id`, when
    /// given) by spawning a new connection task for it; false when there is
    /// no such session.
    fn resume(self: &Arc<Self>, fd: RawFd, id: Option<SessionId>) -> bool {
        let Ok(slot) = usize::try_from(fd) else { return false };
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
        let Some(parked) = taken else { return false };
        // Failure only means it was not (or no longer) in the set.
        let _ = sys::ctl(self.epoll.as_raw_fd(), libc::EPOLL_CTL_DEL, fd, 0, 0);
        parked.session.set_parked(false);
        tracing::trace!(session = %parked.session.id, "resumed");
        self.spawn(parked);
        true
    }

    /// A new connection task for a session; with the server gone, the
    /// socket is closed instead.
    fn spawn(&self, parked: Parked) {
        if let Some(shared) = self.shared.upgrade() {
            self.runtime.spawn(crate::connection::resume(parked, shared));
        }
    }

    /// Writes a ping that is due on a parked session, if nothing else is
    /// due, and leaves it parked; false when it must be resumed instead
    /// (gone, something else due, or the socket did not take the frame).
    /// Under the table lock, so no resumed task writes to the socket at the
    /// same time.
    fn ping(self: &Arc<Self>, waker: &Arc<ParkWaker>) -> bool {
        let (fd, id) = (waker.fd, waker.id);
        let Ok(slot) = usize::try_from(fd) else { return false };
        let mut slots = self.lock();
        let Some(Some(parked)) = slots.get_mut(slot) else { return false };
        let session = &parked.session;
        if session.id != id || !session.only_ping_due() || !session.take_ping() {
            return false;
        }
        match sys::send(fd, &PING) {
            Ok(n) if n == PING.len() => {}
            Ok(0) | Err(_) => {
                // The socket is full or failing: the task will try.
                session.restore_ping();
                return false;
            }
            Ok(_) => {
                // Half a frame went out (a socket with one byte of room): the
                // stream cannot be continued. Marked after the table lock is
                // released (marking wakes, and a wake-up takes that lock).
                let session = session.clone();
                drop(slots);
                session.mark_closing(usher_core::protocol::CloseReason::ConnectionLost);
                return false;
            }
        }
        let session = session.clone();
        self.pings.fetch_add(1, Ordering::Relaxed);
        drop(slots);
        // The waker was taken by this wake-up: register it again, then
        // check for anything that came meanwhile (its wake-up was lost).
        session.register(&Waker::from(waker.clone()));
        if session.needs_task() {
            self.resume(fd, Some(id));
        }
        true
    }

    /// Reads the answer to [`Parker::ping`] when it is all the socket
    /// holds: a complete masked pong frame and nothing else. The session
    /// stays parked (its silence clock restarts, as the task's read would
    /// have done) and the socket is re-armed; false when it must be resumed.
    fn take_pong(self: &Arc<Self>, fd: RawFd) -> bool {
        let Ok(slot) = usize::try_from(fd) else { return false };
        let Some(shared) = self.shared.upgrade() else { return false };
        let mut slots = self.lock();
        let Some(Some(parked)) = slots.get_mut(slot) else { return false };
        // One byte more than the largest pong, to see whether more follows.
        let mut buf = [0u8; 2 + 4 + 125 + 1];
        let Ok(n) = sys::recv(fd, &mut buf, libc::MSG_PEEK) else { return false };
        let Some(len) = lone_pong(&buf[..n]) else { return false };
        // The bytes were peeked, so this takes exactly them.
        if sys::recv(fd, &mut buf[..len], 0).ok() != Some(len) {
            // Not released before marking, the wake-up would deadlock on it.
            let session = parked.session.clone();
            drop(slots);
            session.mark_closing(usher_core::protocol::CloseReason::ConnectionLost);
            return false;
        }
        parked.session.touch(shared.now_ms());
        if sys::ctl(self.epoll.as_raw_fd(), libc::EPOLL_CTL_MOD, fd, EVENTS, slot as u64).is_err() {
            return false;
        }
        self.pongs.fetch_add(1, Ordering::Relaxed);
        true
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
            let (fd, flags) = (event.u64 as RawFd, event.events);
            // A lone pong is read here; anything else needs the task, or
            // is a closed session's lingering socket.
            if (flags != libc::EPOLLIN as u32 || !self.take_pong(fd)) && !self.resume(fd, None) {
                self.linger_event(fd);
            }
        }
        Ok(n == BATCH)
    }

    /// Stops parking for good and resumes every parked session.
    fn close(self: &Arc<Self>) {
        let fds: Vec<RawFd> = {
            let slots = self.lock();
            self.closed.store(true, Ordering::SeqCst);
            slots
                .chunks
                .iter()
                .flatten()
                .flat_map(|c| c.iter())
                .flatten()
                .map(|p| p.socket.as_raw_fd())
                .collect()
        };
        // After `closed` is set, so no wake-up is queued after this.
        self.take_woken();
        for fd in fds {
            self.resume(fd, None);
        }
        self.hand_over_lingering();
    }
}

/// Parked sessions by descriptor, in fixed chunks.
#[derive(Debug, Default)]
struct Table {
    chunks: Vec<Option<Box<[Option<Parked>]>>>,
}

impl Table {
    /// The slot of descriptor `fd`, allocating its chunk if needed.
    fn slot(&mut self, fd: usize) -> &mut Option<Parked> {
        let (chunk, i) = (fd / CHUNK, fd % CHUNK);
        if self.chunks.len() <= chunk {
            self.chunks.resize_with(chunk + 1, || None);
        }
        let chunk = self.chunks[chunk].get_or_insert_with(|| (0..CHUNK).map(|_| None).collect());
        &mut chunk[i]
    }

    /// The slot of descriptor `fd`, if its chunk exists.
    fn get_mut(&mut self, fd: usize) -> Option<&mut Option<Parked>> {
        self.chunks.get_mut(fd / CHUNK)?.as_mut()?.get_mut(fd % CHUNK)
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
        self.parker.clone().woken(self);
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.parker.woken(self.clone());
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
        let linger_until = parker.expire_lingering(tokio::time::Instant::now());
        let lingered = async move {
            match linger_until {
                Some(deadline) => tokio::time::sleep_until(deadline).await,
                None => std::future::pending().await,
            }
        };
        let mut guard = tokio::select! {
            _ = shutdown.recv() => return,
            () = lingered => continue,
            _ = parker.wake_task.notified() => {
                parker.take_woken();
                continue;
            }
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

/// The system calls parking makes.
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

    pub(super) fn send(fd: RawFd, bytes: &[u8]) -> io::Result<usize> {
        let flags = libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL;
        // SAFETY: the kernel reads at most `bytes.len()` bytes from `bytes`.
        let n = unsafe { libc::send(fd, bytes.as_ptr().cast(), bytes.len(), flags) };
        usize::try_from(n).map_err(|_| io::Error::last_os_error())
    }

    pub(super) fn recv(fd: RawFd, buf: &mut [u8], flags: i32) -> io::Result<usize> {
        // SAFETY: the kernel writes at most `buf.len()` bytes into `buf`.
        let n = unsafe { libc::recv(fd, buf.as_mut_ptr().cast(), buf.len(), flags | libc::MSG_DONTWAIT) };
        usize::try_from(n).map_err(|_| io::Error::last_os_error())
    }

    pub(super) fn wait(epoll: RawFd, events: &mut [libc::epoll_event]) -> io::Result<usize> {
        let max = i32::try_from(events.len()).unwrap_or(i32::MAX);
        // SAFETY: the kernel writes at most `max` events into `events`.
        let n = unsafe { libc::epoll_wait(epoll, events.as_mut_ptr(), max, 0) };
        usize::try_from(n).map_err(|_| io::Error::last_os_error())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What a parked session holds, for docs/PERFORMANCE.md ("Parking").
    #[test]
    fn only_a_lone_complete_masked_pong_is_taken() {
        let pong = [0x8a, 0x80, 1, 2, 3, 4];
        assert_eq!(lone_pong(&pong), Some(6));
        assert_eq!(lone_pong(&[0x8a, 0x82, 1, 2, 3, 4, 9, 9]), Some(8));
        assert_eq!(lone_pong(&pong[..5]), None, "incomplete");
        assert_eq!(lone_pong(&[0x8a, 0x80, 1, 2, 3, 4, 0x82]), None, "more follows");
        assert_eq!(lone_pong(&[0x8a, 0x00]), None, "unmasked");
        assert_eq!(lone_pong(&[0x89, 0x80, 1, 2, 3, 4]), None, "a ping");
        assert_eq!(lone_pong(&[0x0a, 0x80, 1, 2, 3, 4]), None, "no FIN");
        assert_eq!(lone_pong(&[]), None);
    }

    #[test]
    fn parked_state_stays_small() {
        let parked = std::mem::size_of::<Option<Parked>>();
        let waker = std::mem::size_of::<ParkWaker>() + 16;
        let session = std::mem::size_of::<crate::session::Session>() + 16;
        let record = std::mem::size_of::<crate::registry::Record>();
        println!("table slot {parked} B, waker {waker} B, session {session} B, record {record} B");
        assert!(parked <= 64, "a parked entry grew to {parked} B");
        assert!(waker <= 64, "the parked waker grew to {waker} B");
    }
}
