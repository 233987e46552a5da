//! P10 (SPEC §9): the latency a cluster adds to a by-id operation, and the
//! time of a cluster-wide `close(filter)`.
//!
//! Starts `nats-server` on a free port and three servers (`a`, `b`, `c`,
//! in this process, each with its own NATS connection, exactly as
//! `usher-server --cluster` runs them) and one admin client on `a`. Per
//! run: the median of K sequential `getSessionProperties` on a session of
//! `a` (local) and on a session of `b` (routed over NATS); the added latency
//! is their difference. Then N sessions tagged on each server, and
//! `close(filter)` selecting all 3 × N is timed from request to reply.
//!
//! Prints
//! `BENCH P10 cluster_routed_added_latency=<median> us (min …, max …, n=…)`
//! and `INFO cluster_close_filter=<median> ms (…)`.
//!
//! Usage: `cluster-latency [--sessions N] [--ops K] [--runs R]`
//! (defaults 1,000, 2,000 and 5). Needs `nats-server` (scripts/install-deps.sh).

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use futures_util::future::join_all;
use usher_bench::Summary;
use usher_core::client::{ConnectOptions, Session};
use usher_server::config::ClusterSection;

const ADMIN_PW: &str = "bench-admin-pw";

struct Args {
    sessions: usize,
    ops: usize,
    runs: usize,
}

fn args() -> anyhow::Result<Args> {
    let mut a = Args { sessions: 1000, ops: 2000, runs: 5 };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value: usize = it.next().context("a flag needs a value")?.parse().context("a number")?;
        match flag.as_str() {
            "--sessions" => a.sessions = value,
            "--ops" => a.ops = value,
            "--runs" => a.runs = value,
            other => bail!("unknown flag {other}"),
        }
    }
    if a.runs < 1 || a.ops < 1 || a.sessions < 1 {
        bail!("--sessions, --ops and --runs must be positive");
    }
    Ok(a)
}

struct Nats(Child);

impl Drop for Nats {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_nats() -> anyhow::Result<(Nats, String)> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    let child = Command::new("nats-server")
        .args(["-p", &port.to_string(), "-a", "127.0.0.1"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .context("starting nats-server (run scripts/install-deps.sh to install it)")?;
    let nats = Nats(child);
    let until = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        if Instant::now() > until {
            bail!("nats-server did not listen");
        }
        std::thread::sleep(Duration::from_millis(20)); // polling a condition
    }
    Ok((nats, format!("nats://127.0.0.1:{port}")))
}

async fn start_server(name: &str, nats: &str) -> anyhow::Result<usher_server::ServerHandle> {
    let mut config = usher_server::Config::for_tests(ADMIN_PW, "bench-control-pw", "bench-client-pw");
    config.server.name = name.into();
    config.cluster = Some(ClusterSection { url: nats.into(), ..ClusterSection::default() });
    usher_server::start(config).await
}

fn median_us(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

async fn timed_gets(admin: &Session, id: usher_core::SessionId, ops: usize) -> anyhow::Result<f64> {
    let mut lat = Vec::with_capacity(ops);
    for _ in 0..ops {
        let t = Instant::now();
        admin.clients().get_session_properties(id, ["$ServerName"]).await?;
        lat.push(t.elapsed().as_secs_f64() * 1e6);
    }
    Ok(median_us(lat))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = args()?;
    let (_nats, nats_url) = start_nats()?;
    let mut servers = Vec::new();
    for name in ["a", "b", "c"] {
        servers.push(start_server(name, &nats_url).await?);
    }
    let urls: Vec<String> = servers.iter().map(|s| s.url().to_owned()).collect();
    let admin = Session::connect(ConnectOptions::new(&urls[0]).principal("admin").password(ADMIN_PW)).await?;
    // Wait until a sees b and c.
    let until = Instant::now() + Duration::from_secs(10);
    while admin.clients().count_detailed("all").await.map(|r| r.per_server.len()).unwrap_or(0) < 3 {
        if Instant::now() > until {
            bail!("the cluster did not form");
        }
        tokio::time::sleep(Duration::from_millis(20)).await; // polling a condition
    }
    let local = Session::connect(ConnectOptions::new(&urls[0])).await?;
    let remote = Session::connect(ConnectOptions::new(&urls[1])).await?;
    // Warm-up: connections, caches.
    timed_gets(&admin, local.id(), args.ops.min(200)).await?;
    timed_gets(&admin, remote.id(), args.ops.min(200)).await?;

    let mut added = Vec::new();
    let mut closes = Vec::new();
    for run in 0..args.runs {
        let l = timed_gets(&admin, local.id(), args.ops).await?;
        let r = timed_gets(&admin, remote.id(), args.ops).await?;
        added.push(r - l);
        eprintln!("run {run}: local p50 {l:.0} us, routed p50 {r:.0} us");

        let tag = format!("run{run}");
        let mut tagged = Vec::new();
        for url in &urls {
            for chunk in 0..args.sessions.div_ceil(100) {
                let n = 100.min(args.sessions - chunk * 100);
                let batch = (0..n).map(|_| Session::connect(ConnectOptions::new(url).property("grp", &tag)));
                for s in join_all(batch).await {
                    tagged.push(s?);
                }
            }
        }
        let t = Instant::now();
        let result = admin.clients().close_detailed(format!("grp is '{tag}'")).await?;
        closes.push(t.elapsed().as_secs_f64() * 1e3);
        if result.total != (3 * args.sessions) as u64 {
            bail!("close(filter) closed {} of {}", result.total, 3 * args.sessions);
        }
        drop(tagged);
    }
    let p10 = Summary::of(&added).context("no runs")?;
    let close = Summary::of(&closes).context("no runs")?;
    println!("{}", p10.line("BENCH", "P10", "cluster_routed_added_latency", "us"));
    println!("{} (3 x {} sessions)", close.line("INFO", "", "cluster_close_filter", "ms"), args.sessions);
    for s in servers {
        s.shutdown().await;
    }
    Ok(())
}
