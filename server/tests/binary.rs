//! The `usher-server` binary and the example configuration.

mod support;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};

use support::*;
use usher_core::protocol::CloseReason;

#[test]
fn example_config_loads() -> anyhow::Result<()> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../usher.example.toml");
    let config = usher_server::Config::load(&path)?;
    assert_eq!(config.server.name, "usher-example");
    assert_eq!(config.listeners.len(), 2);
    assert_eq!(config.listeners[1].queue.max_depth, 10_000);
    let store = config.store.as_ref().map(|s| s.principals.len());
    assert!(store.is_some_and(|n| n > 0), "the store file was loaded");
    Ok(())
}

#[test]
fn bad_config_is_refused_with_its_reason() -> anyhow::Result<()> {
    let dir = std::env::temp_dir().join(format!("usher-config-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let path = dir.join("bad.toml");
    std::fs::write(
        &path,
        "[[listeners]]\nname = \"a\"\n[listeners.queue]\nupper_threshold = 10\nlower_threshold = 20\n",
    )?;
    let err = usher_server::Config::load(&path).err().map(|e| format!("{e:#}"));
    assert!(err.as_deref().is_some_and(|e| e.contains("threshold")), "{err:?}");
    std::fs::write(&path, "[server]\nnmae = \"typo\"\n")?;
    assert!(usher_server::Config::load(&path).is_err());
    Ok(())
}

#[tokio::test]
async fn embedded_default_prints_passwords_then_listening_and_stops_on_sigterm() -> anyhow::Result<()> {
    let mut child = Command::new(env!("CARGO_BIN_EXE_usher-server"))
        .args(["--listen", "127.0.0.1:0"])
        .env("USHER_ADMIN_PASSWORD", "from-env")
        .env_remove("USHER_CONTROL_PASSWORD")
        .env_remove("USHER_CLIENT_PASSWORD")
        .env("RUST_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    let stdout = child.stdout.take().ok_or_else(|| anyhow::anyhow!("no stdout"))?;
    let lines = tokio::task::spawn_blocking(move || {
        let mut lines = Vec::new();
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            let done = line.starts_with("usher-server listening on ");
            lines.push(line);
            if done {
                break;
            }
        }
        lines
    });
    let lines = tokio::time::timeout(DEADLINE * 4, lines).await??;
    assert_eq!(lines.len(), 3, "{lines:?}");
    let generated: Vec<(&str, &str)> = lines[..2]
        .iter()
        .filter_map(|l| l.strip_prefix("generated password for ")?.split_once(": "))
        .collect();
    assert_eq!(generated.iter().map(|(p, _)| *p).collect::<Vec<_>>(), ["control", "client"]);
    let url = lines[2].trim_start_matches("usher-server listening on ").to_owned();
    assert!(url.starts_with("ws://127.0.0.1:"));
    // The printed and the environment's passwords work.
    let (_, control_pw) = generated[0];
    let mut c = connect(&url, Some(("control", control_pw)), &[]).await?;
    let _a = connect(&url, Some(("admin", "from-env")), &[]).await?;
    // A control operation leaves an audit line.
    let me = c.id();
    c.get_properties(me, &["$Principal"]).await?;
    // SIGTERM: every session closed with SERVER_SHUTDOWN, exit 0.
    let pid = child.id().to_string();
    Command::new("kill").args(["-TERM", &pid]).status()?;
    assert_eq!(c.closed_reason().await?, Some(CloseReason::ServerShutdown));
    let status = tokio::task::spawn_blocking(move || child.wait_with_output()).await??;
    assert!(status.status.success(), "{status:?}");
    // Nothing secret in the log.
    let log = String::from_utf8_lossy(&status.stderr);
    assert!(!log.contains(control_pw) && !log.contains("from-env") && !log.contains("$argon2"), "{log}");
    let audit = log.lines().find(|l| l.contains("usher::audit")).unwrap_or_default();
    assert!(
        audit.contains("getSessionProperties")
            && audit.contains("control")
            && audit.contains(&me.to_string()),
        "{log}"
    );
    Ok(())
}
