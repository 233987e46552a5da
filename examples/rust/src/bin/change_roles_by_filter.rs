//! Change the roles of every session a filter selects; the detailed result
//! says how many matched and how many the dominance rule skipped.

use usher_core::client::NO_ROLES;
use usher_examples::{client_with, controller, run_tag};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let control = controller().await?;
    let tag = run_tag();
    let mut clients = Vec::new();
    for _ in 0..3 {
        clients.push(client_with("example", &format!("promote-{tag}")).await?);
    }

    let filter = format!("example is 'promote-{tag}'");
    let result =
        control.clients().change_roles_detailed(filter.as_str(), NO_ROLES, ["TOPIC_CONTROL"]).await?;
    println!("{filter}: {} matched, {} skipped by dominance", result.total, result.denied);

    let check = format!("{filter} and hasRoles ['TOPIC_CONTROL']");
    let promoted = control.clients().count(check.as_str()).await?;
    println!("{promoted} sessions now have TOPIC_CONTROL");
    anyhow::ensure!(result.total == 3 && promoted == 3, "unexpected outcome");
    for client in clients {
        client.close().await?;
    }
    control.close().await?;
    Ok(())
}
