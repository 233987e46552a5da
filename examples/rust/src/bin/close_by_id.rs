//! Close one session by its id; the closed client sees `CLOSED_BY_CONTROLLER`.

use usher_examples::{client_with, controller, run_tag};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let control = controller().await?;
    let client = client_with("example", &run_tag()).await?;
    println!("client session {}", client.id());

    let closed = control.clients().close(client.id()).await?;
    println!("closed {closed} session");

    let reason = client.closed().await;
    println!("the client saw: {reason}");
    anyhow::ensure!(closed == 1 && reason.as_str() == "CLOSED_BY_CONTROLLER", "unexpected outcome");
    control.close().await?;
    Ok(())
}
