//! The server's configuration: one `serde` [`Config`] with optional sections,
//! validated once at load (SPEC §2.4, §5.3, §6). `usher.example.toml` at the
//! repository root documents every field and is loaded by a test.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};
use usher_core::props::{PropertyLimits, validate_user_key};
use usher_core::protocol::{QueuePolicy, SessionLimits, Throttler};
use usher_core::security::SecurityStore;

use crate::auth;

/// The whole configuration. Every section is optional.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Server-wide settings.
    pub server: ServerSection,
    /// The listeners; the first one is what `--listen` overrides. Empty means
    /// one listener named `default` on `127.0.0.1:8080`.
    pub listeners: Vec<ListenerConfig>,
    /// Per-session bounds (SPEC §6).
    pub limits: LimitsSection,
    /// User-property limits and restrictions (SPEC §2.2).
    pub properties: PropertiesSection,
    /// The security store file.
    pub security: SecuritySection,
    /// The loaded security store (principals, anonymous policy, roles):
    /// read from `security.store` by [`Config::load`], built in by
    /// [`Config::embedded_default`] and [`Config::for_tests`]; tests may set
    /// their own.
    #[serde(skip)]
    pub store: Option<SecurityStore>,
    /// Where `store` was loaded from (re-read on SIGHUP).
    #[serde(skip)]
    pub store_path: Option<PathBuf>,
    /// The password verification pool (SPEC §8).
    pub auth: AuthSection,
    /// Cluster membership over NATS (SPEC §7); `None`: the server runs alone.
    pub cluster: Option<ClusterSection>,
}

/// `[cluster]`: joining a cluster over NATS (SPEC §7, `docs/CLUSTER.md`).
#[derive(Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ClusterSection {
    /// The cluster's name: every subject starts with `usher.<name>.`, so
    /// several clusters can share one NATS.
    pub name: String,
    /// The NATS server, e.g. `nats://127.0.0.1:4222` (`tls://` for TLS).
    pub url: String,
    /// A NATS credentials file (JWT + nkey seed).
    pub credentials: Option<PathBuf>,
    /// NATS user (with `password`).
    pub user: Option<String>,
    /// NATS password; never logged (the `Debug` redacts it).
    pub password: Option<String>,
    /// NATS token; never logged.
    pub token: Option<String>,
    /// Require TLS to NATS.
    pub tls_required: bool,
    /// Root certificates (PEM) to verify the NATS server with.
    pub tls_ca: Option<PathBuf>,
    /// Client certificate and key (PEM) for mutual TLS.
    pub tls_cert: Option<PathBuf>,
    /// The client certificate's key.
    pub tls_key: Option<PathBuf>,
    /// How long a routed operation waits for each member, ms (SPEC §7: 2 s).
    pub request_timeout_ms: u64,
}

impl Default for ClusterSection {
    fn default() -> Self {
        Self {
            name: "usher".into(),
            url: "nats://127.0.0.1:4222".into(),
            credentials: None,
            user: None,
            password: None,
            token: None,
            tls_required: false,
            tls_ca: None,
            tls_cert: None,
            tls_key: None,
            request_timeout_ms: 2_000,
        }
    }
}

impl std::fmt::Debug for ClusterSection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let redact = |o: &Option<String>| o.as_ref().map(|_| "<redacted>");
        f.debug_struct("ClusterSection")
            .field("name", &self.name)
            .field("url", &self.url)
            .field("credentials", &self.credentials)
            .field("user", &self.user)
            .field("password", &redact(&self.password))
            .field("token", &redact(&self.token))
            .field("tls_required", &self.tls_required)
            .field("tls_ca", &self.tls_ca)
            .field("tls_cert", &self.tls_cert)
            .field("tls_key", &self.tls_key)
            .field("request_timeout_ms", &self.request_timeout_ms)
            .finish()
    }
}

