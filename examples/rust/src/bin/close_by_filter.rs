//! Close every session a filter selects, leaving the others alone.

use usher_examples::{client_with, controller, run_tag};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let control = controller().await?;
    let tag = run_tag();
    let mut doomed = Vec::new();
    for _ in 0..3 {
        doomed.push(client_with("example", &format!("doomed-{tag}")).await?);
    }
    let survivor = client_with("example", &format!("kept-{tag}")).await?;

    let filter = format!("example is 'doomed-{tag}'");
    let result = control.clients().close_detailed(filter.as_str()).await?;
    println!(
        "{filter}: closed {} sessions ({} per server: {:?})",
        result.total,
        result.per_server.len(),
        result.per_server
    );

    for client in &doomed {
        println!("{} saw {}", client.id(), client.closed().await);
    }
    println!("{} is still open: {}", survivor.id(), !survivor.is_closed());
    anyhow::ensure!(result.total == 3 && !survivor.is_closed(), "unexpected outcome");
    control.close().await?;
    Ok(())
}
