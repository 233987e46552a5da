//! P6: by-id control operations pipelined from one Rust client (the real
//! `usher_core::client`), 64 in flight: `getSessionProperties(id, ['$Roles',
//! 'Half'])` and `changeRoles(id, …)` alternating, the latter adding then
//! removing `TOPIC_CONTROL` so every one is a real change. Targets are 64
//! sessions of the fleet, found with `fetchSessions`. Also printed, as
//! `INFO`: the server's and the client's (this process's) CPU per operation.

use anyhow::{Context, bail};
use futures_util::StreamExt;
use usher_core::SessionId;
use usher_core::client::NO_ROLES;
use usher_core::protocol::FetchRequest;

use super::{Ctx, controller, report};
use crate::clock::monotonic_ns;
use crate::fleet::Fleet;
use crate::server::cpu_seconds;

const IN_FLIGHT: usize = 64;
const TARGETS: usize = 64;

pub(super) async fn p6(ctx: &Ctx) -> anyhow::Result<()> {
    let server = ctx.start_server()?;
    let mut fleet = Fleet::spawn(server.url(), TARGETS, 1)?;
    fleet.open(TARGETS, TARGETS, None)?;
    let control = controller(server.url()).await?;
    let clients = control.clients();
    let page = clients
        .fetch_sessions(FetchRequest {
            filter: "has Half".into(),
            limit: Some(TARGETS as u32),
            ..FetchRequest::default()
        })
        .await?;
    let ids: Vec<SessionId> = page.sessions.iter().map(|s| s.id).collect();
    if ids.len() != TARGETS {
        bail!("P6: found {} target sessions, expected {TARGETS}", ids.len());
    }
    let ops = ctx.sizes.p6_ops;
    let (mut rates, mut server_us, mut client_us) = (Vec::new(), Vec::new(), Vec::new());
    let me = std::process::id();
    for _ in 0..ctx.sizes.runs {
        let (s0, c0) = (server.cpu_seconds()?, cpu_seconds(me)?);
        let start = monotonic_ns();
        let results = futures_util::stream::iter(0..ops)
            .map(|i| {
                let id = ids[(i / 2) % TARGETS];
                let clients = clients.clone();
                async move {
                    if i.is_multiple_of(2) {
                        clients.get_session_properties(id, ["$Roles", "Half"]).await.map(|_| ())
                    } else if (i / (2 * TARGETS)).is_multiple_of(2) {
                        clients.change_roles(id, NO_ROLES, ["TOPIC_CONTROL"]).await.map(|_| ())
                    } else {
                        clients.change_roles(id, ["TOPIC_CONTROL"], NO_ROLES).await.map(|_| ())
                    }
                }
            })
            .buffer_unordered(IN_FLIGHT)
            .fold((0usize, None), |(ok, err), r| async move {
                match r {
                    Ok(()) => (ok + 1, err),
                    Err(e) => (ok, err.or(Some(e))),
                }
            })
            .await;
        let secs = (monotonic_ns() - start) as f64 / 1e9;
        server_us.push((server.cpu_seconds()? - s0) * 1e6 / ops as f64);
        client_us.push((cpu_seconds(me)? - c0) * 1e6 / ops as f64);
        if let (ok, Some(e)) = results {
            return Err(e).context(format!("P6: {ok} of {ops} operations succeeded"));
        }
        rates.push(ops as f64 / secs.max(1e-9));
        // End every run with the roles it started with.
        clients.change_roles("has Half", ["TOPIC_CONTROL"], NO_ROLES).await?;
    }
    report("BENCH", "P6", "by_id_ops", "ops/s", &rates, Some("≥ 100000 ops/s"));
    // CPU time per operation: steadier than the rate on a shared machine.
    report("INFO", "P6", "server_cpu_per_op", "us", &server_us, None);
    report("INFO", "P6", "client_cpu_per_op", "us", &client_us, None);
    control.close().await?;
    Ok(())
}
