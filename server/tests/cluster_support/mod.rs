//! A real cluster for tests: one `nats-server` on a free port and real
//! `usher-server` processes (the binary under test) joined to it, each
//! found by its `usher-server listening on ws://…` line. Clients are the
//! real Rust client. Everything waits for a condition with a deadline;
//! nothing sleeps to synchronise.

#![allow(dead_code)]

use std::future::Future;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use usher_core::client::{ConnectOptions, Session};
use usher_core::protocol::FilterResult;

pub const ADMIN_PW: &str = "cluster-admin-pw";
pub const CONTROL_PW: &str = "cluster-control-pw";
pub const CLIENT_PW: &str = "cluster-client-pw";

/// Generous: only a broken implementation waits this long.
pub const DEADLINE: Duration = Duration::from_secs(15);

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    l.local_addr().expect("local addr").port()
}

fn nats_binary() -> String {
    for candidate in ["/usr/sbin/nats-server", "/usr/bin/nats-server", "/usr/local/bin/nats-server"] {
        if std::path::Path::new(candidate).exists() {
            return candidate.to_owned();
        }
    }
    match Command::new("nats-server").arg("--version").output() {
        Ok(_) => "nats-server".to_owned(),
        Err(_) => panic!(
            "nats-server is not installed; the cluster tests need it. Run scripts/install-deps.sh (it installs it)."
        ),
    }
}

/// A `nats-server` child; killed on drop.
pub struct Nats {
    pub port: u16,
    child: Option<Child>,
}

impl Nats {
    pub fn start() -> Nats {
        Self::start_on(free_port())
    }

    /// Starts on `port` and waits until it accepts connections.
    pub fn start_on(port: u16) -> Nats {
        let child = Command::new(nats_binary())
            .args(["-p", &port.to_string(), "-a", "127.0.0.1"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start nats-server");
        let nats = Nats { port, child: Some(child) };
        let until = Instant::now() + DEADLINE;
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < until, "nats-server did not listen on {port}");
            std::thread::sleep(Duration::from_millis(20)); // polling a condition
        }
        nats
    }

    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// Kills it (SIGKILL) and waits for it to go.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Nats {
    fn drop(&mut self) {
        self.kill();
    }
}

/// An `usher-server` child in the cluster; killed on drop.
pub struct Server {
    pub name: String,
    pub url: String,
    child: Option<Child>,
}

impl Server {
    /// Spawns `usher-server --listen 127.0.0.1:0 --cluster NATS --name NAME`
    /// and waits for its listening line.
    pub fn spawn(nats_url: &str, name: &str) -> Server {
        let log = std::env::temp_dir().join(format!("usher-cluster-test-{name}-{}.log", std::process::id()));
        let stderr = std::fs::File::create(&log).map(Stdio::from).unwrap_or_else(|_| Stdio::null());
        let mut child = Command::new(env!("CARGO_BIN_EXE_usher-server"))
            .args(["--listen", "127.0.0.1:0", "--cluster", nats_url, "--name", name])
            .env("USHER_ADMIN_PASSWORD", ADMIN_PW)
            .env("USHER_CONTROL_PASSWORD", CONTROL_PW)
            .env("USHER_CLIENT_PASSWORD", CLIENT_PW)
            .env("RUST_LOG", "info")
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .expect("start usher-server");
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(url) = line.strip_prefix("usher-server listening on ") {
                    let _ = tx.send(url.trim().to_owned());
                }
            }
        });
        let url = rx
            .recv_timeout(DEADLINE)
            .unwrap_or_else(|_| panic!("{name} printed no listening line (log: {})", log.display()));
        Server { name: name.to_owned(), url, child: Some(child) }
    }

    /// SIGKILL: no goodbye, members must notice the silence.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

/// NATS and three servers `a`, `b`, `c` that all see each other.
pub struct Cluster {
    pub nats: Nats,
    pub servers: Vec<Server>,
}

impl Cluster {
    pub async fn start() -> Cluster {
        let nats = Nats::start();
        let servers = ["a", "b", "c"].iter().map(|n| Server::spawn(&nats.url(), n)).collect();
        let cluster = Cluster { nats, servers };
        cluster.wait_for_members(&["a", "b", "c"]).await;
        cluster
    }

    pub fn url(&self, i: usize) -> &str {
        &self.servers[i].url
    }

    /// Waits until a count from every live server names exactly `names`.
    pub async fn wait_for_members(&self, names: &[&str]) {
        let live: Vec<&Server> = self.servers.iter().filter(|s| s.child.is_some()).collect();
        for server in live {
            let admin = connect(&server.url, Some("admin")).await;
            wait_until(|| async {
                match admin.clients().count_detailed("all").await {
                    Ok(r) => r.per_server.keys().map(String::as_str).collect::<Vec<_>>() == names,
                    Err(_) => false,
                }
            })
            .await;
            let _ = admin.close().await;
        }
    }
}

pub fn options(url: &str, principal: Option<&str>) -> ConnectOptions {
    let options = ConnectOptions::new(url);
    match principal {
        Some("admin") => options.principal("admin").password(ADMIN_PW),
        Some("control") => options.principal("control").password(CONTROL_PW),
        Some("client") => options.principal("client").password(CLIENT_PW),
        Some(other) => options.principal(other),
        None => options,
    }
}

pub async fn connect(url: &str, principal: Option<&str>) -> Session {
    within(Session::connect(options(url, principal))).await.expect("connect")
}

/// An anonymous session with one user property.
pub async fn tagged(url: &str, key: &str, value: &str) -> Session {
    within(Session::connect(options(url, None).property(key, value))).await.expect("connect")
}

pub async fn within<T>(f: impl Future<Output = T>) -> T {
    tokio::time::timeout(DEADLINE, f).await.expect("deadline passed")
}

/// Polls `cond` every 50 ms until it holds, failing after [`DEADLINE`].
pub async fn wait_until<F, Fut>(mut cond: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let until = Instant::now() + DEADLINE;
    loop {
        if cond().await {
            return;
        }
        assert!(Instant::now() < until, "condition not met within {DEADLINE:?}");
        tokio::time::sleep(Duration::from_millis(50)).await; // polling a condition
    }
}

/// Per-server counts as `(name, n)` pairs.
pub fn per_server(r: &FilterResult) -> Vec<(&str, u64)> {
    r.per_server.iter().map(|(k, v)| (k.as_str(), *v)).collect()
}