impl ClusterSection {
    /// The per-member deadline of routed operations.
    pub fn deadline(&self) -> Duration {
        Duration::from_millis(self.request_timeout_ms)
    }
}

/// Server-wide settings.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerSection {
    /// `$ServerName`.
    pub name: String,
    /// Most connections at once (a permit is taken before `accept`).
    pub max_connections: usize,
    /// Most connections that have not completed their hello.
    pub max_pending_hellos: usize,
    /// Most topics.
    pub max_topics: usize,
    /// Park a plain (non-TLS) session once it has been silent this long,
    /// ms: its task and WebSocket state are dropped and only its socket is
    /// kept in an epoll set until it has something to do (SPEC §9 P1,
    /// `docs/PERFORMANCE.md` "Parking"). A session parks between one and
    /// two delays after its last traffic. 0 disables parking.
    pub park_after_ms: u64,
    /// Turn transparent huge pages off for the `usher-server` process
    /// (Linux, `prctl(PR_SET_THP_DISABLE)`; like Redis's `disable-thp`).
    /// With them, the allocator's first touch of fresh memory zeroes 2 MiB
    /// at a time, in the middle of a burst, and idle memory is resident in
    /// 2 MiB pieces: measured, a close of 5,000 sessions took ~13 ms longer
    /// and an idle session ~150-500 B more (`docs/PERFORMANCE.md`).
    pub disable_thp: bool,
}

impl Default for ServerSection {
    fn default() -> Self {
        Self {
            name: "usher".into(),
            max_connections: 19_900,
            max_pending_hellos: 1_000,
            max_topics: 100_000,
            park_after_ms: 1_000,
            disable_thp: true,
        }
    }
}

/// One listener (becomes `$Connector`).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ListenerConfig {
    /// `$Connector` of sessions that come through it.
    pub name: String,
    /// Where to bind, e.g. `127.0.0.1:8080` (port 0 picks a free one).
    pub address: SocketAddr,
    /// Queue defaults for its sessions.
    pub queue: QueueDefaults,
    /// `SO_SNDBUF` for accepted sockets, bytes (accepted sockets inherit it
    /// from the listening socket). `None` keeps the kernel's default. Small
    /// values make slow consumers back up sooner (tests use this).
    pub send_buffer_bytes: Option<u32>,
    /// TLS (`wss://`) for this listener; plain `ws://` when absent.
    pub tls: Option<TlsFiles>,
}

/// A listener's certificate and private key, PEM files. Relative paths are
/// resolved against the configuration file's directory.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsFiles {
    /// The certificate chain, leaf first.
    pub certificate: PathBuf,
    /// The private key (PKCS#8, PKCS#1 or SEC1).
    pub private_key: PathBuf,
}

impl Default for ListenerConfig {
    fn default() -> Self {
        Self {
            name: "default".into(),
            address: SocketAddr::from(([127, 0, 0, 1], 8080)),
            queue: QueueDefaults::default(),
            send_buffer_bytes: None,
            tls: None,
        }
    }
}

/// The queue policy a listener's sessions start with (SPEC §5.3).
#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct QueueDefaults {
    /// Conflation on from the start.
    pub conflated: bool,
    /// Most messages queued before `MESSAGE_QUEUE_LIMIT_REACHED`.
    pub max_depth: u32,
    /// Most bytes queued before `MESSAGE_QUEUE_LIMIT_REACHED`.
    pub max_bytes: u64,
    /// Upper threshold, percent of `max_depth`.
    pub upper_threshold: u8,
    /// Lower threshold, percent of `max_depth`, below the upper one.
    pub lower_threshold: u8,
}

impl Default for QueueDefaults {
    fn default() -> Self {
        let p = QueuePolicy::default();
        Self {
            conflated: p.conflated,
            max_depth: p.max_depth,
            max_bytes: p.max_bytes,
            upper_threshold: p.upper_threshold,
            lower_threshold: p.lower_threshold,
        }
    }
}

