//! P5 (SPEC §9): filter evaluation over the registry's own data structures.
//!
//! Generates N sessions stored the way a lean registry stores them (interned
//! keys, a sorted `Vec<(Sym, Box<str>)>` of 20 user properties, a principal,
//! 1-3 roles as sorted symbols), then evaluates
//! `$Principal is 'x' and hasRoles ['A'] and Tier in ['1','2']`, each clause
//! true for about half the sessions, over all of them on one core, R times.
//! Prints `BENCH P5 filter_eval=<median> sessions/s (min <x>, max <y>, n=<runs>)`.
//!
//! Usage: `filter-eval [--sessions N] [--runs R]` (defaults 1,000,000 and 5).

use std::hint::black_box;
use std::time::Instant;

use anyhow::{Context, bail};
use usher_bench::Summary;
use usher_core::SessionId;
use usher_core::filter::compile;
use usher_core::intern::{Interner, Sym};
use usher_core::props::{FixedKey, InlineText, PropValue, PropertySource};

const FILTER: &str = "$Principal is 'x' and hasRoles ['A'] and Tier in ['1','2']";
const USER_PROPERTIES: usize = 20;

/// One session as a registry would hold it.
struct Session {
    id: SessionId,
    principal: Box<str>,
    roles_text: Box<str>,
    /// Sorted; 1 to 3 of them.
    roles: Box<[Sym]>,
    /// Sorted by key.
    user: Box<[(Sym, Box<str>)]>,
}

impl PropertySource for Session {
    fn fixed(&self, key: FixedKey) -> PropValue<'_> {
        match key {
            FixedKey::Principal => PropValue::Str(&self.principal),
            FixedKey::Roles => PropValue::Str(&self.roles_text),
            FixedKey::SessionId => InlineText::format(self.id).map_or(PropValue::Str(""), PropValue::Inline),
            _ => PropValue::Str(""),
        }
    }

    #[inline]
    fn user(&self, key: Sym) -> Option<&str> {
        self.user.binary_search_by_key(&key, |(k, _)| *k).ok().map(|i| &*self.user[i].1)
    }

    #[inline]
    fn has_role(&self, role: Sym) -> bool {
        // Linear: at most a handful of roles, cheaper than a binary search.
        self.roles.contains(&role)
    }
}

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

/// The sessions, and how many of them the filter should match.
fn generate(n: usize, interner: &Interner) -> anyhow::Result<(Vec<Session>, usize)> {
    let sym = |name: &str| interner.intern(name).context("interner full");
    // "Tier" among 19 other keys, so the lookup is a real search.
    let mut keys: Vec<(Sym, bool)> = vec![(sym("Tier")?, true)];
    for k in 1..USER_PROPERTIES {
        keys.push((sym(&format!("prop{k:02}"))?, false));
    }
    keys.sort_unstable_by_key(|(s, _)| *s);
    let role_names = ["A", "B", "C", "D"];
    let role_syms: Vec<Sym> = role_names.iter().map(|r| sym(r)).collect::<Result<_, _>>()?;
    let mut rng = Rng(0x5eed);
    let mut sessions = Vec::with_capacity(n);
    let mut expected = 0;
    for i in 0..n {
        let is_x = rng.half();
        let principal: Box<str> = if is_x { "x".into() } else { format!("user{i}").into() };
        // Role A for about half; 1 to 3 roles in all, the others from B, C, D.
        let has_a = rng.half();
        let others = if has_a { rng.next() % 3 } else { 1 + rng.next() % 3 } as usize;
        let first = (rng.next() % 3) as usize;
        let mut roles: Vec<usize> = if has_a { vec![0] } else { vec![] };
        roles.extend((0..others).map(|j| 1 + (first + j) % 3));
        let tier = rng.next() % 4 + 1;
        let in_tier = tier <= 2;
        let mut syms: Vec<Sym> = roles.iter().map(|&r| role_syms[r]).collect();
        syms.sort_unstable();
        let names: Vec<&str> = roles.iter().map(|&r| role_names[r]).collect();
        let user: Vec<(Sym, Box<str>)> = keys
            .iter()
            .map(|&(k, is_tier)| {
                let v = if is_tier { tier.to_string() } else { format!("value-{}", rng.next() % 1000) };
                (k, v.into_boxed_str())
            })
            .collect();
        expected += usize::from(is_x && has_a && in_tier);
        sessions.push(Session {
            id: SessionId::new(0x1234, i as u64 + 1),
            principal,
            roles_text: usher_core::props::roles_text(&names).into(),
            roles: syms.into(),
            user: user.into(),
        });
    }
    Ok((sessions, expected))
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
    let interner = Interner::default();
    let (sessions, expected) = generate(n, &interner)?;
    let filter = compile(FILTER, &interner).map_err(|e| anyhow::anyhow!("{}", e.render(FILTER)))?;
    let mut rates = Vec::with_capacity(runs);
    for _ in 0..runs {
        let start = Instant::now();
        let matched = black_box(&sessions).iter().filter(|s| filter.matches(*s)).count();
        let secs = start.elapsed().as_secs_f64();
        if black_box(matched) != expected {
            bail!("the filter matched {matched} sessions, expected {expected}");
        }
        rates.push(n as f64 / secs.max(1e-9));
    }
    eprintln!("filter-eval: {n} sessions, {expected} match ({:.1}%)", 100.0 * expected as f64 / n as f64);
    let summary = Summary::of(&rates).context("no measurements")?;
    println!("{}", summary.line("BENCH", "P5", "filter_eval", "sessions/s"));
    Ok(())
}
