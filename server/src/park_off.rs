//! Parking where the platform has no epoll (not Linux): never parks; every
//! session keeps its connection task, as with `server.park_after_ms = 0`.
//! The types the rest of the server names exist; [`Parker`] has no value,
//! so `Shared::parker` stays empty and nothing here runs.

use std::sync::Arc;

pub use crate::parked::ParkStats;
pub(crate) use crate::parked::{Held, Parked};
use crate::shutdown::Shutdown;
use crate::state::Shared;

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
