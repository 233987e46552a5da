//! The workspace's `uniffi-bindgen`: built from the same `uniffi` crate as the
//! library, so generator and scaffolding never disagree on versions.
//! `cargo run -p usher-swift --features bindgen --bin uniffi-bindgen -- --help`

fn main() {
    uniffi::uniffi_bindgen_main()
}