impl QueueDefaults {
    /// The policy a new session starts with.
    pub fn policy(&self) -> QueuePolicy {
        QueuePolicy {
            conflated: self.conflated,
            throttler: Throttler::Unthrottled,
            max_depth: self.max_depth,
            max_bytes: self.max_bytes,
            upper_threshold: self.upper_threshold,
            lower_threshold: self.lower_threshold,
        }
    }
}

/// Per-session bounds (SPEC §6).
#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LimitsSection {
    /// Largest frame a client may send, bytes.
    pub max_frame_bytes: u32,
    /// From accept to hello (HTTP upgrade included), ms.
    pub hello_timeout_ms: u64,
    /// Requests in flight per session (answers not yet written).
    pub max_in_flight: u32,
    /// Listener registrations per session.
    pub max_registrations: u32,
    /// Topic subscriptions (selectors) per session.
    pub max_subscriptions: u32,
    /// Ping interval, ms.
    pub ping_interval_ms: u32,
    /// Close after this long without any frame from the client, ms.
    pub idle_timeout_ms: u32,
}

impl Default for LimitsSection {
    fn default() -> Self {
        let l = SessionLimits::default();
        Self {
            max_frame_bytes: l.max_frame_bytes,
            hello_timeout_ms: 5_000,
            max_in_flight: l.max_in_flight,
            max_registrations: l.max_registrations,
            max_subscriptions: 1024,
            ping_interval_ms: l.ping_interval_ms,
            idle_timeout_ms: l.idle_timeout_ms,
        }
    }
}

impl LimitsSection {
    /// What the welcome tells the client.
    pub fn session_limits(&self) -> SessionLimits {
        SessionLimits {
            max_frame_bytes: self.max_frame_bytes,
            max_in_flight: self.max_in_flight,
            max_registrations: self.max_registrations,
            ping_interval_ms: self.ping_interval_ms,
            idle_timeout_ms: self.idle_timeout_ms,
        }
    }

    /// The hello timeout.
    pub fn hello_timeout(&self) -> Duration {
        Duration::from_millis(self.hello_timeout_ms)
    }
}

/// User-property limits and restrictions on client-proposed values.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PropertiesSection {
    /// Counts and sizes.
    #[serde(flatten)]
    pub limits: PropertyLimits,
    /// Key → restriction on what a client may propose at connect.
    pub restrict: BTreeMap<String, Restriction>,
}

/// What a client may propose for one key.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Restriction {
    /// The whole value must match this regular expression.
    pub regex: Option<String>,
    /// The value must be one of these.
    pub values: Option<Vec<String>>,
}

/// Where the security store comes from (SPEC §2.3; format in
/// `docs/SECURITY.md`).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SecuritySection {
    /// Path of the security store TOML file, relative to the configuration
    /// file. Without it: no principals, anonymous sessions get `CLIENT`.
    pub store: Option<PathBuf>,
}

/// The password verification pool.
#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthSection {
    /// Worker threads; 0 means `min(cores, 4)`.
    pub threads: usize,
    /// Verifications waiting; past this a login is refused.
    pub queue: usize,
}

impl Default for AuthSection {
    fn default() -> Self {
        Self { threads: 0, queue: 256 }
    }
}

/// Passwords generated for the embedded default because their variable was
/// not set. Printed once to stdout by the binary; `Debug` redacts them.
#[derive(Clone, Default)]
pub struct GeneratedPasswords {
    /// `(principal, password)` pairs.
    pub generated: Vec<(String, String)>,
}

impl std::fmt::Debug for GeneratedPasswords {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self.generated.iter().map(|(p, _)| p.as_str()).collect();
        f.debug_struct("GeneratedPasswords").field("principals", &names).finish()
    }
}

