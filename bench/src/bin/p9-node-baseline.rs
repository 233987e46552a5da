//! The Rust side of P9 for the Node binding (`bindings-node/bench/p9.js`):
//! by-id `getSessionProperties` on the session's own id, `--in-flight K` at a
//! time, `--ops N` in all; prints `us_per_op=<µs>` for each of `--runs` runs.
//! The Node script runs the same loop through the binding and subtracts.
//!
//! Usage: `p9-node-baseline --url ws://... --ops 20000 --in-flight 64 --runs 3`
//! (credentials from `USHER_PRINCIPAL` / `USHER_PASSWORD`).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use anyhow::Context;
use usher_core::client::{ConnectOptions, Session};

fn arg(name: &str, default: &str) -> String {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
        .unwrap_or_else(|| default.to_owned())
}

fn main() -> anyhow::Result<()> {
    let url = arg("--url", "ws://127.0.0.1:8080");
    let ops: u64 = arg("--ops", "20000").parse().context("--ops")?;
    let in_flight: u64 = arg("--in-flight", "1").parse().context("--in-flight")?;
    let runs: u32 = arg("--runs", "3").parse().context("--runs")?;
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    rt.block_on(async move {
        let mut options = ConnectOptions::new(url);
        if let Ok(p) = std::env::var("USHER_PRINCIPAL") {
            options = options.principal(p);
        }
        if let Ok(p) = std::env::var("USHER_PASSWORD") {
            options = options.password(p);
        }
        let session = Session::connect(options).await?;
        let clients = session.clients();
        let id = session.id();
        for run in 0..=runs {
            let left = Arc::new(AtomicU64::new(ops));
            let started = Instant::now();
            let workers: Vec<_> = (0..in_flight)
                .map(|_| {
                    let (clients, left) = (clients.clone(), Arc::clone(&left));
                    tokio::spawn(async move {
                        while left
                            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1))
                            .is_ok()
                        {
                            clients.get_session_properties(id, ["$SessionId"]).await?;
                        }
                        anyhow::Ok(())
                    })
                })
                .collect();
            for w in workers {
                w.await??;
            }
            let us = started.elapsed().as_secs_f64() * 1e6 / ops as f64;
            // Run 0 warms up (connection, allocator, server caches).
            if run > 0 {
                println!("us_per_op={us:.3}");
            }
        }
        session.close().await?;
        anyhow::Ok(())
    })
}
