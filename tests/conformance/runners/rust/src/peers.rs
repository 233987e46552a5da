//! What one scenario talks to, for the Rust runner: a fresh `usher-server`
//! (most scenarios), or the helper the scenario's `cluster` / `fake_server`
//! asks for (tests/conformance/README.md, "Peers"), started from this same
//! binary exactly as the other runners start it: the helper prints one JSON
//! peer line, then answers one line per command, and ends when its stdin
//! closes.

use std::collections::{BTreeMap, HashMap};
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context, anyhow, bail};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};
use tokio::time::timeout;

use crate::server::Server;

/// A helper's start (NATS and the members included) takes far less.
const START_DEADLINE: Duration = Duration::from_secs(60);
/// A command (SIGSTOP / SIGCONT and the kernel's report) takes far less.
const COMMAND_DEADLINE: Duration = Duration::from_secs(10);

/// The helper's first line: the default URL, every peer's URL by name, the
/// embedded principals' passwords.
#[derive(Debug)]
pub struct PeerLine {
    pub url: String,
    pub urls: BTreeMap<String, String>,
    pub passwords: BTreeMap<String, String>,
}

impl PeerLine {
    pub fn to_json(&self) -> Value {
        json!({"url": self.url, "urls": self.urls, "passwords": self.passwords})
    }

    fn from_json(text: &str) -> anyhow::Result<PeerLine> {
        let v: Value = serde_json::from_str(text).with_context(|| format!("peer line {text:?}"))?;
        let map = |key: &str| -> BTreeMap<String, String> {
            v[key]
                .as_object()
                .map(|o| {
                    o.iter().map(|(k, x)| (k.clone(), x.as_str().unwrap_or_default().to_owned())).collect()
                })
                .unwrap_or_default()
        };
        let url = v["url"].as_str().with_context(|| format!("no url in the peer line {text:?}"))?;
        Ok(PeerLine { url: url.to_owned(), urls: map("urls"), passwords: map("passwords") })
    }
}

/// The helper's arguments for a scenario, `None` when it needs one plain server.
pub fn helper_args(scenario: &Value) -> Option<Vec<String>> {
    if let Some(cluster) = scenario.get("cluster") {
        let mut args = vec!["cluster".to_owned(), "--servers".to_owned(), cluster["servers"].to_string()];
        if let Some(ms) = cluster.get("deadline_ms") {
            args.extend(["--deadline-ms".to_owned(), ms.to_string()]);
        }
        return Some(args);
    }
    (scenario["fake_server"] == true).then(|| vec!["fake-server".to_owned()])
}

struct Helper {
    child: Child,
    stdin: ChildStdin,
    lines: Lines<BufReader<ChildStdout>>,
}

/// The running peers of one scenario.
pub struct Peers {
    /// Where a session without `url` connects.
    pub url: String,
    /// Each peer's URL by name (`{url:NAME}`); empty for a plain server.
    pub urls: HashMap<String, String>,
    /// The password of each embedded principal.
    pub passwords: HashMap<String, String>,
    server: Option<Server>,
    helper: Option<Helper>,
}

impl std::fmt::Debug for Peers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Peers").field("url", &self.url).field("urls", &self.urls).finish_non_exhaustive()
    }
}

impl Peers {
    /// Starts what `scenario` needs and waits until it is ready.
    pub async fn start(scenario: &Value) -> anyhow::Result<Peers> {
        let Some(args) = helper_args(scenario) else {
            let server = Server::start().await?;
            let (url, passwords) = (server.url.clone(), server.passwords.clone());
            return Ok(Peers { url, urls: HashMap::new(), passwords, server: Some(server), helper: None });
        };
        let exe = std::env::current_exe()?;
        let mut child = Command::new(&exe)
            .args(&args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting {} {}", exe.display(), args.join(" ")))?;
        let stdin = child.stdin.take().context("no stdin")?;
        let mut lines = BufReader::new(child.stdout.take().context("no stdout")?).lines();
        let first = timeout(START_DEADLINE, lines.next_line())
            .await
            .map_err(|_| anyhow!("{args:?}: no peer line within {START_DEADLINE:?}"))??
            .ok_or_else(|| anyhow!("{args:?} exited before its peer line (its stderr is above)"))?;
        let line = PeerLine::from_json(&first)?;
        Ok(Peers {
            url: line.url,
            urls: line.urls.into_iter().collect(),
            passwords: line.passwords.into_iter().collect(),
            server: None,
            helper: Some(Helper { child, stdin, lines }),
        })
    }

    /// Sends one command to the helper and returns its answer, which must
    /// be `expected`.
    pub async fn command(&mut self, command: &str, expected: &str) -> anyhow::Result<()> {
        let helper =
            self.helper.as_mut().context("this scenario has no cluster (`cluster` in the scenario)")?;
        helper.stdin.write_all(format!("{command}\n").as_bytes()).await?;
        helper.stdin.flush().await?;
        let answer = timeout(COMMAND_DEADLINE, helper.lines.next_line())
            .await
            .map_err(|_| anyhow!("{command:?}: no answer within {COMMAND_DEADLINE:?}"))??
            .ok_or_else(|| anyhow!("{command:?}: the helper exited"))?;
        if answer != expected {
            bail!("{command:?} answered {answer:?}");
        }
        Ok(())
    }

    /// Ends everything: the server, or the helper (closing its stdin makes
    /// it kill what it started; killed itself if it has not exited in time).
    pub async fn stop(self) {
        if let Some(server) = self.server {
            server.stop().await;
        }
        if let Some(Helper { mut child, stdin, lines }) = self.helper {
            drop((stdin, lines));
            if timeout(COMMAND_DEADLINE, child.wait()).await.is_err() {
                let _ = child.start_kill();
                let _ = child.wait().await;
            }
        }
    }
}
