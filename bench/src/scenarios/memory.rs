//! P1: memory per idle session. (VmRSS at N sessions − VmRSS after a
//! warm-up) / N, read `p1_settle` (5 s) after the last login.
//!
//! The warm-up opens and drops 200 sessions, so the runtime's threads, the
//! registry's shards and the allocator's first arenas exist before the
//! baseline is read; memory the allocator keeps from those 200 is reused by
//! the N, which lowers the figure by at most 200/N of a session each
//! (2% at N = 10,000).
//!
//! The baseline is read once VmRSS has stopped moving (three readings
//! 250 ms apart within 64 KiB, at most 10 s): the server hashes the
//! configured passwords with argon2 on its verification threads after it
//! starts listening, ~20-40 MB that would otherwise land on either side of
//! the subtraction. The server runs with `MIMALLOC_PURGE_DELAY=0`, so that
//! memory is returned once freed instead of being kept resident and reused
//! by the sessions (which made the figure 0 B: docs/PERFORMANCE.md, P1).

use std::thread::sleep;
use std::time::Duration;

use anyhow::bail;

use super::{Ctx, report};
use crate::fleet::Fleet;

const WARM_UP: usize = 200;

/// VmRSS once it has stopped moving (bounded: 40 readings).
fn steady_rss(server: &crate::server::ServerProcess) -> anyhow::Result<u64> {
    let mut last = server.rss_bytes()?;
    let mut still = 0;
    for _ in 0..40 {
        sleep(Duration::from_millis(250));
        let now = server.rss_bytes()?;
        still = if now.abs_diff(last) < 64 * 1024 { still + 1 } else { 0 };
        last = now;
        if still >= 3 {
            break;
        }
    }
    Ok(last)
}
/// Sessions connecting at once, per worker.
const CONCURRENCY: usize = 128;

pub(super) fn p1(ctx: &Ctx) -> anyhow::Result<()> {
    let counts = &ctx.sizes.p1_counts;
    let mut per_session: Vec<Vec<f64>> = vec![Vec::new(); counts.len()];
    let mut slopes = Vec::new();
    for _ in 0..ctx.sizes.runs.min(3) {
        let server = ctx.start_server_clean_baseline()?;
        let max = counts.iter().copied().max().unwrap_or(0);
        let mut fleet = Fleet::spawn(server.url(), max, 2)?;
        fleet.open(WARM_UP, CONCURRENCY, None)?;
        fleet.drop_sessions()?;
        let base = steady_rss(&server)?;
        let (mut open, mut previous) = (0, None);
        for (i, &n) in counts.iter().enumerate() {
            let opened = fleet.open(n - open, CONCURRENCY, None)?;
            if opened.ok != (n - open) as u64 {
                bail!("P1: {} of {} sessions opened", opened.ok, n - open);
            }
            sleep(ctx.sizes.p1_settle);
            let rss = server.rss_bytes()?;
            per_session[i].push(rss.saturating_sub(base) as f64 / n as f64);
            eprintln!("P1 n={n}: baseline {} KiB, at n {} KiB", base / 1024, rss / 1024);
            if let Some((n0, rss0)) = previous {
                slopes.push(rss.saturating_sub(rss0) as f64 / (n - n0) as f64);
            }
            (open, previous) = (n, Some((n, rss)));
        }
    }
    for (i, n) in counts.iter().enumerate() {
        let name = format!("idle_session_memory_{n}");
        report("BENCH", "P1", &name, "B", &per_session[i], Some("≤ 1024 B"));
    }
    // The marginal cost between the counts, in one server: free memory the
    // allocator kept from before the baseline (the argon2 blocks of the
    // startup password hashing) cannot hide in it once the first count used it up.
    if !slopes.is_empty() {
        let name = format!("idle_session_memory_slope_{}_{}", counts[0], counts[counts.len() - 1]);
        report("INFO", "P1", &name, "B", &slopes, None);
    }
    Ok(())
}
