//! The Rust runner of the conformance suite (tests/conformance/README.md):
//! every scenario against fresh peers (a real `usher-server`, or what the
//! scenario asks for), through usher-core's client; writes
//! `target/conformance/rust.json` (scenario -> pass/fail + message).
//!
//! `cargo run -p usher-conformance -- [--only NAME-PART]`
//!
//! The same binary is the peer helper every runner starts for the scenarios
//! that need more than one plain server:
//! `usher-conformance cluster --servers N [--deadline-ms D]` (cluster.rs) and
//! `usher-conformance fake-server` (fake.rs).

mod backend;
mod cluster;
mod fake;
mod interp;
mod matching;
mod peers;
mod server;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::{Map, Value, json};

const SCENARIO_TIMEOUT: Duration = Duration::from_secs(120);

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../..")
}

async fn run_one(scenario: &Value) -> anyhow::Result<()> {
    let mut peers = peers::Peers::start(scenario).await?;
    let outcome = tokio::time::timeout(SCENARIO_TIMEOUT, interp::Run::new(&mut peers).run(scenario)).await;
    peers.stop().await;
    outcome.map_err(|_| anyhow::anyhow!("scenario not done within {SCENARIO_TIMEOUT:?}"))?
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        // Blocking on purpose: threads read the children's pipes.
        Some("cluster") => return tokio::task::block_in_place(|| cluster::main(&args[2..])),
        Some("fake-server") => return fake::main().await,
        _ => {}
    }
    let only = args.iter().position(|a| a == "--only").and_then(|i| args.get(i + 1)).cloned();
    let folder = root().join("tests/conformance/scenarios");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&folder)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    let mut results = Map::new();
    for path in files {
        let name = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
        if only.as_ref().is_some_and(|o| !name.contains(o.as_str())) {
            continue;
        }
        let started = Instant::now();
        let outcome = match std::fs::read_to_string(&path).map(|t| serde_json::from_str::<Value>(&t)) {
            Ok(Ok(scenario)) => run_one(&scenario).await,
            Ok(Err(e)) => Err(anyhow::anyhow!("{}: {e}", path.display())),
            Err(e) => Err(anyhow::anyhow!("{}: {e}", path.display())),
        };
        let message = outcome.as_ref().err().map(|e| format!("{e:#}")).unwrap_or_default();
        let verdict = if outcome.is_ok() { "pass".to_owned() } else { format!("FAIL {message}") };
        println!("conformance[rust] {name}: {verdict} ({} ms)", started.elapsed().as_millis());
        results.insert(name, json!({"pass": outcome.is_ok(), "message": message}));
    }
    let target =
        std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|| root().join("target"));
    let out = target.join("conformance");
    std::fs::create_dir_all(&out)?;
    std::fs::write(
        out.join("rust.json"),
        serde_json::to_string_pretty(&Value::Object(results.clone()))? + "\n",
    )?;
    let failed = results.values().filter(|r| r["pass"] != true).count();
    if failed > 0 {
        std::process::exit(1);
    }
    Ok(())
}
