//! Closing a parked session without resuming it, and the linger after it,
//! both in the parking component (on the parking task, or a task sharing a
//! burst of wake-ups with it; SPEC §4.1, §9 P3).
//!
//! A parked session that starts closing (a controller's close, the idle
//! timeout, a queue limit, shutdown) used to be resumed first: a task
//! spawned, a tokio registration, a tungstenite state, all to write two
//! frames. Now, when nothing is queued ahead of the `Closing` push, the
//! parking task writes it itself ([`Parker::close_parked`]): the `Closing`
//! push and the Close frame in one `send`, one TCP segment. The bytes are
//! exactly what the connection task would have written (a unit test
//! compares them with tungstenite's).
//!
//! **Linger.** As after a connection task's close (`connection::linger`,
//! which says why), the socket is then read and discarded until the peer's
//! Close frame or end, [`LINGER_BYTES`], or [`LINGER`], whichever comes
//! first; then it is dropped (the FIN: TCP closes after the closing
//! handshake), and with it the connection's permit. It waits in the same
//! epoll set, on the same registration (armed while it was parked, so
//! closing costs no `epoll_ctl`); the parking task drops the expired ones.
//! An event that races the close (taken while the entry moves from the
//! parked table to the lingering one) is lost, and that socket lingers the
//! full bound.
//!
//! **Bounds.** One [`Lingering`] entry (~100 B) per closed connection for
//! at most [`LINGER`], and one deadline (24 B) per close in the last
//! [`LINGER`]: both bounded by the connections closed in one second. Once
//! the last deadline passes, memory kept beyond [`KEEP`] entries is freed.
//! **Fallbacks.** A socket that does not take the whole write at once (a
//! client that stopped reading) gets the rest written by a task with the
//! usual grace ([`finish`]); when parking stops, lingering sockets move to
//! such tasks too.

use std::borrow::Cow;
use std::collections::{HashMap, VecDeque};
use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::sync::atomic::Ordering;
use std::sync::{Arc, MutexGuard, OnceLock};

use bytes::Bytes;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::{Instant, timeout};
use usher_core::SessionId;
use usher_core::protocol::{CloseReason, push_frame_header};

use super::{EVENTS, ParkWaker, Parker, sys};
use crate::boundary::Boundary;
use crate::connection::{CLOSE_GRACE, LINGER, LINGER_BYTES, closing_push};
use crate::parked::{Held, Parked};

/// Lingering entries whose memory is kept once none is left.
const KEEP: usize = 64;

/// Reads of 4 KiB per readiness event, at most, before re-arming.
const READS_PER_EVENT: usize = 16;

/// A closed session's socket, waiting for its peer to finish.
#[derive(Debug)]
pub(super) struct Lingering {
    socket: std::net::TcpStream,
    id: SessionId,
    drain: Drain,
    _held: Held,
}

/// What a lingering socket's peer sent so far.
#[derive(Debug)]
struct Drain {
    /// Where the peer's bytes stand: its Close frame ends the wait.
    boundary: Boundary,
    seen: usize,
}

impl Drain {
    fn new() -> Self {
        Self { boundary: Boundary::frames(), seen: 0 }
    }

    /// Follows bytes just read (and discarded); true when the wait is
    /// over: the peer's Close frame came, or [`LINGER_BYTES`].
    fn over_after(&mut self, bytes: &[u8]) -> bool {
        self.boundary.feed(bytes);
        self.seen += bytes.len();
        self.boundary.close_seen() || self.seen >= LINGER_BYTES
    }
}

/// Lingering sockets by descriptor, and their deadlines in order.
#[derive(Debug, Default)]
pub(super) struct Lingerers {
    by_fd: HashMap<RawFd, Lingering>,
    /// One [`LINGER`] for all, so pushed in deadline order; an entry whose
    /// socket ended early is skipped when it expires.
    deadlines: VecDeque<(Instant, RawFd, SessionId)>,
}