impl Config {
    /// The embedded default of SPEC §2.4: `127.0.0.1:8080`, anonymous
    /// `CLIENT`, principals `admin`, `control` and `client` with passwords from
    /// `USHER_ADMIN_PASSWORD` / `USHER_CONTROL_PASSWORD` /
    /// `USHER_CLIENT_PASSWORD`, any missing one generated.
    pub fn embedded_default() -> anyhow::Result<(Config, GeneratedPasswords)> {
        let mut generated = GeneratedPasswords::default();
        let mut hashes = Vec::new();
        for (name, var) in [
            ("admin", "USHER_ADMIN_PASSWORD"),
            ("control", "USHER_CONTROL_PASSWORD"),
            ("client", "USHER_CLIENT_PASSWORD"),
        ] {
            let password = match std::env::var(var) {
                Ok(p) if !p.is_empty() => p,
                _ => {
                    let p = auth::generate_password();
                    generated.generated.push((name.to_owned(), p.clone()));
                    p
                }
            };
            hashes.push(auth::hash_password(&password)?);
        }
        let config = Config {
            listeners: vec![ListenerConfig::default()],
            store: Some(SecurityStore::embedded(&hashes[0], &hashes[1], &hashes[2])?),
            ..Config::default()
        };
        config.validate()?;
        Ok((config, generated))
    }

    /// A test server: one listener on `127.0.0.1:0`, the embedded security
    /// store (anonymous `CLIENT`; `admin`, `control`, `client` with these
    /// passwords).
    pub fn for_tests(admin: &str, control: &str, client: &str) -> Config {
        // Hashing our own passwords with fixed parameters cannot fail; an
        // empty hash would make the store refuse, leaving no principals.
        let hash = |p: &str| auth::hash_password(p).unwrap_or_default();
        Config {
            server: ServerSection { name: "test-server".into(), ..ServerSection::default() },
            listeners: vec![ListenerConfig {
                address: SocketAddr::from(([127, 0, 0, 1], 0)),
                ..Default::default()
            }],
            store: SecurityStore::embedded(&hash(admin), &hash(control), &hash(client)).ok(),
            ..Config::default()
        }
    }

    /// The store in effect: the loaded one, or the empty default (no
    /// principals, anonymous `CLIENT`).
    pub fn security_store(&self) -> anyhow::Result<SecurityStore> {
        match &self.store {
            Some(store) => Ok(store.clone()),
            None => Ok(SecurityStore::from_toml("[anonymous]\nroles = [\"CLIENT\"]\n")?),
        }
    }

    /// Reads and validates a TOML file.
    pub fn load(path: &Path) -> anyhow::Result<Config> {
        let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let mut config: Config =
            toml::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
        if let Some(store) = &config.security.store {
            let store_path = match path.parent() {
                Some(dir) if store.is_relative() => dir.join(store),
                _ => store.clone(),
            };
            let loaded = SecurityStore::load(&store_path)
                .with_context(|| format!("loading the security store {}", store_path.display()))?;
            config.store = Some(loaded);
            config.store_path = Some(store_path);
        }
        if let Some(dir) = path.parent() {
            for tls in config.listeners.iter_mut().filter_map(|l| l.tls.as_mut()) {
                for file in [&mut tls.certificate, &mut tls.private_key] {
                    if file.is_relative() {
                        *file = dir.join(&*file);
                    }
                }
            }
        }
        config.validate().with_context(|| format!("validating {}", path.display()))?;
        Ok(config)
    }

    /// The listeners to bind (the default one when none is configured).
    pub fn effective_listeners(&self) -> Vec<ListenerConfig> {
        if self.listeners.is_empty() { vec![ListenerConfig::default()] } else { self.listeners.clone() }
    }

