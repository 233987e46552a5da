//! P5 (SPEC §9): filter evaluation with the registry's own data structures.
//!
//! Fills the server's own registry (`usher_server::bench::FilterBench`, the
//! `Registry` every control operation selects from) with N synthetic
//! sessions (20 user properties each, 1-3 roles), then selects
//! `$Principal is 'x' and hasRoles ['A'] and Tier in ['1','2']`, each clause
//! true for about half the sessions, over all of them on one core, R times.
//! Prints `BENCH P5 filter_eval=<sessions in the registry / time> sessions/s
//! (min <x>, max <y>, n=<runs>)`: the way a control operation selects (index
//! sets first, the filter evaluated on the candidates), and the same for a
//! scan that evaluates every record (`INFO P5 filter_scan`), which is what a
//! filter with no indexable clause costs.
//!
//! Usage: `filter-eval [--sessions N] [--runs R]` (defaults 1,000,000 and 5).

use std::hint::black_box;
use std::time::Instant;

use anyhow::{Context, bail};
use usher_bench::Summary;
use usher_server::bench::FilterBench;

const FILTER: &str = "$Principal is 'x' and hasRoles ['A'] and Tier in ['1','2']";
const USER_PROPERTIES: usize = 20;

/// splitmix64: a small, fast, deterministic generator (no dependency needed).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn half(&mut self) -> bool {
        self.next() & 1 == 0
    }
}

/// The registry, and how many of its sessions the filter should match.
fn generate(n: usize) -> anyhow::Result<(FilterBench, usize)> {
    let role_names = ["A", "B", "C", "D"];
    // "Tier" in the middle of 20 keys, so the lookup is a real search.
    let mut keys: Vec<(String, bool)> = Vec::new();
    for k in 1..USER_PROPERTIES {
        keys.push((format!("prop{k:02}"), false));
        if k == USER_PROPERTIES / 2 {
            keys.push(("Tier".to_owned(), true));
        }
    }
    let mut rng = Rng(0x5eed);
    let mut bench = FilterBench::default();
    let mut expected = 0;
    for i in 0..n {
        let is_x = rng.half();
        let principal = if is_x { "x".to_owned() } else { format!("user{i}") };
        // Role A for about half; 1 to 3 roles in all, the others from B, C, D.
        let has_a = rng.half();
        let others = if has_a { rng.next() % 3 } else { 1 + rng.next() % 3 } as usize;
        let first = (rng.next() % 3) as usize;
        let mut roles: Vec<&str> = if has_a { vec![role_names[0]] } else { vec![] };
        roles.extend((0..others).map(|j| role_names[1 + (first + j) % 3]));
        let tier = rng.next() % 4 + 1;
        let user: Vec<(String, String)> = keys
            .iter()
            .map(|(k, is_tier)| {
                (k.clone(), if *is_tier { tier.to_string() } else { format!("value-{}", rng.next() % 1000) })
            })
            .collect();
        expected += usize::from(is_x && has_a && tier <= 2);
        bench.insert(&principal, &roles, &user)?;
    }
    Ok((bench, expected))
}

/// Runs `count` R times over the registry; sessions per second, checked.
fn rates(n: usize, runs: usize, expected: usize, count: impl Fn() -> usize) -> anyhow::Result<Summary> {
    let mut rates = Vec::with_capacity(runs);
    for _ in 0..runs {
        let start = Instant::now();
        let matched = count();
        let secs = start.elapsed().as_secs_f64();
        if black_box(matched) != expected {
            bail!("the filter matched {matched} sessions, expected {expected}");
        }
        rates.push(n as f64 / secs.max(1e-9));
    }
    Summary::of(&rates).context("no measurements")
}

fn arg(args: &[String], name: &str, default: usize) -> anyhow::Result<usize> {
    match args.iter().position(|a| a == name) {
        Some(i) => args
            .get(i + 1)
            .with_context(|| format!("{name} needs a value"))?
            .parse()
            .with_context(|| format!("{name} must be a positive integer")),
        None => Ok(default),
    }
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let n = arg(&args, "--sessions", 1_000_000)?;
    let runs = arg(&args, "--runs", 5)?;
    if n == 0 || runs == 0 {
        bail!("--sessions and --runs must be at least 1");
    }
    let (bench, expected) = generate(n)?;
    let filter = bench.compile(FILTER).map_err(|e| anyhow::anyhow!("{e}"))?;
    eprintln!("filter-eval: {n} sessions, {expected} match ({:.1}%)", 100.0 * expected as f64 / n as f64);
    let selected = rates(n, runs, expected, || bench.count(black_box(&filter)))?;
    let scanned = rates(n, runs, expected, || bench.count_scan(black_box(&filter)))?;
    println!("{}", selected.line("BENCH", "P5", "filter_eval", "sessions/s"));
    println!("{}", scanned.line("INFO", "P5", "filter_scan", "sessions/s"));
    Ok(())
}
