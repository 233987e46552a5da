//! One `usher-server` process per scenario: started from the release (or,
//! for the smoke run, debug) binary next to the bench binary with
//! `--listen 127.0.0.1:0` and fixed passwords, found by its
//! `usher-server listening on ws://…` line, measured through `/proc`, and
//! killed when dropped.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use anyhow::{Context, bail};

/// The password of the `control` principal (CLIENT_CONTROL, TOPIC_CONTROL).
pub const CONTROL_PASSWORD: &str = "bench-control-password";
/// The password of the `client` principal (CLIENT).
pub const CLIENT_PASSWORD: &str = "bench-client-password";
/// The password of the `admin` principal.
pub const ADMIN_PASSWORD: &str = "bench-admin-password";

/// How long a server may take to print its listening line.
const START_TIMEOUT: Duration = Duration::from_secs(20);

/// The `usher-server` binary: `USHER_SERVER_BIN`, else next to this program.
pub fn default_binary() -> anyhow::Result<PathBuf> {
    if let Some(p) = std::env::var_os("USHER_SERVER_BIN") {
        return Ok(PathBuf::from(p));
    }
    let exe = std::env::current_exe().context("locating the bench binary")?;
    let dir = exe.parent().context("the bench binary has no directory")?;
    let bin = dir.join("usher-server");
    if !bin.exists() {
        bail!("{} not found: build it (cargo build [--release] -p usher-server)", bin.display());
    }
    Ok(bin)
}

/// A running server process.
#[derive(Debug)]
pub struct ServerProcess {
    child: Child,
    url: String,
}

impl ServerProcess {
    /// Starts `binary` on a free port of 127.0.0.1 and waits for its
    /// listening line. Its log (stderr) goes to `log` when given, else to
    /// `/dev/null`; `RUST_LOG` is passed through unchanged.
    pub fn start(binary: &Path, log: Option<&Path>) -> anyhow::Result<Self> {
        Self::start_with_args(binary, log, &[])
    }

    /// As [`ServerProcess::start`], with more arguments (e.g. `--config FILE`).
    pub fn start_with_args(
        binary: &Path,
        log: Option<&Path>,
        args: &[&std::ffi::OsStr],
    ) -> anyhow::Result<Self> {
        Self::start_with(binary, log, args, &[])
    }

    /// As [`ServerProcess::start_with_args`], with more environment.
    pub fn start_with(
        binary: &Path,
        log: Option<&Path>,
        args: &[&std::ffi::OsStr],
        envs: &[(&str, &str)],
    ) -> anyhow::Result<Self> {
        let stderr = match log {
            Some(p) => Stdio::from(std::fs::File::create(p).with_context(|| format!("{}", p.display()))?),
            None => Stdio::null(),
        };
        let mut child = Command::new(binary)
            .args(["--listen", "127.0.0.1:0"])
            .args(args)
            .env("USHER_ADMIN_PASSWORD", ADMIN_PASSWORD)
            .env("USHER_CONTROL_PASSWORD", CONTROL_PASSWORD)
            .env("USHER_CLIENT_PASSWORD", CLIENT_PASSWORD)
            .envs(envs.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .with_context(|| format!("starting {}", binary.display()))?;
        let stdout = child.stdout.take().context("server stdout")?;
        let (tx, rx) = mpsc::channel();
        // Reads stdout to its end, so the server never writes to a closed pipe.
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(url) = line.strip_prefix("usher-server listening on ") {
                    let _ = tx.send(url.trim().to_owned());
                }
            }
        });
        let url = match rx.recv_timeout(START_TIMEOUT) {
            Ok(url) => url,
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                bail!("the server printed no listening line within {START_TIMEOUT:?}");
            }
        };
        Ok(Self { child, url })
    }

    /// `ws://127.0.0.1:PORT`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Resident memory now (VmRSS), bytes.
    pub fn rss_bytes(&self) -> anyhow::Result<u64> {
        rss_bytes(self.pid())
    }

    /// Open file descriptors (entries of `/proc/PID/fd`).
    pub fn open_fds(&self) -> anyhow::Result<usize> {
        Ok(std::fs::read_dir(format!("/proc/{}/fd", self.pid()))?.count())
    }

    /// `Some` once the process has exited (it should not have).
    pub fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// User + system CPU time so far, seconds.
    pub fn cpu_seconds(&self) -> anyhow::Result<f64> {
        cpu_seconds(self.pid())
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// VmRSS of a process, bytes.
pub fn rss_bytes(pid: u32) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).context("no VmRSS line")?;
    let kb: u64 = line.split_whitespace().nth(1).context("VmRSS value")?.parse()?;
    Ok(kb * 1024)
}

/// User + system CPU time of a process (all its threads, living and
/// exited), seconds, read from its CPU-time clock at nanosecond resolution
/// (`/proc/PID/stat` counts 10 ms ticks, too coarse for a 40 ms window).
pub fn cpu_seconds(pid: u32) -> anyhow::Result<f64> {
    let mut clock: libc::clockid_t = 0;
    // SAFETY: `clock` is a live clockid_t the call writes.
    let rc = unsafe { libc::clock_getcpuclockid(pid as libc::pid_t, &mut clock) };
    if rc != 0 {
        return Err(std::io::Error::from_raw_os_error(rc)).context("clock_getcpuclockid");
    }
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `ts` is a live timespec the call writes.
    if unsafe { libc::clock_gettime(clock, &mut ts) } != 0 {
        return Err(std::io::Error::last_os_error()).context("clock_gettime of a process CPU clock");
    }
    Ok(ts.tv_sec as f64 + ts.tv_nsec as f64 / 1e9)
}
