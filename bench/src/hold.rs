//! Holding a worker's sessions: one epoll set for all of its sockets, read
//! by one thread of the worker process, so a close seen costs one `read`
//! and a share of one `epoll_wait`, not a task wake-up and a tungstenite
//! stream.
//!
//! Each socket is registered edge-triggered. On an event the socket is read
//! until a short read (then its queue was empty; any later byte raises a
//! new event). Pings are answered with a pong. The first `Closing` push,
//! Close frame, hang-up or error is the session's close: it is counted
//! once, with the time it was seen, and the socket is then left unread
//! until [`Holder::clear`], so tearing it down does not put this process's
//! work on the cores while the server is still closing other targets.
//!
//! **Polling during bursts.** On loopback the receiver's wake-up runs in
//! the sender's system call: each `send` of the server to a client whose
//! worker sleeps in `epoll_wait` also pays for waking that worker (a
//! cross-CPU wake-up: 14% of the server's samples in a close by filter). A
//! server's real clients are on other machines and cost it nothing of the
//! kind. So once events come, the thread stops sleeping in `epoll_wait`: it
//! sleeps [`POLL`] and takes what is ready, and only after [`QUIET_POLLS`]
//! empty polls in a row does it wait in `epoll_wait` again. A close is then
//! seen, and timed, up to [`POLL`] late: figures can only be worse for it.
//!
//! Bounds: at most [`BATCH`] events per `epoll_wait`; a partial frame is
//! kept per socket up to the frame bound of [`crate::frame::parse`] (1 MiB);
//! a socket whose bytes cannot be read as frames counts as closed.

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use anyhow::Context;
use tokio::sync::Notify;
use usher_core::protocol::{Push, ServerMessage, decode};

use crate::clock::monotonic_ns;
use crate::frame::{self, BINARY, CLOSE, PING, PONG};

/// Most events taken per `epoll_wait`.
pub const BATCH: usize = 512;

/// The sleep between polls while events come.
pub const POLL: Duration = Duration::from_micros(200);

/// Empty polls in a row after which the thread waits in `epoll_wait`.
pub const QUIET_POLLS: u32 = 5;

#[derive(Debug)]
struct Held {
    stream: TcpStream,
    tagged: bool,
    /// Its close was seen (and counted).
    seen: bool,
    /// Bytes of a frame not complete yet.
    partial: Vec<u8>,
}

/// Closes seen since the last [`Holder::take_seen`].
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Seen {
    /// Tagged sessions that saw their close.
    pub tagged: u64,
    /// Untagged sessions that saw theirs.
    pub untagged: u64,
    /// When the first tagged one saw it (monotonic ns; 0 if none).
    pub first_ns: u64,
    /// When the last tagged one saw it (monotonic ns; 0 if none).
    pub last_ns: u64,
}

impl Seen {
    fn record(&mut self, tagged: bool, at: u64) {
        if tagged {
            self.tagged += 1;
            if self.first_ns == 0 || at < self.first_ns {
                self.first_ns = at;
            }
            self.last_ns = self.last_ns.max(at);
        } else {
            self.untagged += 1;
        }
    }

    fn merge(&mut self, other: Seen) {
        self.tagged += other.tagged;
        self.untagged += other.untagged;
        if self.first_ns == 0 || (other.first_ns != 0 && other.first_ns < self.first_ns) {
            self.first_ns = other.first_ns;
        }
        self.last_ns = self.last_ns.max(other.last_ns);
    }
}

/// The sessions of one worker, by socket fd, and the thread that reads them.
#[derive(Debug)]
pub struct Holder {
    epoll: OwnedFd,
    held: Mutex<Vec<Option<Held>>>,
    seen: Mutex<Seen>,
    /// The tagged closes [`Holder::wait_tagged`] waits for (`u64::MAX`
    /// when none): the thread wakes it only then, not per batch.
    want: AtomicU64,
    reached: Notify,
}

impl Holder {
    /// An empty holder, and its thread.
    pub fn start() -> anyhow::Result<Arc<Self>> {
        // SAFETY: plain syscall; the fd is checked and then owned.
        let fd = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
        if fd < 0 {
            return Err(std::io::Error::last_os_error()).context("epoll_create1");
        }
        // SAFETY: a fresh fd this process owns.
        let epoll = unsafe { OwnedFd::from_raw_fd(fd) };
        let holder = Arc::new(Self {
            epoll,
            held: Mutex::default(),
            seen: Mutex::default(),
            want: AtomicU64::new(u64::MAX),
            reached: Notify::new(),
        });
        let h = holder.clone();
        std::thread::Builder::new().name("holder".into()).spawn(move || {
            if let Err(e) = h.run() {
                eprintln!("worker: holding stopped: {e:#}");
                std::process::exit(1);
            }
        })?;
        Ok(holder)
    }

