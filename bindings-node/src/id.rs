//! Session ids, which are strings in Node (`8f3a2c41d09e7b15-0000000000000007`).

use napi::Env;
use napi::bindgen_prelude::BigInt;
use napi_derive::napi;
use usher_core::id::SessionId;

use crate::error::CoreResultExt;

fn parse(env: &Env, text: &str) -> napi::Result<SessionId> {
    text.parse::<SessionId>().map_err(usher_core::Error::from).or_throw(env)
}

/// The canonical (lower-case, trimmed) form of a session id; throws an
/// `UsherError` with code `INVALID_ARGUMENT` when `text` is not one.
#[napi]
pub fn parse_session_id(env: Env, text: String) -> napi::Result<String> {
    Ok(parse(&env, &text)?.to_string())
}

/// True when `text` is a session id (and so, as a target, names one session
/// rather than being a filter).
#[napi]
pub fn is_session_id(text: String) -> bool {
    text.parse::<SessionId>().is_ok()
}

/// The two parts of a session id.
#[napi(object)]
#[derive(Debug)]
pub struct SessionIdParts {
    /// The server part.
    pub server: BigInt,
    /// The value, unique within its server.
    pub value: BigInt,
}

/// Splits a session id into its server part and value.
#[napi]
pub fn session_id_parts(env: Env, text: String) -> napi::Result<SessionIdParts> {
    let id = parse(&env, &text)?;
    Ok(SessionIdParts { server: BigInt::from(id.server), value: BigInt::from(id.value) })
}

/// The text form of a session id from its two parts (each `0 ≤ n < 2^64`).
#[napi]
pub fn format_session_id(env: Env, server: BigInt, value: BigInt) -> napi::Result<String> {
    let part = |name: &str, n: BigInt| {
        let (signed, v, lossless) = n.get_u64();
        if signed || !lossless {
            Err(usher_core::Error::invalid_argument(
                name,
                format!("{name} must be an unsigned 64-bit integer"),
            ))
        } else {
            Ok(v)
        }
    };
    let server = part("server", server).or_throw(&env)?;
    let value = part("value", value).or_throw(&env)?;
    Ok(SessionId::new(server, value).to_string())
}
