//! Credentials never reach a log (SPEC §8) and the embedded default never
//! opens with a well-known password (SPEC §2.4), checked on the real
//! `usher-server` binary at its most verbose log level.

mod support;

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Stdio};

use support::*;
use usher_core::protocol::CloseReason;

/// A running binary: its stdout lines up to and including the listening
/// line, and the URL from it.
struct Running {
    child: Child,
    before_listening: Vec<String>,
    url: String,
    stdout: std::process::ChildStdout,
    /// Read from the start on its own thread: a trace-level log fills the
    /// pipe in no time and would block the server.
    stderr: std::thread::JoinHandle<String>,
}

async fn spawn(configure: impl FnOnce(&mut Command)) -> anyhow::Result<Running> {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_usher-server"));
    cmd.args(["--listen", "127.0.0.1:0"])
        .env_remove("USHER_ADMIN_PASSWORD")
        .env_remove("USHER_CONTROL_PASSWORD")
        .env_remove("USHER_CLIENT_PASSWORD")
        .env("RUST_LOG", "trace")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    configure(&mut cmd);
    let mut child = cmd.spawn()?;
    let stdout = child.stdout.take().ok_or_else(|| anyhow::anyhow!("no stdout"))?;
    let mut err_pipe = child.stderr.take().ok_or_else(|| anyhow::anyhow!("no stderr"))?;
    let stderr = std::thread::spawn(move || {
        let mut text = Vec::new();
        let _ = err_pipe.read_to_end(&mut text);
        String::from_utf8_lossy(&text).into_owned()
    });
    let read = tokio::task::spawn_blocking(move || {
        let mut reader = BufReader::new(stdout);
        let mut lines = Vec::new();
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                break;
            }
            let line = line.trim_end().to_owned();
            let done = line.starts_with("usher-server listening on ");
            lines.push(line);
            if done {
                break;
            }
        }
        (lines, reader.into_inner())
    });
    let read = tokio::time::timeout(DEADLINE * 4, read).await;
    let Ok(read) = read else {
        let _ = child.kill();
        anyhow::bail!("no listening line in time");
    };
    let (mut lines, stdout) = read?;
    let last = lines.pop().unwrap_or_default();
    let Some(url) = last.strip_prefix("usher-server listening on ").map(str::to_owned) else {
        let _ = child.kill();
        anyhow::bail!("no listening line: {lines:?} {last}");
    };
    Ok(Running { child, before_listening: lines, url, stdout, stderr })
}

impl Running {
    /// Stops the server (SIGTERM) and returns (the rest of stdout, stderr).
    async fn stop(self) -> anyhow::Result<(String, String)> {
        Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status()?;
        let (mut stdout, mut child, stderr) = (self.stdout, self.child, self.stderr);
        let out = tokio::task::spawn_blocking(move || {
            let mut rest = String::new();
            let _ = stdout.read_to_string(&mut rest);
            let status = child.wait();
            (rest, status, stderr.join().unwrap_or_default())
        });
        let (rest, status, stderr) = tokio::time::timeout(DEADLINE * 4, out).await??;
        assert!(status?.success(), "{stderr}");
        Ok((rest, stderr))
    }

    fn generated(&self) -> Vec<(String, String)> {
        self.before_listening
            .iter()
            .filter_map(|l| l.strip_prefix("generated password for ")?.split_once(": "))
            .map(|(p, pw)| (p.to_owned(), pw.to_owned()))
            .collect()
    }
}

/// Every fragment of a PHC hash worth hiding: the whole hash, its salt and
/// its output (the parts after the parameters).
fn hash_fragments(hash: &str) -> Vec<String> {
    let mut parts: Vec<String> = hash.split('$').filter(|p| p.len() >= 16).map(str::to_owned).collect();
    parts.push(hash.to_owned());
    parts
}