impl Lingering {
    /// Reads what the peer sent; false when the wait is over.
    fn read(&mut self) -> bool {
        let mut buf = [0u8; 4096];
        for _ in 0..READS_PER_EVENT {
            match sys::recv(self.socket.as_raw_fd(), &mut buf, 0) {
                Ok(0) => return false,
                Ok(n) => {
                    if self.drain.over_after(&buf[..n]) {
                        return false;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return true,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return false,
            }
        }
        true
    }
}

/// What the connection task writes when it closes a session for `reason`:
/// the `Closing` push as a binary frame, then an empty Close frame. Encoded
/// once per reason (a close by filter writes thousands).
pub(crate) fn closing_frames(reason: CloseReason) -> Cow<'static, [u8]> {
    static FRAMES: [OnceLock<Box<[u8]>>; 16] = [const { OnceLock::new() }; 16];
    match FRAMES.get(reason as usize) {
        Some(cell) => Cow::Borrowed(cell.get_or_init(|| encode_closing_frames(reason).into_boxed_slice())),
        None => Cow::Owned(encode_closing_frames(reason)),
    }
}

fn encode_closing_frames(reason: CloseReason) -> Vec<u8> {
    let push = closing_push(reason);
    let mut out = Vec::with_capacity(push.len() + 14);
    push_frame_header(&mut out, 0x82, push.len(), None); // FIN, binary; a server's frames are not masked
    out.extend_from_slice(&push);
    push_frame_header(&mut out, 0x88, 0, None); // FIN, close, no payload
    out
}

impl Parker {
    fn lingerers(&self) -> MutexGuard<'_, Lingerers> {
        self.lingering.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Closes the parked session `waker` names if it is closing with
    /// nothing queued (and not for a lost connection, which has nothing to
    /// write): true when done here, false when it must be resumed instead.
    /// `burst`: how many closes may come in the same burst, this one
    /// included (when the lingering table is full it grows by that much at
    /// once, not one rehash at a time).
    pub(super) fn close_parked(self: &Arc<Self>, waker: &ParkWaker, burst: usize) -> bool {
        let (fd, id) = (waker.fd, waker.id);
        let Ok(slot) = usize::try_from(fd) else { return false };
        if self.closed.load(Ordering::SeqCst) {
            return false;
        }
        let Some(shared) = self.shared.upgrade() else { return false };
        let (parked, reason) = {
            let mut slots = self.lock();
            let Some(entry) = slots.get_mut(slot) else { return false };
            let reason = match entry {
                Some(p) if p.session.id == id => p.session.closing_with_nothing_queued(),
                _ => None,
            };
            let Some(reason) = reason.filter(|r| *r != CloseReason::ConnectionLost) else { return false };
            let Some(parked) = entry.take() else { return false };
            self.parked.fetch_sub(1, Ordering::Relaxed);
            self.closes.fetch_add(1, Ordering::Relaxed);
            (parked, reason)
        };
        let Parked { socket, session, principal: _, held } = parked;
        session.set_parked(false);
        // As the connection task does: the registry record goes (listeners
        // get CLOSED) unless whoever closed it removed it already.
        let reason = shared.close_session(id, reason).or(session.closing()).unwrap_or(reason);
        tracing::debug!(session = %id, reason = %reason, "session closed while parked");
        let frames = closing_frames(reason);
        let sent = match sys::send(fd, &frames) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => 0,
            // The connection is gone: nothing to write or wait for.
            Err(_) => return true,
        };
        if sent < frames.len() {
            let _ = sys::ctl(self.epoll.as_raw_fd(), libc::EPOLL_CTL_DEL, fd, 0, 0);
            let rest = Bytes::copy_from_slice(&frames[sent..]);
            self.runtime.spawn(finish(socket, rest, held, Instant::now() + LINGER));
            return true;
        }
        let mut lingering = self.lingerers();
        // Checked under the lock `hand_over_lingering` takes after setting
        // it: an entry added after the hand-over would never expire.
        if self.closed.load(Ordering::SeqCst) {
            drop(lingering);
            self.runtime.spawn(finish(socket, Bytes::new(), held, Instant::now() + LINGER));
            return true;
        }
        if lingering.by_fd.len() == lingering.by_fd.capacity() {
            lingering.by_fd.reserve(burst);
            lingering.deadlines.reserve(burst);
        }
        lingering.by_fd.insert(fd, Lingering { socket, id, drain: Drain::new(), _held: held });
        lingering.deadlines.push_back((Instant::now() + LINGER, fd, id));
        if lingering.deadlines.len() == 1 {
            // The parking task may be waiting with no deadline (this may
            // run in a task that shares a burst): it sets one.
            self.wake_task.notify_one();
        }
        true
    }

    /// An epoll event for `fd`, which is no parked session's: if a closed
    /// one lingers there, reads what its peer sent and re-arms it, or drops
    /// it when the wait is over.
    pub(super) fn linger_event(&self, fd: RawFd) {
        let done = {
            let mut lingering = self.lingerers();
            let Some(entry) = lingering.by_fd.get_mut(&fd) else { return };
            if entry.read()
                && sys::ctl(self.epoll.as_raw_fd(), libc::EPOLL_CTL_MOD, fd, EVENTS, fd as u64).is_ok()
            {
                return;
            }
            lingering.by_fd.remove(&fd)
        };
        // Closed outside the lock.
        drop(done);
    }

    /// Drops the sockets whose linger passed `now`; returns the next
    /// deadline, if any socket still lingers.
    pub(super) fn expire_lingering(&self, now: Instant) -> Option<Instant> {
        let mut expired = Vec::new();
        let next = {
            let mut lingering = self.lingerers();
            let next = loop {
                let Some(&(deadline, fd, id)) = lingering.deadlines.front() else { break None };
                if deadline > now {
                    break Some(deadline);
                }
                lingering.deadlines.pop_front();
                if lingering.by_fd.get(&fd).is_some_and(|l| l.id == id) {
                    expired.extend(lingering.by_fd.remove(&fd));
                }
            };
            if lingering.deadlines.is_empty() && lingering.deadlines.capacity() > KEEP {
                // A burst is over: its memory goes back.
                *lingering = Lingerers::default();
            }
            next
        };
        drop(expired);
        next
    }

