//! The coordinator's side of the load generator: a fleet of worker
//! processes ([`crate::worker`]), each the bench binary re-executed as
//! `usher-bench worker`, each bound to its own 127.0.0.x source address
//! (127.0.0.2, .3, …), each holding at most [`PER_WORKER`] sessions (one
//! process may hold at most 20,000 file descriptors here).

use std::io::{BufRead, BufReader, Lines, Write};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

use anyhow::{Context, bail};

/// Most sessions one worker holds.
pub const PER_WORKER: usize = 5_000;

/// How sessions opened.
#[derive(Debug, Clone, Copy, Default)]
pub struct Opened {
    /// Sessions welcomed.
    pub ok: u64,
    /// Sessions refused or failed.
    pub failed: u64,
    /// When the first worker started (monotonic ns).
    pub start_ns: u64,
    /// When the last session of the last worker was welcomed (monotonic ns).
    pub end_ns: u64,
}

/// Closes seen by the fleet's clients.
#[derive(Debug, Clone, Copy, Default)]
pub struct Closes {
    /// Tagged (`Half='yes'`) sessions that saw their close.
    pub tagged: u64,
    /// Untagged sessions that saw a close.
    pub untagged: u64,
    /// When the last tagged session saw its close (monotonic ns; 0 if none).
    pub last_ns: u64,
}

struct Worker {
    child: Child,
    stdin: ChildStdin,
    stdout: Lines<BufReader<ChildStdout>>,
    /// Sessions it was asked to open so far.
    sessions: u64,
    /// Of those, tagged ones.
    tagged: u64,
}

impl Worker {
    fn send(&mut self, line: &str) -> anyhow::Result<()> {
        writeln!(self.stdin, "{line}").context("writing to a worker")?;
        self.stdin.flush().context("writing to a worker")
    }

    fn answer(&mut self, expect: &str) -> anyhow::Result<Vec<u64>> {
        let line = self.stdout.next().context("a worker exited")?.context("reading a worker")?;
        let mut words = line.split_whitespace();
        if words.next() != Some(expect) {
            bail!("worker answered {line:?}, expected {expect}");
        }
        words.map(|w| w.parse().with_context(|| format!("in {line:?}"))).collect()
    }
}

/// A fleet of worker processes.
pub struct Fleet {
    workers: Vec<Worker>,
    next_index: u64,
}

impl std::fmt::Debug for Fleet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fleet").field("workers", &self.workers.len()).finish()
    }
}

impl Fleet {
    /// Starts enough workers for `sessions` (at least `min_workers`).
    pub fn spawn(url: &str, sessions: usize, min_workers: usize) -> anyhow::Result<Self> {
        let n = sessions.div_ceil(PER_WORKER).max(min_workers).max(1);
        if n > 200 {
            bail!("{n} workers is too many");
        }
        let exe = std::env::current_exe().context("locating the bench binary")?;
        let mut workers = Vec::with_capacity(n);
        for k in 0..n {
            let source = format!("127.0.0.{}", 2 + k);
            let mut child = Command::new(&exe)
                .args(["worker", url, &source, &k.to_string()])
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::inherit())
                .spawn()
                .context("starting a worker")?;
            let stdin = child.stdin.take().context("worker stdin")?;
            let stdout = BufReader::new(child.stdout.take().context("worker stdout")?).lines();
            workers.push(Worker { child, stdin, stdout, sessions: 0, tagged: 0 });
        }
        Ok(Self { workers, next_index: 0 })
    }

    /// Worker process ids (to read their CPU time).
    pub fn pids(&self) -> Vec<u32> {
        self.workers.iter().map(|w| w.child.id()).collect()
    }

    /// Opens `total` sessions spread evenly over the workers, at most
    /// `concurrency` connecting at once per worker; half are tagged.
    pub fn open(
        &mut self,
        total: usize,
        concurrency: usize,
        credentials: Option<(&str, &str)>,
    ) -> anyhow::Result<Opened> {
        let n = self.workers.len();
        let creds = credentials.map(|(p, pw)| format!(" {p} {pw}")).unwrap_or_default();
        for (k, w) in self.workers.iter_mut().enumerate() {
            let count = (total / n + usize::from(k < total % n)) as u64;
            let first = self.next_index;
            w.send(&format!("open {count} {first} {concurrency}{creds}"))?;
            w.sessions += count;
            w.tagged += (first..first + count).filter(|g| g.is_multiple_of(2)).count() as u64;
            self.next_index += count;
        }
        let mut out = Opened { start_ns: u64::MAX, ..Opened::default() };
        for w in &mut self.workers {
            let a = w.answer("opened")?;
            let [ok, failed, start, end] = a[..] else { bail!("bad opened answer") };
            out.ok += ok;
            out.failed += failed;
            out.start_ns = out.start_ns.min(start);
            out.end_ns = out.end_ns.max(end);
        }
        Ok(out)
    }

    /// User + system CPU time of every worker so far, seconds.
    pub fn cpu_seconds(&self) -> f64 {
        self.pids().into_iter().filter_map(|p| crate::server::cpu_seconds(p).ok()).sum()
    }

    /// How many tagged sessions the fleet opened so far.
    pub fn tagged(&self) -> u64 {
        self.workers.iter().map(|w| w.tagged).sum()
    }

    /// Waits (at most `timeout_ms`) until every tagged session has seen its
    /// close, and reports.
    pub fn await_tagged_closes(&mut self, timeout_ms: u64) -> anyhow::Result<Closes> {
        for w in &mut self.workers {
            let expected = w.tagged;
            w.send(&format!("closes {expected} {timeout_ms}"))?;
        }
        let mut out = Closes::default();
        for w in &mut self.workers {
            let a = w.answer("closes")?;
            let [tagged, untagged, _first, last] = a[..] else { bail!("bad closes answer") };
            out.tagged += tagged;
            out.untagged += untagged;
            out.last_ns = out.last_ns.max(last);
        }
        Ok(out)
    }

    /// Closes every session's socket (the workers stay).
    pub fn drop_sessions(&mut self) -> anyhow::Result<()> {
        for w in &mut self.workers {
            w.send("drop")?;
            w.sessions = 0;
            w.tagged = 0;
        }
        for w in &mut self.workers {
            w.answer("dropped")?;
        }
        Ok(())
    }
}

impl Drop for Fleet {
    fn drop(&mut self) {
        for w in &mut self.workers {
            let _ = w.send("quit");
        }
        for w in &mut self.workers {
            // A worker exits on `quit`; kill one that does not.
            for _ in 0..50 {
                if matches!(w.child.try_wait(), Ok(Some(_))) {
                    break;
                }
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            let _ = w.child.kill();
            let _ = w.child.wait();
        }
    }
}
