//! Memory per idle session (SPEC §9 P1), measured on the real binary.
//! Ignored by default (it opens thousands of sockets); run with
//! `cargo test -p usher-server --test memory -- --ignored --nocapture`.

mod support;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use support::process::rss_bytes;
use support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore]
async fn idle_session_memory() -> anyhow::Result<()> {
    let n: usize = std::env::var("USHER_MEM_SESSIONS").ok().and_then(|v| v.parse().ok()).unwrap_or(5000);
    let mut child = Command::new(env!("CARGO_BIN_EXE_usher-server"))
        .args(["--listen", "127.0.0.1:0"])
        .envs(std::env::var("USHER_MEM_MALLOC_ARENA_MAX").ok().map(|v| ("MALLOC_ARENA_MAX", v)))
        .env("USHER_ADMIN_PASSWORD", "a")
        .env("USHER_CONTROL_PASSWORD", "c")
        .env("USHER_CLIENT_PASSWORD", "u")
        .env("RUST_LOG", std::env::var("USHER_MEM_LOG").unwrap_or_else(|_| "warn".into()))
        .stdout(Stdio::piped())
        .spawn()?;
    let stdout = child.stdout.take().ok_or_else(|| anyhow::anyhow!("no stdout"))?;
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line)?;
    let url = line.trim().trim_start_matches("usher-server listening on ").to_owned();
    // Warm-up: a few sessions, closed again.
    let warm: Vec<Client> =
        futures_util::future::try_join_all((0..100).map(|_| anonymous(&url, &[]))).await?;
    drop(warm);
    tokio::time::sleep(std::time::Duration::from_secs(1)).await; // measurement settling, not sync
    let before = rss_bytes(child.id())?;
    let mut clients = Vec::with_capacity(n);
    for chunk in 0..n.div_ceil(500) {
        let k = 500.min(n - chunk * 500);
        let props: &[(&str, &str)] = &[("Tier", "gold")];
        clients.extend(futures_util::future::try_join_all((0..k).map(|_| anonymous(&url, props))).await?);
    }
    tokio::time::sleep(std::time::Duration::from_secs(5)).await; // SPEC §9: read 5 s after the last login
    let after = rss_bytes(child.id())?;
    println!(
        "INFO idle_session_memory={} B (n={n}, rss {} -> {} KiB)",
        (after - before) / n as u64,
        before / 1024,
        after / 1024
    );
    let _ = child.kill();
    let _ = child.wait();
    Ok(())
}

/// A rough look at close-by-filter cost (SPEC §9 P2) on the debug binary:
/// half of N tagged sessions closed by one filter request.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore]
async fn close_half_by_filter_timing() -> anyhow::Result<()> {
    let n: usize = std::env::var("USHER_MEM_SESSIONS").ok().and_then(|v| v.parse().ok()).unwrap_or(4000);
    let mut child = Command::new(env!("CARGO_BIN_EXE_usher-server"))
        .args(["--listen", "127.0.0.1:0"])
        .env("USHER_ADMIN_PASSWORD", "a")
        .env("USHER_CONTROL_PASSWORD", "c")
        .env("USHER_CLIENT_PASSWORD", "u")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .spawn()?;
    let stdout = child.stdout.take().ok_or_else(|| anyhow::anyhow!("no stdout"))?;
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line)?;
    let url = line.trim().trim_start_matches("usher-server listening on ").to_owned();
    let mut clients = Vec::with_capacity(n);
    for chunk in 0..n.div_ceil(500) {
        let k = 500.min(n - chunk * 500);
        clients.extend(
            futures_util::future::try_join_all((0..k).map(|i| {
                let tag = if i % 2 == 0 { "yes" } else { "no" };
                let url = url.clone();
                async move { anonymous(&url, &[("Tagged", tag)]).await }
            }))
            .await?,
        );
    }
    let mut admin = connect(&url, Some(("admin", "a")), &[]).await?;
    let start = std::time::Instant::now();
    let r = admin.result(close(filter("Tagged is 'yes'"))).await?;
    let took = start.elapsed();
    assert_eq!(r.total as usize, n / 2);
    println!("INFO close_half_by_filter={:.1} ms (n={n}, debug build)", took.as_secs_f64() * 1000.0);
    let _ = child.kill();
    let _ = child.wait();
    Ok(())
}