    /// Sockets lingering now.
    pub(super) fn lingering_count(&self) -> usize {
        self.lingerers().by_fd.len()
    }

    /// Parking stops: lingering sockets finish in tasks of their own, each
    /// by the deadline it had.
    pub(super) fn hand_over_lingering(&self) {
        let Lingerers { mut by_fd, deadlines } = std::mem::take(&mut *self.lingerers());
        // Every entry has its deadline in the queue; an older one of the
        // same descriptor (a socket that ended early) has another id.
        for (deadline, fd, id) in deadlines {
            if by_fd.get(&fd).is_none_or(|l| l.id != id) {
                continue;
            }
            let Some(Lingering { socket, _held: held, .. }) = by_fd.remove(&fd) else { continue };
            let _ = sys::ctl(self.epoll.as_raw_fd(), libc::EPOLL_CTL_DEL, fd, 0, 0);
            self.runtime.spawn(finish(socket, Bytes::new(), held, deadline));
        }
    }
}

/// Writes `rest` (within [`CLOSE_GRACE`]), reads and discards until the
/// peer's Close frame or end, [`LINGER_BYTES`], or `deadline`, then shuts
/// the write half down and drops the socket and `held`.
pub(crate) async fn finish(socket: std::net::TcpStream, rest: Bytes, held: Held, deadline: Instant) {
    let Ok(mut tcp) = tokio::net::TcpStream::from_std(socket) else { return };
    if !rest.is_empty() {
        let _ = timeout(CLOSE_GRACE, tcp.write_all(&rest)).await;
    }
    let _ = tokio::time::timeout_at(deadline, async {
        let (mut buf, mut drain) = ([0u8; 4096], Drain::new());
        while let Ok(n @ 1..) = tcp.read(&mut buf).await {
            if drain.over_after(&buf[..n]) {
                break;
            }
        }
    })
    .await;
    let _ = tcp.shutdown().await;
    drop(held);
}

#[cfg(test)]
mod tests {
    use futures_util::SinkExt;
    use tokio::io::AsyncWriteExt;
    use tokio_tungstenite::WebSocketStream;
    use tokio_tungstenite::tungstenite::Message;
    use tokio_tungstenite::tungstenite::protocol::Role;

    use super::*;

    /// The frames written here are byte for byte what a connection task's
    /// tungstenite writes for the same close.
    #[tokio::test]
    async fn closing_frames_match_tungstenite() -> anyhow::Result<()> {
        for reason in [CloseReason::ClosedByController, CloseReason::IdleTimeout, CloseReason::ServerShutdown]
        {
            let (ours, theirs) = tokio::io::duplex(4096);
            let mut ws = WebSocketStream::from_raw_socket(ours, Role::Server, None).await;
            let push = closing_push(reason);
            ws.feed(Message::Binary(push.into())).await?;
            ws.close(None).await?;
            drop(ws);
            let mut written = Vec::new();
            let mut theirs = theirs;
            theirs.read_to_end(&mut written).await?;
            assert_eq!(written, &*closing_frames(reason), "{reason:?}");
        }
        Ok(())
    }

    /// A long push (over 125 bytes) takes the 16-bit length form.
    #[test]
    fn long_frames_carry_their_length() {
        let frames = closing_frames(CloseReason::MessageQueueLimitReached);
        let len = frames.len() - 2;
        match frames[1] {
            n @ 0..=125 => assert_eq!(usize::from(n) + 2, len),
            126 => assert_eq!(usize::from(u16::from_be_bytes([frames[2], frames[3]])) + 4, len),
            other => panic!("length byte {other}"),
        }
        assert_eq!(&frames[len..], &[0x88, 0x00]);
    }

    /// `finish` writes what the socket did not take, then waits for the
    /// client's Close frame before it ends the stream.
    #[tokio::test]
    async fn finish_writes_the_rest_then_ends_after_the_clients_close() -> anyhow::Result<()> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let mut client = tokio::net::TcpStream::connect(listener.local_addr()?).await?;
        let (server, _) = listener.accept().await?;
        let semaphore = Arc::new(tokio::sync::Semaphore::new(1));
        let (done, mut all_done) = tokio::sync::mpsc::channel(1);
        let held = Held::new(semaphore.clone().acquire_owned().await?, done);
        let rest = Bytes::from_static(b"the rest of the close");
        let task = tokio::spawn(finish(server.into_std()?, rest.clone(), held, Instant::now() + LINGER));
        let mut got = vec![0u8; rest.len()];
        client.read_exact(&mut got).await?;
        assert_eq!(got, rest);
        // The client answers with a (masked, empty) Close frame: only then
        // does the server end the stream, long before the linger bound.
        client.write_all(&[0x88, 0x80, 1, 2, 3, 4]).await?;
        let mut end = Vec::new();
        tokio::time::timeout(LINGER / 2, client.read_to_end(&mut end)).await??;
        assert!(end.is_empty(), "{end:?}");
        task.await?;
        assert_eq!(semaphore.available_permits(), 1);
        assert!(all_done.recv().await.is_none(), "the shutdown signal's sender was dropped");
        Ok(())
    }
}
