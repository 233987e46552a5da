//! Parking where the platform has no epoll (not Linux): never parks; every
//! session keeps its connection task, as with `server.park_after_ms = 0`.
//! The types the rest of the server names exist; [`Parker`] has no value,
//! so `Shared::parker` stays empty and nothing here runs.

use std::sync::Arc;

use tokio::sync::{OwnedSemaphorePermit, mpsc};

use crate::session::Session;
use crate::shutdown::Shutdown;
use crate::state::Shared;

/// See the Linux `park.rs`.
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

/// See the Linux `park.rs`.
#[derive(Debug)]
pub(crate) struct Parked {
    pub socket: std::net::TcpStream,
    pub session: Arc<Session>,
    pub principal: Box<str>,
    pub held: Held,
}

/// Parking counters (always zero here).
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
}

/// No parking component can exist here.
#[derive(Debug)]
pub(crate) enum Parker {}

impl Parker {
    pub(crate) fn stats(&self) -> ParkStats {
        match *self {}
    }

    pub(crate) fn park(self: &Arc<Self>, _parked: Parked) {
        match **self {}
    }
}

/// Leaves parking off.
pub(crate) fn start(_shared: &Arc<Shared>, _shutdown: Shutdown) {}
