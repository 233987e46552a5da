//! Runs every example binary to completion against an in-process test
//! server, as the controller `control`.

use std::process::Stdio;
use std::time::Duration;

use tokio::process::Command;

const CONTROL_PW: &str = "control-example-pw";

async fn run_example(server: &usher_server::ServerHandle, binary: &str) {
    let output = Command::new(binary)
        .env("USHER_URL", server.url())
        .env("USHER_PRINCIPAL", "control")
        .env("USHER_PASSWORD", CONTROL_PW)
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(Duration::from_secs(90), output)
        .await
        .unwrap_or_else(|_| panic!("{binary} did not finish"))
        .expect("the example runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{binary} failed\n--- stdout\n{stdout}\n--- stderr\n{stderr}");
}

async fn server() -> usher_server::ServerHandle {
    usher_server::start(usher_server::Config::for_tests("admin-example-pw", CONTROL_PW, "client-example-pw"))
        .await
        .expect("test server starts")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn close_by_id() {
    let server = server().await;
    run_example(&server, env!("CARGO_BIN_EXE_close_by_id")).await;
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn close_by_filter() {
    let server = server().await;
    run_example(&server, env!("CARGO_BIN_EXE_close_by_filter")).await;
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn change_roles_by_id() {
    let server = server().await;
    run_example(&server, env!("CARGO_BIN_EXE_change_roles_by_id")).await;
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn change_roles_by_filter() {
    let server = server().await;
    run_example(&server, env!("CARGO_BIN_EXE_change_roles_by_filter")).await;
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queue_handler() {
    let server = server().await;
    run_example(&server, env!("CARGO_BIN_EXE_queue_handler")).await;
    server.shutdown().await;
}
