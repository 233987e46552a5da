//! The scenarios of SPEC §9 that a single server can measure: P1, P2 and
//! P3, P4, P6, P7 (with password logins as an `INFO` figure), P8. P5 is the
//! separate `filter-eval` program; P9 comes with the bindings, P10 with the
//! cluster.
//!
//! Every scenario starts its own `usher-server` process, repeats, and
//! prints `BENCH` lines through [`Summary::line`], each followed by its
//! target on the next line.

mod by_id;
mod close;
mod logins;
mod memory;
mod queue;

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use usher_core::client::{ConnectOptions, Session};

use crate::Summary;
use crate::server::{CONTROL_PASSWORD, ServerProcess};

/// How big and how often: the full size (`make bench`) or the smoke size
/// (`make bench-smoke`, seconds, so nothing rots).
#[derive(Debug, Clone)]
pub struct Sizes {
    /// Repetitions of each scenario.
    pub runs: usize,
    /// P1 session counts, ascending (one server opens them in turn).
    pub p1_counts: Vec<usize>,
    /// P1: wait after the last login before reading VmRSS.
    pub p1_settle: Duration,
    /// P2/P3/P4: sessions (half of them tagged).
    pub sessions: usize,
    /// Quiet time before a control operation is timed.
    pub settle: Duration,
    /// P6: operations per run.
    pub p6_ops: usize,
    /// P7: anonymous sessions per run.
    pub p7_sessions: usize,
    /// P7: password logins per run (INFO).
    pub p7_logins: usize,
    /// P8: threshold crossings per run.
    pub p8_samples: usize,
}

impl Sizes {
    /// `make bench`.
    pub fn full() -> Self {
        Self {
            runs: 5,
            p1_counts: vec![10_000, 19_000],
            p1_settle: Duration::from_secs(5),
            sessions: 10_000,
            settle: Duration::from_secs(1),
            p6_ops: 200_000,
            p7_sessions: 10_000,
            p7_logins: 300,
            p8_samples: 50,
        }
    }

    /// `make bench-smoke`.
    pub fn smoke() -> Self {
        Self {
            runs: 1,
            p1_counts: vec![100, 200],
            p1_settle: Duration::from_millis(500),
            sessions: 200,
            settle: Duration::from_millis(200),
            p6_ops: 2_000,
            p7_sessions: 200,
            p7_logins: 8,
            p8_samples: 3,
        }
    }
}

/// What every scenario needs.
#[derive(Debug, Clone)]
pub struct Ctx {
    /// The `usher-server` binary.
    pub server_bin: PathBuf,
    /// Where the server's log goes (`None`: discarded).
    pub server_log: Option<PathBuf>,
    /// Sizes.
    pub sizes: Sizes,
}

impl Ctx {
    fn start_server(&self) -> anyhow::Result<ServerProcess> {
        ServerProcess::start(&self.server_bin, self.server_log.as_deref())
    }

    /// A server whose allocator returns freed memory at once
    /// (`MIMALLOC_PURGE_DELAY=0`), for P1: otherwise mimalloc keeps the
    /// ~40 MB its start-up argon2 hashing freed resident, the baseline
    /// includes it, the sessions reuse it, and the figure comes out near 0.
    fn start_server_clean_baseline(&self) -> anyhow::Result<ServerProcess> {
        let env = [("MIMALLOC_PURGE_DELAY", "0")];
        ServerProcess::start_with(&self.server_bin, self.server_log.as_deref(), &[], &env)
    }
}

/// A session of the `control` principal (CLIENT_CONTROL, TOPIC_CONTROL),
/// the controller of every scenario.
async fn controller(url: &str) -> anyhow::Result<Session> {
    Session::connect(ConnectOptions::new(url).principal("control").password(CONTROL_PASSWORD))
        .await
        .context("connecting the controller")
}

/// Prints one figure and its target.
fn report(prefix: &str, id: &str, name: &str, unit: &str, values: &[f64], target: Option<&str>) {
    match Summary::of(values) {
        Some(s) => println!("{}", s.line(prefix, id, name, unit)),
        None => println!("{prefix} {id} {name}: no measurement"),
    }
    if let Some(t) = target {
        println!("  target {t}");
    }
}

/// The `p`-th percentile (0 < p ≤ 1) by nearest rank.
pub fn percentile(values: &[f64], p: f64) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let rank = ((p * v.len() as f64).ceil() as usize).clamp(1, v.len());
    Some(v[rank - 1])
}

/// Runs the scenarios whose ids are in `only` (all when empty), in order.
pub fn run(ctx: &Ctx, only: &[String]) -> anyhow::Result<()> {
    let wanted = |id: &str| only.is_empty() || only.iter().any(|o| o.eq_ignore_ascii_case(id));
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    if wanted("P1") {
        memory::p1(ctx)?;
    }
    if wanted("P2") || wanted("P3") {
        rt.block_on(close::p2_p3(ctx))?;
    }
    if wanted("P4") {
        rt.block_on(close::p4(ctx))?;
    }
    if wanted("P6") {
        rt.block_on(by_id::p6(ctx))?;
    }
    if wanted("P7") {
        logins::p7(ctx)?;
    }
    if wanted("P8") {
        rt.block_on(queue::p8(ctx))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentile() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&v, 0.99), Some(99.0));
        assert_eq!(percentile(&v, 0.5), Some(50.0));
        assert_eq!(percentile(&[3.0], 0.99), Some(3.0));
        assert_eq!(percentile(&[], 0.5), None);
    }
}
