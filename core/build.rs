//! Records the compiler's `major.minor` version so the client can report
//! `$Environment = RUST_<version>` (SPEC §2.2) without a runtime dependency.

use std::process::Command;

fn main() {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".to_owned());
    let version = Command::new(rustc)
        .arg("--version")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|text| {
            // "rustc 1.95.0 (abcdef 2026-...)" -> "1.95"
            let full = text.split_whitespace().nth(1)?.to_owned();
            let mut parts = full.split('.');
            Some(format!("{}.{}", parts.next()?, parts.next()?))
        })
        .unwrap_or_else(|| std::env::var("CARGO_PKG_RUST_VERSION").unwrap_or_default());
    println!("cargo:rustc-env=USHER_RUSTC_VERSION={version}");
    println!("cargo:rerun-if-env-changed=RUSTC");
}
