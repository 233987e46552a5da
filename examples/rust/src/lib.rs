//! Shared by the examples: connecting the controller from the environment
//! (`USHER_URL`, `USHER_PRINCIPAL`, `USHER_PASSWORD`, as the CLI does) and
//! opening the sessions the examples act on, so each runs by itself.

use usher_core::client::{ConnectOptions, Session};

/// The url from `USHER_URL` (default `ws://127.0.0.1:8080`).
pub fn url() -> String {
    std::env::var("USHER_URL").unwrap_or_else(|_| "ws://127.0.0.1:8080".to_owned())
}

/// Connects the controller as `USHER_PRINCIPAL` with `USHER_PASSWORD`.
pub async fn controller() -> anyhow::Result<Session> {
    let mut options = ConnectOptions::new(url());
    if let Ok(principal) = std::env::var("USHER_PRINCIPAL") {
        options = options.principal(principal);
    }
    if let Ok(password) = std::env::var("USHER_PASSWORD") {
        options = options.password(password);
    }
    Ok(Session::connect(options).await?)
}

/// An anonymous session with one user property, standing in for a client
/// application.
pub async fn client_with(key: &str, value: &str) -> anyhow::Result<Session> {
    Ok(Session::connect(ConnectOptions::new(url()).property(key, value)).await?)
}

/// A value unique to this run, so examples sharing a server do not meet.
pub fn run_tag() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    format!("{}-{nanos}", std::process::id())
}
