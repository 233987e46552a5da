//! P1: memory per idle session. (VmRSS at N sessions − VmRSS after a
//! warm-up) / N, read `p1_settle` (5 s) after the last login.
//!
//! The warm-up opens and drops 200 sessions, so the runtime's threads, the
//! registry's shards and the allocator's first arenas exist before the
//! baseline is read; memory the allocator keeps from those 200 is reused by
//! the N, which lowers the figure by at most 200/N of a session each
//! (2% at N = 10,000).

use std::thread::sleep;
use std::time::Duration;

use anyhow::bail;

use super::{Ctx, report};
use crate::fleet::Fleet;

const WARM_UP: usize = 200;
/// Sessions connecting at once, per worker.
const CONCURRENCY: usize = 128;

pub(super) fn p1(ctx: &Ctx) -> anyhow::Result<()> {
    for &n in &ctx.sizes.p1_counts {
        let mut per_session = Vec::new();
        for _ in 0..ctx.sizes.runs.min(3) {
            let server = ctx.start_server()?;
            let mut fleet = Fleet::spawn(server.url(), n, 2)?;
            fleet.open(WARM_UP, CONCURRENCY, None)?;
            fleet.drop_sessions()?;
            sleep(Duration::from_secs(1));
            let base = server.rss_bytes()?;
            let opened = fleet.open(n, CONCURRENCY, None)?;
            if opened.ok != n as u64 {
                bail!("P1: {} of {n} sessions opened", opened.ok);
            }
            sleep(ctx.sizes.p1_settle);
            let rss = server.rss_bytes()?;
            per_session.push(rss.saturating_sub(base) as f64 / n as f64);
            eprintln!("P1 n={n}: baseline {} KiB, at n {} KiB", base / 1024, rss / 1024);
        }
        report("BENCH", "P1", &format!("idle_session_memory_{n}"), "B", &per_session, Some("≤ 1024 B"));
    }
    Ok(())
}
