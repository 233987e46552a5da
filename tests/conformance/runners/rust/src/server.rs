//! Starts a real `usher-server` for one scenario, as the bindings' test
//! helpers do: the workspace's debug binary, `--listen 127.0.0.1:0`, the
//! embedded principals' passwords set, the URL read from its listening line
//! within a deadline.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context, bail};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// A running server; dropping it kills the process.
#[derive(Debug)]
pub struct Server {
    /// `ws://127.0.0.1:PORT`.
    pub url: String,
    /// The password of each embedded principal.
    pub passwords: HashMap<String, String>,
    child: Child,
}

/// `$USHER_SERVER`, else `usher-server` in the target directory's debug profile.
pub(crate) fn binary() -> PathBuf {
    if let Some(path) = std::env::var_os("USHER_SERVER") {
        return PathBuf::from(path);
    }
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../..");
    let target =
        std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|| root.join("target"));
    target.join("debug").join("usher-server")
}

impl Server {
    /// Starts the server and waits (30 s at most) for its listening line.
    pub async fn start() -> anyhow::Result<Server> {
        let nonce = std::process::id() ^ (std::time::UNIX_EPOCH.elapsed()?.subsec_nanos());
        let passwords: HashMap<String, String> = ["admin", "control", "client"]
            .iter()
            .map(|p| (p.to_string(), format!("{p}-{nonce:x}-pw")))
            .collect();
        let mut command = Command::new(binary());
        command
            .args(["--listen", "127.0.0.1:0"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        command.kill_on_drop(true);
        for (principal, password) in &passwords {
            command.env(format!("USHER_{}_PASSWORD", principal.to_uppercase()), password);
        }
        let mut child = command.spawn().with_context(|| format!("starting {}", binary().display()))?;
        let stdout = child.stdout.take().context("no stdout")?;
        let mut lines = BufReader::new(stdout).lines();
        let url = tokio::time::timeout(Duration::from_secs(30), async {
            while let Some(line) = lines.next_line().await? {
                if let Some(url) = line.strip_prefix("usher-server listening on ") {
                    return Ok(url.trim().to_owned());
                }
            }
            bail!("usher-server exited before its listening line")
        })
        .await
        .context("no listening line within 30 s")??;
        // Keep reading stdout so the server never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Ok(Server { url, passwords, child })
    }

    /// Ends the server.
    pub async fn stop(mut self) {
        let _ = self.child.start_kill();
        let _ = self.child.wait().await;
    }
}
