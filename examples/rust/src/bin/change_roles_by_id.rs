//! Give one session a role by its id; the session is told its new roles.

use usher_core::client::NO_ROLES;
use usher_examples::{client_with, controller, run_tag};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let control = controller().await?;
    let client = client_with("example", &run_tag()).await?;
    println!("client {} starts with {:?}", client.id(), client.roles());

    let told = client.roles_changed();
    let changed = control.clients().change_roles(client.id(), NO_ROLES, ["TOPIC_CONTROL"]).await?;
    println!("changed the roles of {changed} session");
    let roles = told.await?;
    println!("the client now has {roles:?}");
    anyhow::ensure!(roles.iter().any(|r| r == "TOPIC_CONTROL"), "the role was not added");

    // And back.
    control.clients().change_roles(client.id(), ["TOPIC_CONTROL"], NO_ROLES).await?;
    client.close().await?;
    control.close().await?;
    Ok(())
}
