//! The `usher` binary driven as a user would: spawned with the environment a
//! user sets, stdin fed, stdout and stderr read, exit codes checked.

mod common;

use std::process::{Output, Stdio};

use common::*;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::Command;
use usher_core::client::Session;
use usher_core::protocol::CloseReason;

fn usher(url: &str, principal: &str) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_usher"));
    let password = match principal {
        "admin" => ADMIN_PW,
        "control" => CONTROL_PW,
        "client" => CLIENT_PW,
        _ => "",
    };
    cmd.env("USHER_URL", url)
        .env("USHER_PRINCIPAL", principal)
        .env("USHER_PASSWORD", password)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    cmd
}

/// Runs to completion, feeding `stdin`.
async fn run(mut cmd: Command, args: &[&str], stdin: &str) -> Output {
    cmd.args(args).stdin(Stdio::piped());
    let mut child = cmd.spawn().expect("spawn usher");
    if let Some(mut pipe) = child.stdin.take() {
        let _ = pipe.write_all(stdin.as_bytes()).await;
    }
    within(child.wait_with_output()).await.expect("usher runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn code(output: &Output) -> Option<i32> {
    output.status.code()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn close_by_id_prints_the_count_and_the_victim_sees_the_reason() {
    let server = server().await;
    let victim = connect(server.url(), None).await;
    let out = run(usher(server.url(), "control"), &["close", &victim.id().to_string()], "").await;
    assert_eq!(code(&out), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("closed 1 session"), "{}", text(&out.stdout));
    assert_eq!(within(victim.closed()).await, CloseReason::ClosedByController);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn close_by_filter_asks_above_ten_and_respects_the_answer() {
    let server = server().await;
    let mut victims = Vec::new();
    for _ in 0..11 {
        victims.push(tagged(server.url(), "group", "many").await);
    }
    let filter = "group is 'many'";
    let out = run(usher(server.url(), "control"), &["close", filter], "n\n").await;
    assert_eq!(code(&out), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("11 sessions match"), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("nothing closed"));
    assert!(victims.iter().all(|v| v.close_reason().is_none()));

    let out = run(usher(server.url(), "control"), &["close", filter], "y\n").await;
    assert_eq!(code(&out), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("closed 11 sessions"), "{}", text(&out.stdout));
    for v in &victims {
        assert_eq!(within(v.closed()).await, CloseReason::ClosedByController);
    }

    // --yes does not ask (stdin is closed: a question would read "no").
    let few: Vec<Session> =
        futures_util::future::join_all((0..12).map(|_| tagged(server.url(), "group", "yes"))).await;
    let out = run(usher(server.url(), "control"), &["close", "group is 'yes'", "--yes"], "").await;
    assert_eq!(code(&out), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("closed 12 sessions"), "{}", text(&out.stdout));
    drop(few);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_table_and_count() {
    let server = server().await;
    let a = tagged(server.url(), "team", "ops").await;
    let out = run(usher(server.url(), "control"), &["sessions", "--properties", "$Principal,team"], "").await;
    assert_eq!(code(&out), Some(0), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let header = stdout.lines().next().unwrap_or_default();
    assert!(header.starts_with("SESSION") && header.contains("team"), "{stdout}");
    let row = stdout.lines().find(|l| l.starts_with(&a.id().to_string())).unwrap_or_default();
    assert!(row.trim_end().ends_with("ops"), "{stdout}");
    assert!(stdout.contains("2 of 2 matching sessions shown"), "{stdout}");

    let out = run(usher(server.url(), "control"), &["sessions", "team is 'ops'", "--json"], "").await;
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(json.as_array().map(Vec::len), Some(1));

    let out = run(usher(server.url(), "control"), &["count", "team is 'ops'"], "").await;
    assert_eq!(code(&out), Some(0), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert_eq!(stdout.lines().next(), Some("1"), "{stdout}");
    assert!(stdout.contains("test-server: 1"), "{stdout}");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn roles_props_conflate_throttle() {
    let server = server().await;
    let control = connect(server.url(), Some("control")).await;
    let victim = tagged(server.url(), "team", "ops").await;
    let id = victim.id().to_string();

    let next = victim.roles_changed();
    let out = run(usher(server.url(), "control"), &["roles", &id, "--add", "TOPIC_CONTROL"], "").await;
    assert_eq!(code(&out), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("changed the roles of 1 session"));
    assert!(within(next).await.expect("roles").contains(&"TOPIC_CONTROL".to_owned()));
    let out = run(usher(server.url(), "control"), &["roles", &id], "").await;
    assert_eq!(code(&out), Some(2), "neither --add nor --remove is a usage error");

    let out = run(usher(server.url(), "control"), &["props", "get", &id], "").await;
    assert_eq!(code(&out), Some(0), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(stdout.lines().any(|l| l == "team=ops"), "{stdout}");
    assert!(stdout.lines().any(|l| l == format!("$SessionId={id}")), "{stdout}");

    let out = run(usher(server.url(), "control"), &["props", "set", &id, "team=", "zone=eu"], "").await;
    assert_eq!(code(&out), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("set properties on 1 session"));
    let props = within(control.clients().get_session_properties(victim.id(), ["*U"])).await.expect("get");
    assert_eq!(props.get("zone").map(String::as_str), Some("eu"));
    assert!(!props.contains_key("team"));
    let out = run(usher(server.url(), "control"), &["props", "set", &id, "novalue"], "").await;
    assert_eq!(code(&out), Some(2));

    let out = run(usher(server.url(), "control"), &["conflate", &id, "on"], "").await;
    assert_eq!(code(&out), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("conflation on for 1 session"));
    let out = run(usher(server.url(), "control"), &["throttle", &id, "msgs=10"], "").await;
    assert_eq!(code(&out), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("throttler set for 1 session"));
    let out = run(usher(server.url(), "control"), &["throttle", &id, "fast"], "").await;
    assert_eq!(code(&out), Some(2));
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_name_the_permission_and_render_filter_problems() {
    let server = server().await;
    let victim = connect(server.url(), None).await;
    let out = run(usher(server.url(), "client"), &["close", &victim.id().to_string()], "").await;
    assert_eq!(code(&out), Some(1));
    assert!(text(&out.stderr).contains("MODIFY_SESSION"), "{}", text(&out.stderr));
    assert!(victim.close_reason().is_none());

    let out = run(usher(server.url(), "control"), &["count", "$Principal is"], "").await;
    assert_eq!(code(&out), Some(1));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("invalid filter"), "{stderr}");
    // Line and column, and a caret under the filter text.
    assert!(stderr.contains("1:"), "{stderr}");
    assert!(stderr.lines().any(|l| l.trim_end().ends_with('^')), "{stderr}");
    assert!(stderr.lines().any(|l| l.contains("$Principal is")), "{stderr}");

    let out = run(usher(server.url(), "control"), &[], "").await;
    assert_eq!(code(&out), Some(2), "no subcommand is a usage error");
    let mut bad = usher(server.url(), "control");
    bad.env("USHER_PASSWORD", "wrong");
    let out = run(bad, &["count", "all"], "").await;
    assert_eq!(code(&out), Some(1));
    assert!(text(&out.stderr).contains("authentication failed"), "{}", text(&out.stderr));
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_shows_an_open_and_a_close() {
    let server = server().await;
    let mut cmd = usher(server.url(), "control");
    cmd.args(["watch", "--properties", "team"]);
    let mut child = cmd.spawn().expect("spawn");
    let mut stdout = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let mut stderr = BufReader::new(child.stderr.take().expect("stderr")).lines();
    // Registered once it says so (after its snapshot).
    within(async {
        while let Ok(Some(line)) = stderr.next_line().await {
            if line.contains("watching") {
                return;
            }
        }
        panic!("watch never started");
    })
    .await;
    let newcomer = tagged(server.url(), "team", "blue").await;
    let id = newcomer.id().to_string();
    let mut next_line_with = async |needle: String| {
        within(async {
            while let Ok(Some(line)) = stdout.next_line().await {
                if line.contains(&needle) {
                    return line;
                }
            }
            panic!("no line with {needle}");
        })
        .await
    };
    let opened = next_line_with(format!("ACTIVE {id}")).await;
    assert!(opened.contains("team=blue"), "{opened}");
    within(newcomer.close()).await.expect("close");
    let closed = next_line_with(format!("CLOSED {id}")).await;
    assert!(closed.contains("CLOSED_BY_CLIENT"), "{closed}");
    let _ = child.kill().await;
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queue_events_prints_policy_changes() {
    let server = server().await;
    let control = connect(server.url(), Some("admin")).await;
    let victim = connect(server.url(), None).await;
    let mut cmd = usher(server.url(), "control");
    cmd.arg("queue-events");
    let mut child = cmd.spawn().expect("spawn");
    let mut stdout = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let mut stderr = BufReader::new(child.stderr.take().expect("stderr")).lines();
    within(async {
        while let Ok(Some(line)) = stderr.next_line().await {
            if line.contains("watching") {
                return;
            }
        }
        panic!("queue-events never started");
    })
    .await;
    assert_eq!(within(control.clients().set_conflated(victim.id(), true)).await, Ok(1));
    let needle = format!("POLICY {}", victim.id());
    let line = within(async {
        while let Ok(Some(line)) = stdout.next_line().await {
            if line.starts_with(&needle) {
                return line;
            }
        }
        panic!("no {needle} line");
    })
    .await;
    assert!(line.contains("conflated=on"), "{line}");
    let _ = child.kill().await;
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hash_password_prints_a_verifiable_argon2id_hash() {
    use argon2::password_hash::{PasswordHash, PasswordVerifier};
    let out = run(usher("ws://127.0.0.1:1", ""), &["hash-password"], "s3cret\n").await;
    assert_eq!(code(&out), Some(0), "{}", text(&out.stderr));
    let hash = text(&out.stdout).trim().to_owned();
    assert!(hash.starts_with("$argon2id$"), "{hash}");
    let parsed = PasswordHash::new(&hash).expect("PHC");
    assert!(argon2::Argon2::default().verify_password(b"s3cret", &parsed).is_ok());
    assert!(argon2::Argon2::default().verify_password(b"other", &parsed).is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_holds_sessions_until_a_controller_closes_them() {
    let server = server().await;
    let mut cmd = usher(server.url(), "client");
    cmd.args(["connect", "--count", "2", "--property", "desk=fx"]);
    let mut child = cmd.spawn().expect("spawn");
    let mut stdout = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let mut ids = Vec::new();
    while ids.len() < 2 {
        let line = within(stdout.next_line()).await.expect("read").expect("a connected line");
        let id = line.strip_prefix("connected ").expect("connected ID");
        ids.push(id.to_owned());
    }
    let admin = connect(server.url(), Some("admin")).await;
    let closed = within(admin.clients().close("desk is 'fx' and $Principal is 'client'")).await;
    assert_eq!(closed.expect("close"), 2);
    let mut seen = Vec::new();
    while let Some(line) = within(stdout.next_line()).await.expect("read") {
        seen.push(line);
    }
    for id in &ids {
        assert!(seen.contains(&format!("closed {id} CLOSED_BY_CONTROLLER")), "{seen:?}");
    }
    let status = within(child.wait()).await.expect("exits");
    assert_eq!(status.code(), Some(0));
    server.shutdown().await;
}
