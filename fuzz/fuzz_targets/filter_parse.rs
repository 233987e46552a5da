//! Any text through the whole filter pipeline: parse, compile, evaluate,
//! print and re-parse, render problems. Nothing may panic, and a filter that
//! compiles must print to text that parses to the same tree.
#![no_main]

use libfuzzer_sys::fuzz_target;
use usher_core::filter::{compile, parse, print, testing::TestSession};
use usher_core::intern::Interner;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let interner = Interner::with_capacity(64);
    match compile(text, &interner) {
        Ok(filter) => {
            let session = TestSession::new(&interner).principal("alice").roles(&["CLIENT"]).user("Tier", "1");
            let _ = filter.matches(&session);
            let printed = print(filter.ast());
            let again = parse(&printed).expect("printed filters parse");
            assert_eq!(again.without_spans(), filter.ast().without_spans(), "{printed}");
        }
        Err(e) => {
            assert!(!e.problems.is_empty());
            let _ = e.render(text);
        }
    }
});
