//! `usher-bench`: the benchmark scenarios of SPEC §9 against real
//! `usher-server` processes, printing `BENCH`/`INFO` lines.
//!
//! ```text
//! usher-bench [--smoke] [--only P1,P2,…] [--runs N] [--server-log FILE]
//! usher-bench worker URL SOURCE-IP INDEX      (a load-generator worker)
//! ```
//!
//! The server binary is `usher-server` next to this one (build both with the
//! same profile), or `USHER_SERVER_BIN`.

use anyhow::Context;
use usher_bench::scenarios::{self, Ctx, Sizes};

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("worker") {
        return usher_bench::worker::main(&args[1..]);
    }
    let mut sizes = Sizes::full();
    let mut only = Vec::new();
    let mut server_log = None;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--smoke" => sizes = Sizes::smoke(),
            "--only" => {
                only = it.next().context("--only needs a list")?.split(',').map(str::to_owned).collect();
            }
            "--runs" => {
                let runs: usize = it.next().context("--runs needs a number")?.parse()?;
                sizes.runs = runs.max(1);
            }
            "--server-log" => server_log = Some(it.next().context("--server-log needs a file")?.into()),
            other => anyhow::bail!("unknown argument {other:?} (see the usage in the source's header)"),
        }
    }
    let ctx = Ctx { server_bin: usher_bench::server::default_binary()?, server_log, sizes };
    scenarios::run(&ctx, &only)
}
