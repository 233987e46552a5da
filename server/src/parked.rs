//! What a parked session is made of ([`crate::park`]), on every platform
//! (where parking is off, `park_off.rs` names the same types).

use std::sync::Arc;

use tokio::sync::{OwnedSemaphorePermit, mpsc};

use crate::session::Session;

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
    /// Pings written to parked sessions without resuming them.
    pub pings: u64,
    /// Pongs read from parked sessions without resuming them.
    pub pongs: u64,
    /// Parked sessions closed without resuming them (`Closing` written by
    /// the parking task).
    pub closes: u64,
    /// Closed connections lingering now, waiting for their peers.
    pub lingering: usize,
}
