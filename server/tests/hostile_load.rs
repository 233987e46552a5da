//! Hostile clients under load (issue #10, SPEC §6, §8), against the real
//! `usher-server` binary so its memory and descriptors can be read from
//! `/proc`.
//!
//! 1,000 well-behaved sessions run control operations continuously (each
//! one a paced loop of setSessionProperties, getSessionProperties, count,
//! changeRoles and fetchSessions on itself and its group, every answer
//! checked) while every attacker of [`attacks`] runs at once. Then:
//! - the server is still running, and never logged a panic;
//! - every attacker was refused (`Reject`, an error reply) or closed, with
//!   the reason the server gave seen by a session-event listener;
//! - no well-behaved session lost a request (each answered, correctly,
//!   within [`REQUEST_DEADLINE`]) or was closed;
//! - the server's RSS comes back to within [`rss_tolerance`] of the
//!   baseline taken before the attack, and its descriptors to the baseline.

#[path = "hostile_load/attacks.rs"]
mod attacks;
#[path = "hostile_load/monitor.rs"]
mod monitor;
mod support;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use support::process::ServerProcess;
use support::*;
use usher_core::SessionId;
use usher_core::protocol::{FetchRequest, Reply, Request};

/// Well-behaved sessions.
const SESSIONS: usize = 1_000;
/// They are spread over this many groups (`Group='g0'`…), so a count by
/// group has a known answer.
const GROUPS: usize = 10;
/// Each well-behaved session starts one operation per PACE (pacing, not
/// synchronisation: it keeps the load steady, about 1,000 ops/s offered).
const PACE: Duration = Duration::from_secs(1);
/// How long a well-behaved request may take before it counts as lost. Long,
/// because this is a debug build on two shared cores while 1,000 argon2
/// verifications run; the test prints the slowest one seen.
const REQUEST_DEADLINE: Duration = Duration::from_secs(30);

/// Every bound at its default but one: the listener's `SO_SNDBUF`. The
/// kernel autotunes a send buffer up to 4 MiB here, so a client that never
/// reads gets ~55,000 replies parked in the kernel before its queue even
/// starts to fill; a debug server under this load takes minutes to produce
/// them. With 256 KiB the request burst meets the same bounds (queue depth,
/// requests in flight) after a few thousand requests.
const CONFIG: &str =
    "[server]\nname = \"hostile\"\n\n[[listeners]]\nname = \"default\"\nsend_buffer_bytes = 262144\n";

/// The store: anonymous sessions get CLIENT + CLIENT_CONTROL, so they can
/// run control operations on each other without a password each (1,000
/// argon2 logins would dominate the run); `admin` watches; `control` is the
/// principal the password guesser attacks. Its hash is argon2id with a
/// small cost (1 MiB, one pass): the attack is about how the server refuses
/// 1,000 wrong passwords (bounded pool, no leak, nobody else starved), and
/// at the default cost (19 MiB, two passes) the 1,000 verifications alone
/// take 20 to 60 CPU-seconds on this shared 2-core machine.
fn store() -> anyhow::Result<String> {
    use argon2::password_hash::{PasswordHasher, SaltString};
    let params = argon2::Params::new(1024, 1, 1, None).map_err(|e| anyhow::anyhow!("{e}"))?;
    let cheap = argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
    let salt = SaltString::encode_b64(b"hostile-load-salt").map_err(|e| anyhow::anyhow!("{e}"))?;
    let control = cheap.hash_password(CONTROL_PW.as_bytes(), &salt).map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(format!(
        "[anonymous]\nroles = [\"CLIENT\", \"CLIENT_CONTROL\"]\n\
         [principals.admin]\npassword_hash = \"{}\"\nroles = [\"ADMINISTRATOR\"]\n\
         [principals.control]\npassword_hash = \"{control}\"\nroles = [\"CLIENT_CONTROL\", \"TOPIC_CONTROL\"]\n",
        usher_server::hash_password(ADMIN_PW)?,
    ))
}

/// Every attacker runs this many times, one round after the other: memory
/// the allocator merely keeps for reuse is reused by the second round,
/// while a leak grows with every round.
const ROUNDS: usize = 2;

