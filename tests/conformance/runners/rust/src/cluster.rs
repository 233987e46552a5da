//! `usher-conformance cluster --servers N [--deadline-ms D]`: a real cluster
//! for the scenarios that need one (tests/conformance/README.md, "Peers").
//!
//! A fresh `nats-server` (`-p -1`: it picks its port and logs it) and N
//! `usher-server`s named `a`, `b`, … joined to it, each with the three
//! embedded principals (one security store written here, as every member
//! must load the same one) and the routing deadline D (default 2,000 ms).
//! Once every member has logged every other as joined, prints the peer line
//! (`{"url", "urls", "passwords"}`), then obeys stdin:
//!
//! - `freeze NAME`: SIGSTOP, waited for until the kernel reports the member
//!   stopped; answers `frozen NAME`. The member stays connected to NATS and
//!   its clients but answers nothing: a silent member (SPEC §7).
//! - `thaw NAME`: SIGCONT, waited for until it runs again; answers `thawed NAME`.
//!
//! When stdin closes, everything is killed and waited for. The children also
//! carry `PR_SET_PDEATHSIG`, so they die with this process however it ends.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde_json::json;

use crate::peers::PeerLine;

/// Only a broken start takes this long.
const READY_DEADLINE: Duration = Duration::from_secs(30);

/// A line from one of the children, tagged with who printed it.
enum Heard {
    Nats(String),
    Listening(String, String),
    Log(String, String),
}

/// The children; killed and reaped on drop, whatever happened before.
#[derive(Default)]
struct Children(Vec<(String, Child)>);

impl Children {
    fn pid(&self, name: &str) -> anyhow::Result<libc::pid_t> {
        let (_, child) =
            self.0.iter().find(|(n, _)| n == name).with_context(|| format!("no server named {name:?}"))?;
        Ok(child.id() as libc::pid_t)
    }
}

