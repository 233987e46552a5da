//! The benchmarks of SPEC §9: the `BENCH` line format ([`Summary`]), the
//! shared monotonic clock ([`clock`]), the server process ([`server`]), the
//! load generator (worker processes, [`worker`], speaking WebSocket by hand,
//! [`frame`], and holding their sessions on one epoll set each, [`hold`];
//! the coordinator's fleet of them, [`fleet`]; a lean tungstenite client for
//! single sessions, [`raw`]), the [`scenarios`] and the [`soak`] workload.

pub mod clock;
pub mod fleet;
pub mod frame;
pub mod hold;
pub mod raw;
pub mod scenarios;
pub mod server;
pub mod soak;
pub mod worker;

/// Median, min and max of a set of measurements.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Summary {
    /// The median (mean of the two middle values for an even count).
    pub median: f64,
    /// The smallest.
    pub min: f64,
    /// The largest.
    pub max: f64,
    /// How many.
    pub runs: usize,
}

impl Summary {
    /// Summarises `values`; `None` when empty or when a value is not finite.
    pub fn of(values: &[f64]) -> Option<Self> {
        if values.is_empty() || values.iter().any(|v| !v.is_finite()) {
            return None;
        }
        let mut v = values.to_vec();
        v.sort_by(f64::total_cmp);
        let n = v.len();
        let median = if n % 2 == 1 { v[n / 2] } else { (v[n / 2 - 1] + v[n / 2]) / 2.0 };
        Some(Self { median, min: v[0], max: v[n - 1], runs: n })
    }

    /// The line of SPEC §9: `BENCH <id> <name>=<median> <unit> (min <x>, max <y>, n=<runs>)`;
    /// `prefix` is `BENCH` for a target figure, `INFO` for one without.
    pub fn line(&self, prefix: &str, id: &str, name: &str, unit: &str) -> String {
        let id = if id.is_empty() { String::new() } else { format!("{id} ") };
        format!(
            "{prefix} {id}{name}={} {unit} (min {}, max {}, n={})",
            fmt(self.median),
            fmt(self.min),
            fmt(self.max),
            self.runs
        )
    }
}

/// A plain decimal: integers as integers, others with up to 3 decimals.
fn fmt(v: f64) -> String {
    if v.abs() >= 100.0 {
        format!("{v:.0}")
    } else {
        let s = format!("{v:.3}");
        s.trim_end_matches('0').trim_end_matches('.').to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_and_line() {
        let s = Summary::of(&[3.0, 1.0, 2.0]).expect("values");
        assert_eq!((s.median, s.min, s.max, s.runs), (2.0, 1.0, 3.0, 3));
        assert_eq!(
            s.line("BENCH", "P2", "close_filter_reply", "ms"),
            "BENCH P2 close_filter_reply=2 ms (min 1, max 3, n=3)"
        );
        let s = Summary::of(&[1.0, 2.0, 4.0, 30_000_000.7]).expect("values");
        assert_eq!(s.median, 3.0);
        assert!(s.line("BENCH", "P5", "x", "sessions/s").contains("max 30000001"));
        assert!(Summary::of(&[]).is_none() && Summary::of(&[f64::NAN]).is_none());
    }
}
