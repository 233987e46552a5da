//! `protocol_decode`: see `checks::protocol_decode` (fuzz/checks.rs), shared with the regression
//! test that replays fuzz/regressions/protocol_decode/ under `cargo test`.
#![no_main]

#[path = "../checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::protocol_decode(data));
