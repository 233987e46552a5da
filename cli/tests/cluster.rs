//! `usher count` and `usher close` against a 3-server cluster (SPEC §7):
//! the per-server breakdown. The servers run in-process, each joined to a
//! real `nats-server` exactly as `usher-server --cluster` joins it.

mod common;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use usher_core::protocol::CloseReason;
use usher_server::config::ClusterSection;

struct Nats(Child);

impl Drop for Nats {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_nats() -> (Nats, String) {
    let port =
        std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("free port").port();
    let child = Command::new("nats-server")
        .args(["-p", &port.to_string(), "-a", "127.0.0.1"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| {
            panic!("nats-server is needed ({e}); run scripts/install-deps.sh (it installs it)")
        });
    let nats = Nats(child);
    let until = Instant::now() + DEADLINE;
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < until, "nats-server did not listen");
        std::thread::sleep(Duration::from_millis(20)); // polling a condition
    }
    (nats, format!("nats://127.0.0.1:{port}"))
}

async fn member(name: &str, nats: &str) -> usher_server::ServerHandle {
    let mut config = usher_server::Config::for_tests(ADMIN_PW, CONTROL_PW, CLIENT_PW);
    config.server.name = name.into();
    config.cluster = Some(ClusterSection { url: nats.into(), ..ClusterSection::default() });
    usher_server::start(config).await.expect("member starts")
}

fn usher(url: &str, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_usher"))
        .env("USHER_URL", url)
        .env("USHER_PRINCIPAL", "admin")
        .env("USHER_PASSWORD", ADMIN_PW)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("usher runs")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn count_and_close_show_every_server() {
    let (_nats, nats) = start_nats();
    let servers = vec![member("a", &nats).await, member("b", &nats).await, member("c", &nats).await];
    let url = servers[0].url().to_owned();
    let admin = connect(&url, Some("admin")).await;
    // Membership: poll until a sees all three.
    within(async {
        while admin.clients().count_detailed("all").await.map(|r| r.per_server.len()).unwrap_or(0) < 3 {
            tokio::time::sleep(Duration::from_millis(50)).await; // polling a condition
        }
    })
    .await;
    let on_b = tagged(servers[1].url(), "grp", "cli").await;
    let on_c1 = tagged(servers[2].url(), "grp", "cli").await;
    let on_c2 = tagged(servers[2].url(), "grp", "cli").await;

    let out = tokio::task::spawn_blocking({
        let url = url.clone();
        move || usher(&url, &["count", "grp is 'cli'"])
    })
    .await
    .expect("join");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{stdout} {}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(stdout, "3\n  a: 0\n  b: 1\n  c: 2\n");

    let out = tokio::task::spawn_blocking(move || usher(&url, &["close", "--yes", "grp is 'cli'"]))
        .await
        .expect("join");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{stdout} {}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(stdout, "closed 3 sessions\n  a: 0\n  b: 1\n  c: 2\n");
    for s in [&on_b, &on_c1, &on_c2] {
        assert_eq!(within(s.closed()).await, CloseReason::ClosedByController);
    }
    for s in servers {
        s.shutdown().await;
    }
}
