//! `filter_parse`: see `checks::filter_parse` (fuzz/checks.rs), shared with the regression
//! test that replays fuzz/regressions/filter_parse/ under `cargo test`.
#![no_main]

#[path = "../checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::filter_parse(data));
