//! `soak`: runs the soak workload (`usher_bench::soak`) against its own
//! `usher-server` for `--duration`, printing once per `--interval` the
//! server's RSS, open descriptors, live sessions and the operations of that
//! interval; then a verdict comparing the first reading with the last.
//!
//! ```text
//! soak [--duration 10m] [--interval 60s] [--churners 200] [--consumers 10] [--server-log FILE]
//! ```
//!
//! Flat means: RSS within 10% or 8 MiB of the first reading (whichever is
//! larger; an allocator keeps freed pages and the sessions alive at the two
//! moments differ), descriptors within 10% or 50 (each live session holds
//! one, and the population churns), and the server alive and still doing
//! work in the last interval. Exits non-zero otherwise. The first reading is
//! taken one interval in, after the workload has warmed up.

use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use usher_bench::server::{CONTROL_PASSWORD, ServerProcess, default_binary};
use usher_bench::soak::{Shape, Soak};
use usher_core::client::{ConnectOptions, Session};

/// `90`, `90s`, `15m`, `1h` → a duration.
fn duration(text: &str) -> anyhow::Result<Duration> {
    let (number, unit) = text.split_at(text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len()));
    let n: u64 = number.parse().with_context(|| format!("not a duration: {text}"))?;
    Ok(Duration::from_secs(match unit {
        "" | "s" => n,
        "m" => n * 60,
        "h" => n * 3600,
        _ => bail!("not a duration: {text} (use s, m or h)"),
    }))
}

/// The server's configuration: the defaults, the `control` principal, and
/// a 16 KiB `SO_SNDBUF` on the listener, so a stalled consumer's backlog
/// collects in its queue (where thresholds apply) rather than in a kernel
/// buffer autotuned to megabytes.
fn write_config() -> anyhow::Result<std::path::PathBuf> {
    let dir = std::env::temp_dir().join(format!("usher-soak-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let hash = usher_server::hash_password(CONTROL_PASSWORD)?;
    let store = format!(
        "[anonymous]\nroles = [\"CLIENT\"]\n[principals.control]\npassword_hash = \"{hash}\"\nroles = [\"CLIENT_CONTROL\", \"TOPIC_CONTROL\"]\n"
    );
    std::fs::write(dir.join("store.toml"), store)?;
    let config = "[server]\nname = \"soak\"\n[[listeners]]\nname = \"default\"\nsend_buffer_bytes = 16384\n[security]\nstore = \"store.toml\"\n";
    std::fs::write(dir.join("usher.toml"), config)?;
    Ok(dir.join("usher.toml"))
}

struct Reading {
    at: Duration,
    rss: u64,
    fds: u64,
    sessions: u64,
    ops: u64,
}

fn flat(first: &Reading, last: &Reading) -> Vec<String> {
    let mut problems = Vec::new();
    let rss_limit = first.rss + (first.rss / 10).max(8 << 20);
    if last.rss > rss_limit {
        problems.push(format!(
            "RSS grew from {} to {} KiB (limit {} KiB)",
            first.rss >> 10,
            last.rss >> 10,
            rss_limit >> 10
        ));
    }
    let fd_slack = (first.fds / 10).max(50);
    if last.fds.abs_diff(first.fds) > fd_slack {
        problems.push(format!("descriptors went from {} to {} (±{fd_slack})", first.fds, last.fds));
    }
    if last.ops == 0 {
        problems.push("no operations in the last interval".into());
    }
    problems
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let (mut total, mut interval, mut churners, mut consumers, mut log) =
        (Duration::from_secs(600), Duration::from_secs(60), 200, 10, None);
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut value = || it.next().with_context(|| format!("{a} needs a value"));
        match a.as_str() {
            "--duration" => total = duration(value()?)?,
            "--interval" => interval = duration(value()?)?,
            "--churners" => churners = value()?.parse()?,
            "--consumers" => consumers = value()?.parse()?,
            "--server-log" => log = Some(std::path::PathBuf::from(value()?)),
            other => bail!("unknown argument {other:?} (see the usage in the source's header)"),
        }
    }
    if interval.is_zero() || total < interval * 2 {
        bail!("--duration must be at least two intervals");
    }
    let config = write_config()?;
    let mut server = ServerProcess::start_with_args(
        &default_binary()?,
        log.as_deref(),
        &["--config".as_ref(), config.as_os_str()],
    )?;
    let soak = Soak::start(server.url(), Shape { churners, consumers }).await?;
    // A session of its own to count the live sessions with.
    let options = ConnectOptions::new(server.url()).principal("control");
    let counter = Session::connect(options.password(CONTROL_PASSWORD)).await?;
    println!(
        "soak: {churners} churners, {consumers} slow consumers for {total:?}, a reading every {interval:?}"
    );
    let started = Instant::now();
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + interval, interval);
    let mut readings: Vec<Reading> = Vec::new();
    while started.elapsed() + interval / 2 < total {
        tick.tick().await;
        if let Some(status) = server.exited() {
            bail!("soak: FAIL: the server exited ({status})");
        }
        let counts = soak.counters.take();
        let ops: u64 = counts
            .iter()
            .filter(|(k, _)| matches!(*k, "connects" | "control_ops" | "updates"))
            .map(|(_, v)| v)
            .sum();
        let sessions = counter.clients().count("all").await.context("counting sessions")?;
        let r = Reading {
            at: started.elapsed(),
            rss: server.rss_bytes()?,
            fds: server.open_fds()? as u64,
            sessions,
            ops,
        };
        let detail: Vec<String> = counts.iter().map(|(k, v)| format!("{k}={v}")).collect();
        println!(
            "SOAK t={:.0}s rss={} KiB fds={} sessions={} ops={} ({})",
            r.at.as_secs_f64(),
            r.rss >> 10,
            r.fds,
            r.sessions,
            r.ops,
            detail.join(" ")
        );
        readings.push(r);
    }
    soak.stop();
    let (Some(first), Some(last)) = (readings.first(), readings.last()) else { bail!("no readings") };
    let problems = flat(first, last);
    let verdict = if problems.is_empty() { "FLAT" } else { "NOT FLAT" };
    println!(
        "soak: {verdict}: RSS {} -> {} KiB, fds {} -> {}, sessions {} -> {}, ops/interval {} -> {} (t={:.0}s -> {:.0}s){}",
        first.rss >> 10,
        last.rss >> 10,
        first.fds,
        last.fds,
        first.sessions,
        last.sessions,
        first.ops,
        last.ops,
        first.at.as_secs_f64(),
        last.at.as_secs_f64(),
        problems.iter().map(|p| format!("\n  {p}")).collect::<String>()
    );
    if let Some(status) = server.exited() {
        bail!("soak: FAIL: the server exited ({status})");
    }
    if !problems.is_empty() {
        std::process::exit(1);
    }
    Ok(())
}
