//! `hello`: see `checks::hello` (fuzz/checks.rs), shared with the regression
//! test that replays fuzz/regressions/hello/ under `cargo test`.
#![no_main]

#[path = "../checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::hello(data));
