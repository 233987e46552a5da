//! P7: new anonymous sessions per second. The fleet's workers connect N
//! sessions as fast as they can (128 connecting at once per worker); the
//! rate is N over the time from the first worker starting to the last
//! welcome. A fresh server each repetition. Also printed, as `INFO`: the
//! server's and the load generator's CPU per session, and password logins
//! per second (argon2 at the configured cost, 32 at once).

use anyhow::bail;

use super::{Ctx, report};
use crate::fleet::Fleet;
use crate::server::CLIENT_PASSWORD;

const CONCURRENCY: usize = 128;
const LOGIN_CONCURRENCY: usize = 16;

pub(super) fn p7(ctx: &Ctx) -> anyhow::Result<()> {
    let n = ctx.sizes.p7_sessions;
    let (mut rates, mut server_us, mut client_us, mut logins) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for _ in 0..ctx.sizes.runs {
        let server = ctx.start_server()?;
        let mut fleet = Fleet::spawn(server.url(), n, 2)?;
        let (s0, c0) = (server.cpu_seconds()?, fleet.cpu_seconds());
        let opened = fleet.open(n, CONCURRENCY, None)?;
        let (s1, c1) = (server.cpu_seconds()?, fleet.cpu_seconds());
        if opened.ok != n as u64 {
            bail!("P7: {} of {n} sessions opened", opened.ok);
        }
        let secs = opened.end_ns.saturating_sub(opened.start_ns) as f64 / 1e9;
        rates.push(n as f64 / secs.max(1e-9));
        server_us.push((s1 - s0) * 1e6 / n as f64);
        client_us.push((c1 - c0) * 1e6 / n as f64);
        // Two workers with 16 at once each: 32 in the server's argon2 queue.
        let l = ctx.sizes.p7_logins;
        let opened = fleet.open(l, LOGIN_CONCURRENCY, Some(("client", CLIENT_PASSWORD)))?;
        if opened.ok != l as u64 {
            bail!("P7: {} of {l} password logins succeeded", opened.ok);
        }
        logins.push(l as f64 / (opened.end_ns.saturating_sub(opened.start_ns) as f64 / 1e9).max(1e-9));
    }
    report("BENCH", "P7", "new_sessions", "sessions/s", &rates, Some("≥ 10000 sessions/s"));
    report("INFO", "P7", "server_cpu_per_session", "us", &server_us, None);
    report("INFO", "P7", "loadgen_cpu_per_session", "us", &client_us, None);
    report("INFO", "P7", "password_logins", "logins/s", &logins, None);
    Ok(())
}
