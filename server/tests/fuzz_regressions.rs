//! The fuzz targets' checks (`fuzz/checks.rs`) on every input kept in
//! `fuzz/regressions/<target>/`: a few interesting inputs per target plus
//! anything a fuzzer ever found, replayed by a plain `cargo test` (the fuzz
//! crate itself is outside the workspace and needs cargo-fuzz).

#[path = "../../fuzz/checks.rs"]
mod checks;

use std::path::Path;

fn replay(target: &str, check: fn(&[u8])) -> anyhow::Result<()> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/regressions").join(target);
    let mut n = 0;
    for entry in std::fs::read_dir(&dir)? {
        let path = entry?.path();
        let data = std::fs::read(&path)?;
        // A panic names the input that caused it.
        let outcome = std::panic::catch_unwind(|| check(&data));
        assert!(outcome.is_ok(), "{target}: {} fails its check", path.display());
        n += 1;
    }
    assert!(n > 0, "no inputs in {}", dir.display());
    Ok(())
}

#[test]
fn filter_parse_regressions() -> anyhow::Result<()> {
    replay("filter_parse", checks::filter_parse)
}

#[test]
fn protocol_decode_regressions() -> anyhow::Result<()> {
    replay("protocol_decode", checks::protocol_decode)
}

#[test]
fn hello_regressions() -> anyhow::Result<()> {
    replay("hello", checks::hello)
}