    fn held(&self) -> MutexGuard<'_, Vec<Option<Held>>> {
        self.held.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn seen(&self) -> MutexGuard<'_, Seen> {
        self.seen.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Holds `stream` (non-blocking): `leftover` are bytes already read
    /// from it after the welcome.
    pub fn add(&self, stream: TcpStream, tagged: bool, leftover: Vec<u8>) -> anyhow::Result<()> {
        let fd = stream.as_raw_fd();
        let at = fd as usize;
        let partial = if leftover.is_empty() { Vec::new() } else { leftover };
        {
            // In the table before the first event can come.
            let mut held = self.held();
            if held.len() <= at {
                held.resize_with(at + 1, || None);
            }
            held[at] = Some(Held { stream, tagged, seen: false, partial });
        }
        let mut event = libc::epoll_event {
            events: (libc::EPOLLIN | libc::EPOLLRDHUP | libc::EPOLLET) as u32,
            u64: fd as u64,
        };
        // SAFETY: both fds are open; `event` is a live epoll_event.
        let rc = unsafe { libc::epoll_ctl(self.epoll.as_raw_fd(), libc::EPOLL_CTL_ADD, fd, &mut event) };
        if rc != 0 {
            let e = std::io::Error::last_os_error();
            self.held()[at] = None;
            return Err(e).context("epoll_ctl ADD");
        }
        Ok(())
    }

    /// Closes every held socket; returns how many there were.
    pub fn clear(&self) -> usize {
        std::mem::take(&mut *self.held()).into_iter().flatten().count()
    }

    /// The closes seen so far, and starts counting again.
    pub fn take_seen(&self) -> Seen {
        // Also after a wait that timed out (and was dropped).
        self.want.store(u64::MAX, Ordering::SeqCst);
        std::mem::take(&mut *self.seen())
    }

    /// Waits until `tagged` tagged closes were seen since the last
    /// [`Holder::take_seen`] (the caller bounds the wait).
    pub async fn wait_tagged(&self, tagged: u64) {
        self.want.store(tagged, Ordering::SeqCst);
        while self.seen().tagged < tagged {
            self.reached.notified().await;
        }
        self.want.store(u64::MAX, Ordering::SeqCst);
    }

    /// The thread: serves the sockets' events until an error.
    fn run(&self) -> anyhow::Result<()> {
        short_slice();
        let mut events = vec![libc::epoll_event { events: 0, u64: 0 }; BATCH];
        let mut quiet = QUIET_POLLS;
        loop {
            let timeout = if quiet < QUIET_POLLS {
                std::thread::sleep(POLL);
                0
            } else {
                -1
            };
            // SAFETY: `events` has room for BATCH entries.
            let n = unsafe {
                libc::epoll_wait(self.epoll.as_raw_fd(), events.as_mut_ptr(), BATCH as libc::c_int, timeout)
            };
            if n < 0 {
                let e = std::io::Error::last_os_error();
                if e.kind() == ErrorKind::Interrupted {
                    continue;
                }
                return Err(e).context("epoll_wait");
            }
            if n == 0 {
                quiet += 1;
                continue;
            }
            quiet = 0;
            let mut seen = Seen::default();
            {
                let mut held = self.held();
                for e in &events[..n as usize] {
                    if let Some(Some(h)) = held.get_mut(e.u64 as usize)
                        && h.read_event()
                    {
                        seen.record(h.tagged, monotonic_ns());
                    }
                }
            }
            if seen != Seen::default() {
                let tagged = {
                    let mut total = self.seen();
                    total.merge(seen);
                    total.tagged
                };
                if tagged >= self.want.load(Ordering::SeqCst) {
                    self.reached.notify_one();
                }
            }
        }
    }
}

/// Asks the scheduler for a short slice (EEVDF, Linux 6.12+; ignored
/// elsewhere): a thread that wakes every [`POLL`] and works briefly then
/// gets the CPU when it wakes, instead of waiting out the slice of a busy
/// server thread and falling milliseconds behind (to read a full
/// [`BATCH`] at once when it does).
fn short_slice() {
    #[repr(C)]
    struct SchedAttr {
        size: u32,
        policy: u32,
        flags: u64,
        nice: i32,
        priority: u32,
        runtime: u64,
        deadline: u64,
        period: u64,
        util_min: u32,
        util_max: u32,
    }
    let attr = SchedAttr {
        size: std::mem::size_of::<SchedAttr>() as u32,
        policy: libc::SCHED_OTHER as u32,
        flags: 0,
        nice: 0,
        priority: 0,
        runtime: 100_000, // ns: the slice asked for
        deadline: 0,
        period: 0,
        util_min: 0,
        util_max: 0,
    };
    // SAFETY: a live, correctly sized sched_attr for this thread (0).
    let rc = unsafe { libc::syscall(libc::SYS_sched_setattr, 0, &attr as *const SchedAttr, 0) };
    if rc != 0 {
        eprintln!("worker: no short scheduler slice: {}", std::io::Error::last_os_error());
    }
}