/// What the RSS may still be above the baseline once the attackers are
/// gone: 16 MiB or 25% of the baseline, whichever is larger. Measured here
/// (debug build, baseline 36–37.5 MiB): 8 to 10 MiB above it after the
/// attack, in runs of one, two and three rounds alike (45.4, 55.5 and
/// 46.8 MiB after three rounds, settling at 44.9 MiB). That is the allocator
/// keeping freed pages for reuse (mimalloc) and tokio and the registry's
/// maps keeping the capacity they grew to; later rounds do not add to it.
/// A leak of 3.2 KiB or more per attacker connection (about 5,200 over the
/// two rounds) fails it.
fn rss_tolerance(baseline: u64) -> u64 {
    (16 << 20).max(baseline / 4)
}

/// What the well-behaved sessions did and what went wrong for them.
#[derive(Debug, Default)]
struct Load {
    ops: AtomicU64,
    slowest_ms: AtomicU64,
    stop: AtomicBool,
    failures: std::sync::Mutex<Vec<String>>,
}

impl Load {
    fn fail(&self, what: String) {
        self.failures.lock().expect("not poisoned").push(what);
    }
}

async fn well_behaved(mut c: Client, group: usize, load: Arc<Load>) {
    c.read_deadline = REQUEST_DEADLINE;
    let me = c.id();
    let mut tick = tokio::time::interval(PACE);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut n = 0u64;
    while !load.stop.load(Ordering::Relaxed) {
        tick.tick().await;
        let started = Instant::now();
        if let Err(e) = one_op(&mut c, me, group, n).await {
            // Once stopping, sessions that already left change the counts.
            if !load.stop.load(Ordering::Relaxed) {
                load.fail(format!("session {me} op {n}: {e:#}"));
            }
            return;
        }
        load.slowest_ms.fetch_max(started.elapsed().as_millis() as u64, Ordering::Relaxed);
        load.ops.fetch_add(1, Ordering::Relaxed);
        n += 1;
    }
    if let Some(reason) = c.closed {
        load.fail(format!("session {me} was closed: {reason:?}"));
    }
}

/// One operation, its answer checked.
async fn one_op(c: &mut Client, me: SessionId, group: usize, n: u64) -> anyhow::Result<()> {
    let in_group = format!("Kind is 'good' and Group is 'g{group}'");
    match n % 5 {
        0 => {
            let properties = BTreeMap::from([("Seq".to_owned(), Some(n.to_string()))]);
            let r =
                c.result(Request::SetSessionProperties { target: me.into(), properties, max_targets: None });
            ensure!(r.await?.total == 1, "set by id acted on another count");
        }
        1 => {
            let seq = c.get_properties(me, &["Seq"]).await?;
            ensure!(seq.get("Seq") == Some(&(n - 1).to_string()), "Seq is {seq:?}, expected {}", n - 1);
        }
        2 => {
            let r = c.result(Request::Count { filter: in_group }).await?;
            ensure!(r.total == (SESSIONS / GROUPS) as u64, "group count {}", r.total);
        }
        3 => {
            let r = c.result(change_roles(me, &[], &["CLIENT"])).await?;
            ensure!(r.total == 1, "changeRoles on itself acted on {}", r.total);
        }
        _ => {
            let fetch =
                FetchRequest { filter: in_group, keys: vec!["Group".into()], limit: Some(5), cursor: None };
            let Reply::Sessions(page) = c.ok(Request::FetchSessions(fetch)).await? else {
                bail!("fetchSessions answered something else");
            };
            ensure!(page.total == (SESSIONS / GROUPS) as u64 && page.sessions.len() == 5, "page {page:?}");
        }
    }
    Ok(())
}