#[tokio::test]
async fn no_password_or_hash_in_any_output_at_trace_level() -> anyhow::Result<()> {
    let dir = std::env::temp_dir().join(format!("usher-credentials-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let (good, wrong) = ("correct-horse-battery", "wrong-staple-guess");
    let hash = usher_server::hash_password(good)?;
    std::fs::write(
        dir.join("store.toml"),
        format!(
            "[anonymous]\nroles = [\"CLIENT\"]\n[principals.alice]\npassword_hash = \"{hash}\"\nroles = [\"CLIENT_CONTROL\"]\n"
        ),
    )?;
    std::fs::write(dir.join("usher.toml"), "[security]\nstore = \"store.toml\"\n")?;
    let config = dir.join("usher.toml");
    let server = spawn(|c| {
        c.arg("--config").arg(&config);
    })
    .await?;
    assert!(server.generated().is_empty(), "a configured store generates nothing");
    // A successful login, a control operation, and failed logins: with the
    // wrong password, with the right password for another principal, and
    // with the right one sent as the principal name's password.
    let mut alice = connect(&server.url, Some(("alice", good)), &[]).await?;
    let me = alice.id();
    alice.get_properties(me, &["$Principal"]).await?;
    for (principal, password) in [("alice", wrong), ("bob", good), ("bob", wrong)] {
        let Outcome::Reject(r) = try_connect(&server.url, hello(Some((principal, password)), &[])).await?
        else {
            anyhow::bail!("{principal} logged in with a bad password");
        };
        assert_eq!(r.reason, CloseReason::AuthenticationFailed);
    }
    drop(alice);
    let (stdout, stderr) = server.stop().await?;
    assert!(stderr.contains("authentication failed"), "the failures were logged: {stderr}");
    assert!(stderr.contains("TRACE") || stderr.contains("DEBUG"), "the log was verbose");
    let mut secrets = vec![good.to_owned(), wrong.to_owned(), "$argon2".to_owned()];
    secrets.extend(hash_fragments(&hash));
    for secret in &secrets {
        assert!(!stderr.contains(secret.as_str()), "{secret:?} in the log");
        assert!(!stdout.contains(secret.as_str()), "{secret:?} on stdout");
    }
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

#[tokio::test]
async fn embedded_default_passwords_are_generated_or_given() -> anyhow::Result<()> {
    // Two starts without the variables: every password generated, all
    // different between the starts, none of them in the log.
    let mut runs = Vec::new();
    for _ in 0..2 {
        let server = spawn(|_| {}).await?;
        let generated = server.generated();
        let names: Vec<&str> = generated.iter().map(|(p, _)| p.as_str()).collect();
        assert_eq!(names, ["admin", "control", "client"], "{:?}", server.before_listening);
        for (principal, password) in &generated {
            assert!(password.len() >= 16, "{principal}: a short password {password:?}");
            connect(&server.url, Some((principal, password)), &[]).await?;
        }
        let (stdout, stderr) = server.stop().await?;
        assert!(!stderr.contains("$argon2") && !stdout.contains("$argon2"), "a hash was printed");
        for (_, password) in &generated {
            assert!(!stderr.contains(password.as_str()), "a generated password in the log");
            assert!(!stdout.contains(password.as_str()), "a password after the listening line");
        }
        runs.push(generated);
    }
    for ((p, first), (_, second)) in runs[0].iter().zip(&runs[1]) {
        assert_ne!(first, second, "{p} got the same password twice");
    }
    // With the variables, those passwords work and nothing is printed.
    let server = spawn(|c| {
        c.env("USHER_ADMIN_PASSWORD", "admin-from-env")
            .env("USHER_CONTROL_PASSWORD", "control-from-env")
            .env("USHER_CLIENT_PASSWORD", "client-from-env");
    })
    .await?;
    assert!(server.generated().is_empty(), "{:?}", server.before_listening);
    for principal in ["admin", "control", "client"] {
        connect(&server.url, Some((principal, &format!("{principal}-from-env"))), &[]).await?;
        let wrong = try_connect(&server.url, hello(Some((principal, "admin-pw")), &[])).await?;
        assert!(matches!(wrong, Outcome::Reject(_)), "{principal} opened with a test password");
    }
    let (stdout, stderr) = server.stop().await?;
    assert!(!stdout.contains("-from-env") && !stderr.contains("-from-env"));
    Ok(())
}
