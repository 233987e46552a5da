//! One server-wide task for pings and idle timeouts (SPEC §6), instead of
//! two timers per session: a timer is ~100 bytes in the session's future plus
//! a timer-wheel entry, and idle sessions are the memory headline (§9 P1).
//!
//! Every `period` it visits every session: one silent for the idle timeout
//! is closed with `IDLE_TIMEOUT`; every ping interval each session's writer
//! is asked to send a ping (its pong counts as traffic); otherwise one silent
//! for `server.park_after_ms` is hinted to park (`crate::park`). Parked
//! sessions are visited like the others: a ping or an idle-timeout close
//! resumes them through their waker.

use std::sync::Arc;
use std::time::Duration;

use usher_core::protocol::CloseReason;

use crate::shutdown::Shutdown;
use crate::state::Shared;

/// Runs until shutdown.
pub(crate) async fn run(shared: Arc<Shared>, mut shutdown: Shutdown) {
    let limits = shared.config.limits;
    let ping = u64::from(limits.ping_interval_ms);
    let idle = u64::from(limits.idle_timeout_ms);
    let park_after = match shared.parker.get() {
        Some(_) => shared.config.server.park_after_ms,
        None => 0,
    };
    // Fine enough to keep both bounds within a quarter of the idle timeout,
    // and parking within one more park delay.
    let mut period = ping.min(idle / 4);
    if park_after > 0 {
        period = period.min(park_after);
    }
    let period = Duration::from_millis(period.clamp(10, 1000));
    let mut ticks = tokio::time::interval(period);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_ping = shared.now_ms();
    loop {
        tokio::select! {
            _ = shutdown.recv() => return,
            _ = ticks.tick() => {}
        }
        let now = shared.now_ms();
        let ping_now = now.saturating_sub(last_ping) >= ping;
        if ping_now {
            last_ping = now;
        }
        for session in shared.registry.all_sessions() {
            if now.saturating_sub(session.last_seen()) >= idle {
                shared.close_session(session.id, CloseReason::IdleTimeout);
            } else if ping_now {
                session.request_ping();
            } else if park_after > 0 && now.saturating_sub(session.last_seen()) >= park_after {
                session.hint_park();
            }
        }
    }
}