impl Held {
    /// Reads what the event brought; true when this is the session's close
    /// (seen for the first time).
    fn read_event(&mut self) -> bool {
        if self.seen {
            return false;
        }
        let mut buf = [0u8; 4096];
        loop {
            match (&self.stream).read(&mut buf) {
                Ok(0) => self.seen = true,
                Ok(n) => {
                    // Frames straight from `buf`; only a partial one is kept.
                    self.seen = if self.partial.is_empty() {
                        let (closed, used) = frames(&self.stream, &buf[..n]);
                        self.partial.extend_from_slice(&buf[used..n]);
                        closed
                    } else {
                        self.partial.extend_from_slice(&buf[..n]);
                        let (closed, used) = frames(&self.stream, &self.partial);
                        self.partial.drain(..used);
                        closed
                    };
                    if n == buf.len() && !self.seen {
                        continue;
                    }
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                Err(_) => self.seen = true,
            }
            return self.seen;
        }
    }
}

/// Handles the complete frames at the start of `buf`: whether one is the
/// session's close (or the bytes are not frames), and how many bytes the
/// handled frames took.
fn frames(stream: &TcpStream, buf: &[u8]) -> (bool, usize) {
    let mut at = 0;
    loop {
        let f = match frame::parse(&buf[at..]) {
            Ok(Some(f)) => f,
            Ok(None) => return (false, at),
            Err(_) => return (true, at),
        };
        let payload = &buf[at + f.payload.start..at + f.payload.end];
        match f.opcode {
            BINARY => {
                if let Ok(ServerMessage::Push(Push::Closing { .. })) = decode::<ServerMessage>(payload) {
                    return (true, at);
                }
            }
            CLOSE => return (true, at),
            // A pong that does not fit the socket's send buffer is dropped:
            // the server then only counts the session as idle later.
            PING => drop((&*stream).write(&frame::client_frame(PONG, payload))),
            _ => {}
        }
        at += f.end();
    }
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};
    use std::net::{TcpListener, TcpStream};
    use std::time::Duration;

    use usher_core::protocol::{CloseReason, Push, ServerMessage, encode};

    use super::*;

    /// A server frame: FIN, `opcode`, unmasked, a short payload.
    fn server_frame(opcode: u8, payload: &[u8]) -> Vec<u8> {
        let mut out = vec![0x80 | opcode, payload.len() as u8];
        out.extend_from_slice(payload);
        out
    }

    /// A held client socket and the server's end of it.
    fn pair(holder: &Holder, tagged: bool) -> TcpStream {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let client = TcpStream::connect(listener.local_addr().expect("addr")).expect("connect");
        client.set_nonblocking(true).expect("non-blocking");
        let (server, _) = listener.accept().expect("accept");
        holder.add(client, tagged, Vec::new()).expect("held");
        server
    }

    #[tokio::test]
    async fn answers_pings_and_counts_each_close_once() {
        let holder = Holder::start().expect("holder");
        let mut a = pair(&holder, true);
        let mut b = pair(&holder, false);
        let c = pair(&holder, true);

        // A ping gets its pong (masked, same payload); no close counted.
        a.write_all(&server_frame(PING, b"hi")).expect("ping");
        a.set_read_timeout(Some(Duration::from_secs(10))).expect("timeout");
        let mut pong = [0u8; 8];
        a.read_exact(&mut pong).expect("pong");
        assert_eq!(pong, frame::client_frame(PONG, b"hi")[..]);
        assert_eq!(holder.take_seen(), Seen::default());

        // A Closing push split over two writes, a Close frame, a hang-up.
        let closing = encode(&ServerMessage::Push(Push::Closing {
            reason: CloseReason::ClosedByController,
            message: "bye".into(),
        }));
        let frame = server_frame(BINARY, &closing);
        a.write_all(&frame[..3]).expect("first part");
        a.flush().expect("flush");
        b.write_all(&server_frame(CLOSE, &[])).expect("close");
        drop(c);
        let waited = tokio::time::timeout(Duration::from_secs(10), holder.wait_tagged(1)).await;
        assert!(waited.is_ok(), "the hang-up of c was seen");
        a.write_all(&frame[3..]).expect("second part");
        tokio::time::timeout(Duration::from_secs(10), holder.wait_tagged(2)).await.expect("a's close seen");
        // More bytes after the close are not read, and count nothing.
        a.write_all(&server_frame(CLOSE, &[])).expect("more");
        // b's Close frame came before a's end; wait for it to be counted.
        let until = std::time::Instant::now() + Duration::from_secs(10);
        while holder.seen().untagged == 0 && std::time::Instant::now() < until {
            tokio::time::sleep(Duration::from_millis(1)).await; // polling a condition
        }
        let seen = holder.take_seen();
        assert_eq!((seen.tagged, seen.untagged), (2, 1), "{seen:?}");
        assert!(seen.first_ns > 0 && seen.first_ns <= seen.last_ns);
        assert_eq!(holder.clear(), 3);
    }
}
