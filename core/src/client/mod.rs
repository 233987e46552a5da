//! The async client: `Session`, `ClientControl`, `Topics` (SPEC §4.6, Rust
//! column). Runs on the caller's tokio runtime.