/// Polls `read` until it is at most `limit` or `deadline` passes; returns
/// the last reading.
async fn settles(
    read: impl Fn() -> anyhow::Result<u64>,
    limit: u64,
    deadline: Duration,
) -> anyhow::Result<u64> {
    let until = Instant::now() + deadline;
    loop {
        let now = read()?;
        if now <= limit || Instant::now() > until {
            return Ok(now);
        }
        // Polling /proc with a deadline: there is no event for "memory freed".
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attackers_under_load_leave_the_server_and_its_sessions_unharmed() -> anyhow::Result<()> {
    let began = Instant::now();
    let mut server = ServerProcess::start("hostile-load", CONFIG, Some(&store()?)).await?;
    let url = server.url.clone();

    // The watcher: every attacker's and every well-behaved session's close.
    let monitor = Arc::new(monitor::Monitor::start(&url).await?);

    // Every session connects before any starts, so a count by group is exact.
    let mut sessions = Vec::with_capacity(SESSIONS);
    for chunk in 0..SESSIONS / 100 {
        let opened = futures_util::future::try_join_all((0..100).map(|k| {
            let (url, group) = (url.clone(), (chunk * 100 + k) % GROUPS);
            async move {
                let g = format!("g{group}");
                Ok::<_, anyhow::Error>((anonymous(&url, &[("Kind", "good"), ("Group", &g)]).await?, group))
            }
        }))
        .await?;
        sessions.extend(opened);
    }
    let load = Arc::new(Load::default());
    let tasks: Vec<_> =
        sessions.into_iter().map(|(c, g)| tokio::spawn(well_behaved(c, g, load.clone()))).collect();
    // Warm-up: every session has run a full cycle of operations.
    let until = Instant::now() + Duration::from_secs(60);
    while load.ops.load(Ordering::Relaxed) < (SESSIONS * 5) as u64 {
        let first = load.failures.lock().expect("not poisoned").first().cloned();
        ensure!(Instant::now() < until && first.is_none(), "the load did not warm up: {first:?}");
        tokio::time::sleep(Duration::from_millis(100)).await; // polling a counter with a deadline
    }
    let (rss0, fds0, ops0) = (server.rss_bytes()?, server.open_fds()?, load.ops.load(Ordering::Relaxed));
    let setup = began.elapsed();

    let attack_began = Instant::now();
    let mut report = String::new();
    for round in 1..=ROUNDS {
        report = attacks::run_all(&url, &monitor).await.context("an attacker was not handled")?;
        println!("hostile_load: after round {round}, RSS {} KiB", server.rss_bytes()? >> 10);
    }
    let attack = attack_began.elapsed();
    let ops_during = load.ops.load(Ordering::Relaxed) - ops0;
    let rss_after = server.rss_bytes()?;

    // Memory and descriptors back to the baseline, load still running.
    let rss_limit = rss0 + rss_tolerance(rss0);
    let rss1 = settles(|| server.rss_bytes(), rss_limit, Duration::from_secs(30)).await?;
    let fds1 = settles(|| Ok(server.open_fds()? as u64), fds0 as u64, Duration::from_secs(15)).await?;

    // Before the load stops: a well-behaved client that ends drops its socket.
    let good_closed = monitor.good_closed();
    load.stop.store(true, Ordering::Relaxed);
    for t in tasks {
        t.await?;
    }
    let failures = load.failures.lock().expect("not poisoned").clone();
    println!(
        "hostile_load: setup {setup:.1?}, attack {attack:.1?}; {} well-behaved ops ({ops_during} during the attack), \
         slowest {} ms; RSS {} -> {} after the attack -> {} KiB (limit {} KiB); fds {fds0} -> {fds1}\n{report}",
        load.ops.load(Ordering::Relaxed),
        load.slowest_ms.load(Ordering::Relaxed),
        rss0 >> 10,
        rss_after >> 10,
        rss1 >> 10,
        rss_limit >> 10,
    );
    ensure!(good_closed.is_empty(), "well-behaved sessions were closed: {good_closed:?}");
    ensure!(failures.is_empty(), "{} well-behaved failures, first: {:?}", failures.len(), failures.first());
    ensure!(ops_during > 0, "no well-behaved operation completed during the attack");
    ensure!(rss1 <= rss_limit, "RSS stayed at {} KiB, baseline {} KiB", rss1 >> 10, rss0 >> 10);
    ensure!(fds1 <= fds0 as u64, "descriptors stayed at {fds1}, baseline {fds0}");
    ensure!(server.exited()?.is_none(), "the server exited");
    let log = server.log();
    ensure!(!log.contains("panicked"), "the server panicked:\n{log}");
    drop(monitor);
    let status = server.stop().await?;
    ensure!(status.success(), "the server exited with {status}");
    Ok(())
}
