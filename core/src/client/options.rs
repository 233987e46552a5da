//! How to connect: [`ConnectOptions`] (url, credentials, proposed properties,
//! client type and environment, timeouts, buffers, TLS) and the parameters of
//! a session-event registration ([`SessionEventParams`]).
//!
//! Options are plain data with builder methods, so the language bindings can
//! fill them from their own option objects.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use crate::protocol::ClientType;

/// The `$Environment` the Rust client reports by default: `RUST_<major.minor>`
/// of the compiler that built it.
pub fn default_environment() -> String {
    format!("RUST_{}", env!("USHER_RUSTC_VERSION"))
}

/// Everything [`Session::connect`](crate::client::Session::connect) needs.
///
/// ```
/// use std::time::Duration;
/// use usher_core::client::ConnectOptions;
///
/// let options = ConnectOptions::new("ws://127.0.0.1:8080")
///     .principal("control")
///     .password("secret")
///     .property("team", "ops")
///     .request_timeout(Duration::from_secs(5));
/// assert!(!format!("{options:?}").contains("secret"));
/// ```
#[derive(Clone)]
pub struct ConnectOptions {
    /// `ws://host:port` or `wss://host:port` (see [`TlsOptions`]).
    pub url: String,
    /// `None` for an anonymous session.
    pub principal: Option<String>,
    /// The password; never printed by `Debug`.
    pub password: Option<String>,
    /// User properties proposed to the server (validated there).
    pub properties: BTreeMap<String, String>,
    /// `$ClientType`; `RUST` unless a binding says otherwise.
    pub client_type: ClientType,
    /// `$Environment`; `RUST_<rustc version>` unless a binding says otherwise.
    pub environment: String,
    /// Bound on TCP connect + WebSocket upgrade + hello/welcome. Default 10 s.
    pub connect_timeout: Duration,
    /// Bound on each request, from the call to the answer (time spent queued
    /// behind the in-flight limit included). Default 10 s; on expiry the call
    /// fails with `TIMEOUT`.
    pub request_timeout: Duration,
    /// Capacity, in events, of the buffer between the socket reader and each
    /// listener registration or topic subscription. Default 1,024.
    pub listener_buffer: usize,
    /// How long the socket reader waits for room in a full listener buffer
    /// before it gives up on that listener (which then gets `LIMIT_EXCEEDED`
    /// naming `listener_buffer`, and closes). Default 10 s.
    pub listener_stall_timeout: Duration,
    /// TLS settings for `wss://` urls.
    pub tls: TlsOptions,
}

/// TLS settings for `wss://` connections (rustls, ring provider).
///
/// By default the platform's root certificates are trusted; add roots (a
/// private CA, a self-signed server) with `root_certificates_pem`, and set
/// `only_custom_roots` to trust nothing else. A server whose certificate is
/// not trusted fails the connect with `CONNECTION`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TlsOptions {
    /// Extra trusted root certificates, each a PEM document (may hold several).
    pub root_certificates_pem: Vec<Vec<u8>>,
    /// Trust only `root_certificates_pem`, not the platform's roots.
    pub only_custom_roots: bool,
}

impl TlsOptions {
    /// The rustls client configuration these options describe. A PEM that
    /// holds no certificate, or a bad one, is `INVALID_ARGUMENT`.
    pub(crate) fn client_config(&self) -> crate::error::Result<rustls::ClientConfig> {
        use rustls::pki_types::CertificateDer;
        use rustls::pki_types::pem::PemObject;
        let mut roots = rustls::RootCertStore::empty();
        if !self.only_custom_roots {
            // Unreadable platform certificates are skipped: the custom roots
            // (or a clear "unknown issuer" at connect) still apply.
            let native = rustls_native_certs::load_native_certs();
            roots.add_parsable_certificates(native.certs);
        }
        for pem in &self.root_certificates_pem {
            let certs = CertificateDer::pem_slice_iter(pem).collect::<Result<Vec<_>, _>>().map_err(|e| {
                crate::Error::invalid_argument("tls", format!("bad root certificate PEM: {e}"))
            })?;
            if certs.is_empty() {
                return Err(crate::Error::invalid_argument(
                    "tls",
                    "a root certificate PEM holds no certificate",
                ));
            }
            for cert in certs {
                roots.add(cert).map_err(|e| {
                    crate::Error::invalid_argument("tls", format!("unusable root certificate: {e}"))
                })?;
            }
        }
        // An explicit provider (ring): the process default is ambiguous when
        // two providers are compiled in.
        let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| crate::Error::new(crate::ErrorKind::Connection, format!("TLS setup: {e}")))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        Ok(config)
    }
}

