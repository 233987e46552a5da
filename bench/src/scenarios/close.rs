//! P2, P3: `close("Half is 'yes'")` over 10,000 sessions, half tagged.
//! P2 is request → reply on the controller; P3 is request → the moment the
//! last targeted client saw its close (its worker's reading of the shared
//! monotonic clock). A fresh server and fleet each repetition.
//!
//! P4: `changeRoles("Half is 'yes'", add TOPIC_CONTROL)` over the same
//! population, request → reply; the inverse (remove) restores the roles
//! between repetitions and is reported as an `INFO` figure.

use anyhow::bail;
use usher_core::client::NO_ROLES;

use super::{Ctx, controller, report};
use crate::clock::{monotonic_ns, ms_between};
use crate::fleet::Fleet;

const FILTER: &str = "Half is 'yes'";
const CONCURRENCY: usize = 128;
/// How long the clients may take to see their closes.
const CLOSE_TIMEOUT_MS: u64 = 20_000;

pub(super) async fn p2_p3(ctx: &Ctx) -> anyhow::Result<()> {
    let n = ctx.sizes.sessions;
    let (mut reply, mut seen, mut server_cpu, mut client_cpu) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for _ in 0..ctx.sizes.runs {
        let server = ctx.start_server()?;
        let mut fleet = Fleet::spawn(server.url(), n, 2)?;
        let opened = fleet.open(n, CONCURRENCY, None)?;
        if opened.ok != n as u64 {
            bail!("P2: {} of {n} sessions opened", opened.ok);
        }
        let control = controller(server.url()).await?;
        tokio::time::sleep(ctx.sizes.settle).await;
        let (s0, c0) = (server.cpu_seconds()?, fleet.cpu_seconds());
        let t0 = monotonic_ns();
        let closed = control.clients().close(FILTER).await?;
        let t1 = monotonic_ns();
        let closes = fleet.await_tagged_closes(CLOSE_TIMEOUT_MS)?;
        server_cpu.push((server.cpu_seconds()? - s0) * 1e3);
        client_cpu.push((fleet.cpu_seconds() - c0) * 1e3);
        let tagged = fleet.tagged();
        if closed != tagged || closes.tagged != tagged || closes.untagged != 0 {
            bail!(
                "P2: closed {closed}, expected {tagged}; clients saw {} tagged and {} untagged closes",
                closes.tagged,
                closes.untagged
            );
        }
        // For profiles: `perf record -k CLOCK_MONOTONIC` then `perf report --time START,END` (s).
        eprintln!(
            "P2: server pid {}, close window {:.6},{:.6}",
            server.pid(),
            t0 as f64 / 1e9,
            closes.last_ns as f64 / 1e9
        );
        reply.push(ms_between(t0, t1));
        seen.push(ms_between(t0, closes.last_ns));
        control.close().await?;
    }
    report("BENCH", "P2", "close_filter_reply", "ms", &reply, Some("≤ 35 ms"));
    report("BENCH", "P3", "close_filter_all_seen", "ms", &seen, Some("≤ 40 ms"));
    // CPU time from the request until every client saw its close.
    report("INFO", "P3", "server_cpu", "ms", &server_cpu, None);
    report("INFO", "P3", "loadgen_cpu", "ms", &client_cpu, None);
    Ok(())
}

pub(super) async fn p4(ctx: &Ctx) -> anyhow::Result<()> {
    let n = ctx.sizes.sessions;
    let server = ctx.start_server()?;
    let mut fleet = Fleet::spawn(server.url(), n, 2)?;
    let opened = fleet.open(n, CONCURRENCY, None)?;
    if opened.ok != n as u64 {
        bail!("P4: {} of {n} sessions opened", opened.ok);
    }
    let control = controller(server.url()).await?;
    let clients = control.clients();
    let tagged = fleet.tagged();
    let (mut add, mut remove, mut server_cpu) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..ctx.sizes.runs {
        tokio::time::sleep(ctx.sizes.settle).await;
        let s0 = server.cpu_seconds()?;
        let t0 = monotonic_ns();
        let changed = clients.change_roles(FILTER, NO_ROLES, ["TOPIC_CONTROL"]).await?;
        add.push(ms_between(t0, monotonic_ns()));
        server_cpu.push((server.cpu_seconds()? - s0) * 1e3);
        tokio::time::sleep(ctx.sizes.settle).await;
        let t0 = monotonic_ns();
        let restored = clients.change_roles(FILTER, ["TOPIC_CONTROL"], NO_ROLES).await?;
        remove.push(ms_between(t0, monotonic_ns()));
        if changed != tagged || restored != tagged {
            bail!("P4: changed {changed} and {restored} sessions, expected {tagged}");
        }
    }
    report("BENCH", "P4", "change_roles_filter_reply", "ms", &add, Some("≤ 20 ms"));
    report("INFO", "P4", "change_roles_filter_remove_reply", "ms", &remove, None);
    // Until the reply: the targets' own work (RolesChanged writes) may go on after it.
    report("INFO", "P4", "server_cpu_until_reply", "ms", &server_cpu, None);
    control.close().await?;
    drop(fleet);
    Ok(())
}
