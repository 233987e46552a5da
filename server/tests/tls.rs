//! `wss://` (SPEC §6, §8): a listener with a certificate speaks TLS; the Rust
//! client trusts it only through its `TlsOptions`; plain `ws://` to the TLS
//! port fails cleanly and the server carries on.

mod support;

use std::path::PathBuf;

use support::*;
use usher_core::ErrorKind;
use usher_core::client::{ConnectOptions, Session, TlsOptions};

/// A self-signed certificate for 127.0.0.1 / localhost, written as PEM
/// files; returns (certificate PEM, its path, the key's path).
fn certificate(tag: &str) -> anyhow::Result<(String, PathBuf, PathBuf)> {
    let generated = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])?;
    let dir = std::env::temp_dir().join(format!("usher-tls-{}-{tag}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    let pem = generated.cert.pem();
    std::fs::write(&cert, &pem)?;
    std::fs::write(&key, generated.signing_key.serialize_pem())?;
    Ok((pem, cert, key))
}

async fn tls_server(tag: &str) -> anyhow::Result<(usher_server::ServerHandle, String)> {
    let (pem, cert, key) = certificate(tag)?;
    let mut config = config();
    config.listeners = vec![usher_server::config::ListenerConfig {
        address: "127.0.0.1:0".parse()?,
        tls: Some(usher_server::config::TlsFiles { certificate: cert, private_key: key }),
        ..Default::default()
    }];
    Ok((usher_server::start(config).await?, pem))
}

fn trusting(url: &str, pem: &str) -> ConnectOptions {
    let tls = TlsOptions { root_certificates_pem: vec![pem.as_bytes().to_vec()], only_custom_roots: true };
    ConnectOptions::new(url).principal("control").password(CONTROL_PW).tls(tls)
}

#[tokio::test]
async fn wss_works_when_the_certificate_is_trusted() -> anyhow::Result<()> {
    let (server, pem) = tls_server("ok").await?;
    assert!(server.url().starts_with("wss://127.0.0.1:"), "{}", server.url());
    let session = Session::connect(trusting(server.url(), &pem)).await?;
    let props = session.clients().get_session_properties(session.id(), ["$Transport"]).await?;
    assert_eq!(props.get("$Transport").map(String::as_str), Some("WEBSOCKET_TLS"));
    // Graceful close works over TLS too.
    let other = Session::connect(trusting(server.url(), &pem)).await?;
    assert_eq!(session.clients().close(other.id()).await?, 1);
    assert_eq!(other.closed().await, usher_core::protocol::CloseReason::ClosedByController);
    server.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn an_untrusted_certificate_is_refused_with_connection() -> anyhow::Result<()> {
    let (server, pem) = tls_server("untrusted").await?;
    // The platform's roots do not include a fresh self-signed certificate.
    let e = Session::connect(ConnectOptions::new(server.url())).await.expect_err("untrusted");
    assert_eq!(e.kind, ErrorKind::Connection, "{e}");
    // Neither does another self-signed certificate.
    let (other_pem, _, _) = certificate("untrusted-other")?;
    let e = Session::connect(trusting(server.url(), &other_pem)).await.expect_err("untrusted");
    assert_eq!(e.kind, ErrorKind::Connection, "{e}");
    // A PEM that holds no certificate is the caller's mistake.
    let bad = TlsOptions { root_certificates_pem: vec![b"not a pem".to_vec()], only_custom_roots: true };
    let e = Session::connect(ConnectOptions::new(server.url()).tls(bad)).await.expect_err("bad pem");
    assert_eq!(e.kind, ErrorKind::InvalidArgument, "{e}");
    // The server is unharmed.
    Session::connect(trusting(server.url(), &pem)).await?;
    server.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn plain_ws_to_the_tls_port_fails_cleanly() -> anyhow::Result<()> {
    let (server, pem) = tls_server("plain").await?;
    let plain = server.url().replacen("wss://", "ws://", 1);
    // The raw test client (no TLS): the upgrade fails, nothing hangs.
    let attempt = tokio::time::timeout(DEADLINE, tokio_tungstenite::connect_async(plain.as_str())).await?;
    assert!(attempt.is_err(), "a plain upgrade on the TLS port succeeded");
    let e = Session::connect(ConnectOptions::new(plain.as_str())).await.expect_err("plain on TLS");
    assert_eq!(e.kind, ErrorKind::Connection, "{e}");
    // The server survives and keeps serving TLS.
    let session = Session::connect(trusting(server.url(), &pem)).await?;
    assert_eq!(server.session_count(), 1);
    drop(session);
    server.shutdown().await;
    Ok(())
}
