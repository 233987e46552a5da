//! The clock every process of a benchmark shares: `CLOCK_MONOTONIC`, read
//! with `clock_gettime`. On Linux it is one clock for the whole machine, so a
//! time taken in a worker process (a client seeing its close) and one taken
//! in the coordinator (the request sent) can be subtracted.

/// Nanoseconds on `CLOCK_MONOTONIC`.
pub fn monotonic_ns() -> u64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `ts` is a valid, writable timespec; CLOCK_MONOTONIC always
    // exists on Linux, so the call cannot fail.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// Milliseconds between two [`monotonic_ns`] readings (0 if `end` is earlier).
pub fn ms_between(start_ns: u64, end_ns: u64) -> f64 {
    end_ns.saturating_sub(start_ns) as f64 / 1e6
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn monotonic_moves_forward() {
        let a = monotonic_ns();
        std::thread::sleep(std::time::Duration::from_millis(2));
        let b = monotonic_ns();
        assert!(ms_between(a, b) >= 2.0 && ms_between(b, a) == 0.0);
    }
}