impl ConnectOptions {
    /// Options for `url` with every default: anonymous, no properties.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            principal: None,
            password: None,
            properties: BTreeMap::new(),
            client_type: ClientType::Rust,
            environment: default_environment(),
            connect_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(10),
            listener_buffer: 1024,
            listener_stall_timeout: Duration::from_secs(10),
            tls: TlsOptions::default(),
        }
    }

    /// Authenticates as `principal`.
    pub fn principal(mut self, principal: impl Into<String>) -> Self {
        self.principal = Some(principal.into());
        self
    }

    /// The principal's password.
    pub fn password(mut self, password: impl Into<String>) -> Self {
        self.password = Some(password.into());
        self
    }

    /// Proposes one user property.
    pub fn property(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.properties.insert(key.into(), value.into());
        self
    }

    /// Proposes user properties (added to any already proposed).
    pub fn properties<K: Into<String>, V: Into<String>>(
        mut self,
        properties: impl IntoIterator<Item = (K, V)>,
    ) -> Self {
        self.properties.extend(properties.into_iter().map(|(k, v)| (k.into(), v.into())));
        self
    }

    /// Sets `$ClientType` (bindings: `PYTHON`, `NODE`, `SWIFT`).
    pub fn client_type(mut self, client_type: ClientType) -> Self {
        self.client_type = client_type;
        self
    }

    /// Sets `$Environment` (bindings: e.g. `PYTHON_3.11`).
    pub fn environment(mut self, environment: impl Into<String>) -> Self {
        self.environment = environment.into();
        self
    }

    /// Sets the connect timeout.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Sets the request timeout.
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }

    /// Sets the per-listener buffer capacity (at least 1).
    pub fn listener_buffer(mut self, events: usize) -> Self {
        self.listener_buffer = events.max(1);
        self
    }

    /// Sets how long a full listener buffer may stall the socket reader.
    pub fn listener_stall_timeout(mut self, timeout: Duration) -> Self {
        self.listener_stall_timeout = timeout;
        self
    }

    /// Sets the TLS options.
    pub fn tls(mut self, tls: TlsOptions) -> Self {
        self.tls = tls;
        self
    }
}

impl Default for ConnectOptions {
    /// `ws://127.0.0.1:8080`, anonymous.
    fn default() -> Self {
        Self::new("ws://127.0.0.1:8080")
    }
}

impl fmt::Debug for ConnectOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConnectOptions")
            .field("url", &self.url)
            .field("principal", &self.principal)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("properties", &self.properties)
            .field("client_type", &self.client_type)
            .field("environment", &self.environment)
            .field("connect_timeout", &self.connect_timeout)
            .field("request_timeout", &self.request_timeout)
            .field("listener_buffer", &self.listener_buffer)
            .field("listener_stall_timeout", &self.listener_stall_timeout)
            .field("tls", &self.tls)
            .finish()
    }
}

/// What a session-event listener asks for (SPEC §4.2).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SessionEventParams {
    /// Which sessions; `None` means `all`.
    pub filter: Option<String>,
    /// Which properties events carry: names, `*F` (all fixed), `*U` (all user).
    pub properties: Vec<String>,
    /// Only sessions with `$StartTime` greater than this (ms since the epoch);
    /// no snapshot events for older ones.
    pub after: Option<u64>,
}

impl SessionEventParams {
    /// Every session, no properties, with a snapshot.
    pub fn new() -> Self {
        Self::default()
    }

    /// Only sessions matching `filter`.
    pub fn filter(mut self, filter: impl Into<String>) -> Self {
        self.filter = Some(filter.into());
        self
    }

    /// Events carry these properties.
    pub fn properties<S: Into<String>>(mut self, keys: impl IntoIterator<Item = S>) -> Self {
        self.properties = keys.into_iter().map(Into::into).collect();
        self
    }

    /// Only sessions that started after `after_ms` (ms since the epoch).
    pub fn after(mut self, after_ms: u64) -> Self {
        self.after = Some(after_ms);
        self
    }
}

/// Options for operations on a target (SPEC §4.1).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ControlOptions {
    /// If more sessions match, fail with `LIMIT_EXCEEDED` (carrying the count)
    /// and act on none.
    pub max_targets: Option<u64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_redacts_the_password() {
        let o = ConnectOptions::new("ws://x").principal("p").password("hunter2");
        let text = format!("{o:?}");
        assert!(!text.contains("hunter2"), "{text}");
        assert!(text.contains("<redacted>"));
    }

    #[test]
    fn defaults_match_the_spec() {
        let o = ConnectOptions::new("ws://x");
        assert_eq!(o.client_type, ClientType::Rust);
        assert!(o.environment.starts_with("RUST_1."), "{}", o.environment);
        assert_eq!(o.request_timeout, Duration::from_secs(10));
        assert!(o.principal.is_none() && o.password.is_none());
    }
}
