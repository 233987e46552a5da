//! The real `usher-server` binary as a child process, for tests that read
//! its memory and file descriptors from `/proc` or must see that it survived
//! everything thrown at it: started on `--listen 127.0.0.1:0` with a config
//! file, found by its listening line, its log kept in a file so a test can
//! search it for panics afterwards.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::Duration;

use anyhow::{Context, bail};

/// A running `usher-server`; killed when dropped.
#[derive(Debug)]
pub struct ServerProcess {
    child: Child,
    /// `ws://127.0.0.1:PORT`.
    pub url: String,
    log: PathBuf,
}

impl ServerProcess {
    /// Writes `usher.toml` and `store.toml` (when given, referenced as the
    /// security store) into a fresh directory named after `tag`, starts the
    /// binary on them with `RUST_LOG=warn` and waits for its listening line.
    pub async fn start(tag: &str, config: &str, store: Option<&str>) -> anyhow::Result<Self> {
        let dir = std::env::temp_dir().join(format!("usher-{tag}-{}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        let mut text = config.to_owned();
        if let Some(store) = store {
            std::fs::write(dir.join("store.toml"), store)?;
            text.push_str("\n[security]\nstore = \"store.toml\"\n");
        }
        std::fs::write(dir.join("usher.toml"), text)?;
        let log = dir.join("server.log");
        let mut child = Command::new(env!("CARGO_BIN_EXE_usher-server"))
            .arg("--config")
            .arg(dir.join("usher.toml"))
            .args(["--listen", "127.0.0.1:0"])
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(std::fs::File::create(&log)?))
            .spawn()?;
        let stdout = child.stdout.take().context("no stdout")?;
        // Reads stdout to its end on its own thread, so the server never
        // writes into a full or closed pipe.
        let (tx, rx) = tokio::sync::oneshot::channel();
        std::thread::spawn(move || {
            let mut tx = Some(tx);
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(url) = line.strip_prefix("usher-server listening on ")
                    && let Some(tx) = tx.take()
                {
                    let _ = tx.send(url.trim().to_owned());
                }
            }
        });
        let Ok(Ok(url)) = tokio::time::timeout(Duration::from_secs(30), rx).await else {
            let _ = child.kill();
            bail!("no listening line; log: {}", std::fs::read_to_string(&log).unwrap_or_default());
        };
        Ok(Self { child, url, log })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// VmRSS, bytes.
    pub fn rss_bytes(&self) -> anyhow::Result<u64> {
        rss_bytes(self.pid())
    }

    /// Open file descriptors (entries of `/proc/PID/fd`).
    pub fn open_fds(&self) -> anyhow::Result<usize> {
        Ok(std::fs::read_dir(format!("/proc/{}/fd", self.pid()))?.count())
    }

    /// `None` while it runs; its exit status once it has exited.
    pub fn exited(&mut self) -> anyhow::Result<Option<ExitStatus>> {
        Ok(self.child.try_wait()?)
    }

    /// Its log (stderr) so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// SIGTERM, then waits (with a deadline) for it to exit.
    pub async fn stop(mut self) -> anyhow::Result<ExitStatus> {
        Command::new("kill").args(["-TERM", &self.pid().to_string()]).status()?;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self.child.try_wait()? {
                return Ok(status);
            }
            if tokio::time::Instant::now() > deadline {
                bail!("the server did not exit within 30 s of SIGTERM");
            }
            // Polling a child's exit with a deadline: std has no async wait.
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
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
    let kb = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .ok_or_else(|| anyhow::anyhow!("no VmRSS"))?;
    Ok(kb * 1024)
}
