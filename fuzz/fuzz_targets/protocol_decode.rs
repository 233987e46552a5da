//! Any bytes as a client message: decoding may fail but never panic, and
//! whatever decodes encodes and decodes back to the same message.
#![no_main]

use libfuzzer_sys::fuzz_target;
use usher_core::protocol::{ClientMessage, decode, encode};

fuzz_target!(|data: &[u8]| {
    if let Ok(message) = decode::<ClientMessage>(data) {
        let again: ClientMessage = decode(&encode(&message)).expect("re-encoded messages decode");
        assert_eq!(again, message);
    }
});