impl Drop for Children {
    fn drop(&mut self) {
        // Members first, NATS last, so none of them logs a lost NATS.
        for (_, child) in self.0.iter_mut().rev() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A private directory for the config and store; removed on drop.
struct Dir(PathBuf);

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn flag(args: &[String], name: &str) -> anyhow::Result<Option<u64>> {
    match args.iter().position(|a| a == name) {
        None => Ok(None),
        Some(i) => {
            let value = args.get(i + 1).with_context(|| format!("{name} needs a value"))?;
            Ok(Some(value.parse().with_context(|| format!("{name} {value}"))?))
        }
    }
}

fn nats_binary() -> PathBuf {
    if let Some(path) = std::env::var_os("NATS_SERVER") {
        return PathBuf::from(path);
    }
    ["/usr/sbin/nats-server", "/usr/bin/nats-server"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
        .unwrap_or_else(|| PathBuf::from("nats-server"))
}

/// Spawns `command` with piped stdout/stderr, dying with this process.
fn spawn(command: &mut Command) -> std::io::Result<Child> {
    command.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
    // SAFETY: prctl is async-signal-safe and touches no memory of ours.
    unsafe {
        command.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    command.spawn()
}

/// Forwards every line of `from` to `to`, tagged by `tag`, until it closes;
/// it keeps reading after `to` is gone so the child never blocks on a pipe.
fn pump(from: impl Read + Send + 'static, to: Sender<Heard>, tag: impl Fn(String) -> Heard + Send + 'static) {
    std::thread::spawn(move || {
        for line in BufReader::new(from).lines() {
            let Ok(line) = line else { break };
            let _ = to.send(tag(line));
        }
    });
}

fn write_config(
    dir: &Path,
    nats_url: &str,
    deadline_ms: u64,
    passwords: &BTreeMap<String, String>,
) -> anyhow::Result<PathBuf> {
    let mut store = String::from("[anonymous]\nroles = [\"CLIENT\"]\n");
    let roles = [
        ("admin", "\"ADMINISTRATOR\""),
        ("control", "\"CLIENT_CONTROL\", \"TOPIC_CONTROL\""),
        ("client", "\"CLIENT\""),
    ];
    for (principal, roles) in roles {
        let hash = usher_server::hash_password(&passwords[principal])?;
        store.push_str(&format!("[principals.{principal}]\npassword_hash = \"{hash}\"\nroles = [{roles}]\n"));
    }
    std::fs::write(dir.join("store.toml"), store)?;
    let config = format!(
        "[security]\nstore = \"store.toml\"\n\n[cluster]\nurl = \"{nats_url}\"\nrequest_timeout_ms = {deadline_ms}\n"
    );
    let path = dir.join("usher.toml");
    std::fs::write(&path, config)?;
    Ok(path)
}

/// Waits for the next line, at most until `end`.
fn next(rx: &Receiver<Heard>, end: Instant, waiting_for: &str) -> anyhow::Result<Heard> {
    rx.recv_timeout(end.saturating_duration_since(Instant::now()))
        .map_err(|_| anyhow::anyhow!("{waiting_for}: not seen within {READY_DEADLINE:?}"))
}

/// Starts `nats-server` and returns its client URL, read from its log.
fn start_nats(children: &mut Children, rx: &Receiver<Heard>, tx: &Sender<Heard>) -> anyhow::Result<String> {
    let mut child = spawn(Command::new(nats_binary()).args(["-p", "-1", "-a", "127.0.0.1"]))
        .with_context(|| format!("starting {} (apt-get install nats-server)", nats_binary().display()))?;
    pump(child.stdout.take().context("stdout")?, tx.clone(), Heard::Nats);
    pump(child.stderr.take().context("stderr")?, tx.clone(), Heard::Nats);
    children.0.push(("nats".into(), child));
    let end = Instant::now() + READY_DEADLINE;
    let mut address = None;
    loop {
        if let Heard::Nats(line) = next(rx, end, "nats-server ready")? {
            if let Some((_, at)) = line.split_once("Listening for client connections on ") {
                address = Some(at.trim().to_owned());
            } else if line.contains("Server is ready") {
                let at = address.context("nats-server was ready before saying where it listens")?;
                return Ok(format!("nats://{at}"));
            }
        }
    }
}

/// Starts the members and waits until each has its URL and has logged every
/// other as joined (so each routes to all the others).
fn start_members(
    children: &mut Children,
    rx: &Receiver<Heard>,
    tx: &Sender<Heard>,
    config: &Path,
    names: &[String],
) -> anyhow::Result<BTreeMap<String, String>> {
    for name in names {
        let mut command = Command::new(crate::server::binary());
        command.arg("--config").arg(config).args(["--listen", "127.0.0.1:0", "--name", name]);
        command.env("RUST_LOG", "info");
        let mut child = spawn(&mut command).context("starting usher-server")?;
        let tag = name.clone();
        pump(child.stdout.take().context("stdout")?, tx.clone(), move |line| {
            match line.strip_prefix("usher-server listening on ") {
                Some(url) => Heard::Listening(tag.clone(), url.trim().to_owned()),
                None => Heard::Log(tag.clone(), line),
            }
        });
        let tag = name.clone();
        pump(child.stderr.take().context("stderr")?, tx.clone(), move |line| Heard::Log(tag.clone(), line));
        children.0.push((name.clone(), child));
    }
    let mut urls = BTreeMap::new();
    let mut heard: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut recent: Vec<String> = Vec::new();
    let end = Instant::now() + READY_DEADLINE;
    let ready = |urls: &BTreeMap<String, String>, heard: &BTreeMap<String, BTreeSet<String>>| {
        urls.len() == names.len()
            && names.iter().all(|n| {
                let seen = heard.get(n);
                names.iter().filter(|o| *o != n).all(|o| seen.is_some_and(|s| s.contains(o)))
            })
    };
    while !ready(&urls, &heard) {
        match next(rx, end, "every member joined").with_context(|| recent.join("\n"))? {
            Heard::Listening(name, url) => {
                urls.insert(name, url);
            }
            Heard::Log(name, line) => {
                // `cluster member joined server=b` (tracing's plain format).
                if let (true, Some((_, who))) =
                    (line.contains("cluster member joined"), line.split_once("server="))
                {
                    let who = who.split_whitespace().next().unwrap_or_default().to_owned();
                    heard.entry(name.clone()).or_default().insert(who);
                }
                recent.push(format!("{name}: {line}"));
            }
            Heard::Nats(_) => {}
        }
    }
    Ok(urls)
}

/// SIGSTOP or SIGCONT, then waits until the kernel reports the change.
fn signal(pid: libc::pid_t, stop: bool) -> anyhow::Result<()> {
    let (sig, flags) =
        if stop { (libc::SIGSTOP, libc::WUNTRACED) } else { (libc::SIGCONT, libc::WCONTINUED) };
    // SAFETY: plain system calls on our own child, with a valid status pointer.
    let (sent, waited, status) = unsafe {
        let sent = libc::kill(pid, sig);
        let mut status = 0;
        let waited = if sent == 0 { libc::waitpid(pid, &mut status, flags) } else { 0 };
        (sent, waited, status)
    };
    if sent != 0 || waited != pid {
        bail!("signal {sig} to {pid}: {}", std::io::Error::last_os_error());
    }
    let changed = if stop { libc::WIFSTOPPED(status) } else { libc::WIFCONTINUED(status) };
    if !changed {
        bail!("{pid} did not {} (wait status {status:#x})", if stop { "stop" } else { "continue" });
    }
    Ok(())
}

/// The subcommand; returns when stdin closes (or on a start failure).
pub fn main(args: &[String]) -> anyhow::Result<()> {
    let count = flag(args, "--servers")?.unwrap_or(2);
    let deadline_ms = flag(args, "--deadline-ms")?.unwrap_or(2_000);
    if !(1..=26).contains(&count) || deadline_ms == 0 {
        bail!("usage: usher-conformance cluster --servers 1..26 [--deadline-ms D>0]");
    }
    let names: Vec<String> = (b'a'..).take(count as usize).map(|c| (c as char).to_string()).collect();
    let nonce = std::process::id() ^ std::time::UNIX_EPOCH.elapsed()?.subsec_nanos();
    let passwords: BTreeMap<String, String> =
        ["admin", "control", "client"].iter().map(|p| (p.to_string(), format!("{p}-{nonce:x}-pw"))).collect();
    let dir = Dir(std::env::temp_dir().join(format!("usher-conformance-cluster-{nonce:x}")));
    std::fs::create_dir_all(&dir.0)?;

    let mut children = Children::default();
    let (tx, rx) = channel();
    let nats_url = start_nats(&mut children, &rx, &tx)?;
    let config = write_config(&dir.0, &nats_url, deadline_ms, &passwords)?;
    let urls = start_members(&mut children, &rx, &tx, &config, &names)?;
    drop(rx); // the pumps go on draining the pipes

    let line = PeerLine { url: urls[&names[0]].clone(), urls, passwords };
    let mut out = std::io::stdout().lock();
    writeln!(out, "{}", json!(line.to_json()))?;
    out.flush()?;
    for command in std::io::stdin().lock().lines() {
        let command = command?;
        let reply = match command.split_whitespace().collect::<Vec<_>>().as_slice() {
            ["freeze", name] => {
                children.pid(name).and_then(|pid| signal(pid, true)).map(|_| format!("frozen {name}"))
            }
            ["thaw", name] => {
                children.pid(name).and_then(|pid| signal(pid, false)).map(|_| format!("thawed {name}"))
            }
            _ => Err(anyhow::anyhow!("unknown command {command:?} (freeze NAME, thaw NAME)")),
        };
        writeln!(out, "{}", reply.unwrap_or_else(|e| format!("error {e:#}")))?;
        out.flush()?;
    }
    Ok(())
}
