//! The MessagePack codec: one message per WebSocket binary frame.
//!
//! Decoding takes untrusted bytes. `rmp-serde` bounds nesting depth, and
//! serde's cautious size hints cap what a claimed length pre-allocates, so a
//! hostile frame costs at most about its own size; the frame-size bound of the
//! connection (SPEC §6, default 1 MiB) applies before this is called.

use serde::Serialize;
use serde::de::DeserializeOwned;

/// A frame that is not a valid message.
#[derive(Debug, thiserror::Error)]
#[error("malformed message: {0}")]
pub struct DecodeError(#[from] rmp_serde::decode::Error);

/// Encodes a message (structs as maps with field names).
pub fn encode<T: Serialize>(message: &T) -> Vec<u8> {
    // Encoding our own serde types into a Vec cannot fail: every type has
    // string keys and no custom serializer returns errors.
    rmp_serde::to_vec_named(message).unwrap_or_default()
}

/// Decodes one message; trailing bytes are an error.
pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, DecodeError> {
    let mut de = rmp_serde::Deserializer::new(bytes);
    let value = T::deserialize(&mut de)?;
    let rest = de.into_inner();
    if !rest.is_empty() {
        return Err(DecodeError(rmp_serde::decode::Error::Syntax(format!(
            "{} trailing bytes after the message",
            rest.len()
        ))));
    }
    Ok(value)
}
