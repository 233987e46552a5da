//! The Rust side of P9 (SPEC §9): by-id `get_session_properties` from one
//! Rust client, timed exactly as `bindings-python/bench/p9.py` times the
//! Python binding, so their difference is the binding's overhead per op.
//!
//! Connects as `USHER_PRINCIPAL`/`USHER_PASSWORD` to `USHER_URL`, reads its
//! own `$SessionId` `--ops` times with `--in-flight` requests outstanding
//! (that many workers, each awaiting its calls one after the other), after a
//! warm-up of a tenth as many, and prints one number: microseconds per op.

use std::time::Instant;

use anyhow::Context as _;
use usher_core::client::{ConnectOptions, Session};

fn arg(name: &str, default: u64) -> anyhow::Result<u64> {
    let args: Vec<String> = std::env::args().collect();
    match args.iter().position(|a| a == name) {
        Some(i) => {
            args.get(i + 1).with_context(|| format!("{name} needs a value"))?.parse().context(name.to_owned())
        }
        None => Ok(default),
    }
}

async fn measure(session: &Session, ops: u64, in_flight: u64) -> anyhow::Result<f64> {
    let clients = session.clients();
    let id = session.id();
    let per_worker = (ops / in_flight).max(1);
    let started = Instant::now();
    let workers = (0..in_flight).map(|_| {
        let clients = clients.clone();
        async move {
            for _ in 0..per_worker {
                clients.get_session_properties(id, ["$SessionId"]).await?;
            }
            anyhow::Ok(())
        }
    });
    for result in futures_util::future::join_all(workers).await {
        result?;
    }
    Ok(started.elapsed().as_secs_f64() * 1e6 / (per_worker * in_flight) as f64)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let ops = arg("--ops", 20_000)?;
    let in_flight = arg("--in-flight", 1)?.max(1);
    let mut options = ConnectOptions::new(std::env::var("USHER_URL").context("USHER_URL")?);
    if let Ok(p) = std::env::var("USHER_PRINCIPAL") {
        options = options.principal(p);
    }
    if let Ok(p) = std::env::var("USHER_PASSWORD") {
        options = options.password(p);
    }
    let session = Session::connect(options).await?;
    measure(&session, (ops / 10).max(in_flight), in_flight).await?;
    let us = measure(&session, ops, in_flight).await?;
    println!("{us:.3}");
    session.close().await?;
    Ok(())
}