    /// Checks everything a bad file could get wrong.
    pub fn validate(&self) -> anyhow::Result<()> {
        if self.server.name.is_empty() {
            bail!("server.name must not be empty");
        }
        if self.server.max_connections == 0 || self.server.max_pending_hellos == 0 {
            bail!("server.max_connections and server.max_pending_hellos must be positive");
        }
        let mut names = std::collections::BTreeSet::new();
        for l in self.effective_listeners() {
            if l.name.is_empty() || !names.insert(l.name.clone()) {
                bail!("listener names must be non-empty and unique ({:?})", l.name);
            }
            let q = l.queue;
            if q.max_depth == 0 || q.max_bytes == 0 {
                bail!("listener {:?}: queue.max_depth and queue.max_bytes must be positive", l.name);
            }
            if q.upper_threshold > 100 || q.lower_threshold >= q.upper_threshold {
                bail!(
                    "listener {:?}: queue thresholds need lower < upper <= 100 (got {} / {})",
                    l.name,
                    q.lower_threshold,
                    q.upper_threshold
                );
            }
        }
        let lim = &self.limits;
        if lim.max_frame_bytes < 1024 || lim.max_in_flight == 0 || lim.hello_timeout_ms == 0 {
            bail!("limits: max_frame_bytes >= 1024, max_in_flight and hello_timeout_ms > 0");
        }
        if lim.ping_interval_ms == 0 || lim.idle_timeout_ms <= lim.ping_interval_ms {
            bail!("limits: idle_timeout_ms must be greater than ping_interval_ms (> 0)");
        }
        for (key, r) in &self.properties.restrict {
            validate_user_key(key).map_err(|e| anyhow::anyhow!("properties.restrict: {e}"))?;
            if let Some(re) = &r.regex {
                regex::Regex::new(re).with_context(|| format!("properties.restrict.{key}.regex"))?;
            }
        }
        if self.auth.queue == 0 {
            bail!("auth.queue must be positive");
        }
        if let Some(c) = &self.cluster {
            let name_ok = !c.name.is_empty()
                && c.name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
            if !name_ok {
                bail!("cluster.name must be non-empty letters, digits, '_' or '-' (a NATS subject token)");
            }
            if c.url.is_empty() || c.request_timeout_ms == 0 {
                bail!("cluster.url must be set and cluster.request_timeout_ms positive");
            }
            if c.user.is_some() != c.password.is_some() {
                bail!("cluster.user and cluster.password go together");
            }
            if c.tls_cert.is_some() != c.tls_key.is_some() {
                bail!("cluster.tls_cert and cluster.tls_key go together");
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_is_valid() -> anyhow::Result<()> {
        Config::default().validate()
    }

    #[test]
    fn default_store_admits_anonymous_clients() -> anyhow::Result<()> {
        let store = Config::default().security_store()?;
        assert_eq!(store.anonymous, usher_core::security::AnonymousPolicy::Roles(vec!["CLIENT".to_owned()]));
        Ok(())
    }

    #[test]
    fn cluster_section_parses_validates_and_redacts() -> anyhow::Result<()> {
        let c: Config = toml::from_str(
            "[cluster]\nname = \"prod\"\nurl = \"nats://n:4222\"\nuser = \"u\"\npassword = \"sekrit\"\n",
        )?;
        c.validate()?;
        let cluster = c.cluster.as_ref().ok_or_else(|| anyhow::anyhow!("no cluster section"))?;
        assert_eq!(cluster.deadline(), Duration::from_secs(2));
        assert!(!format!("{cluster:?}").contains("sekrit"));
        for bad in ["name = \"a.b\"", "user = \"u\"", "request_timeout_ms = 0"] {
            let c: Config = toml::from_str(&format!("[cluster]\n{bad}\n"))?;
            assert!(c.validate().is_err(), "{bad} was accepted");
        }
        Ok(())
    }

    #[test]
    fn bad_thresholds_are_refused() {
        let mut c = Config { listeners: vec![ListenerConfig::default()], ..Config::default() };
        c.listeners[0].queue.lower_threshold = 90;
        assert!(c.validate().is_err());
    }
}
