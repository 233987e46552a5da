//! The one mapping of `usher_core::Error` to JavaScript (SPEC §4.5): an
//! `Error` whose `name` is `UsherError`, whose `code` is the exact upper-snake
//! code and whose `details` object carries the machine-readable part
//! (`permission`, `problems`, `limit`/`key`/`count`, `argument`, `result`).
//!
//! The object is built on the JS thread and handed to napi as a retained
//! value, so what JavaScript catches is exactly this object:
//!
//! ```ignore
//! #[napi]
//! pub fn parse_session_id(env: Env, text: String) -> napi::Result<String> {
//!     let id = text.parse::<SessionId>().map_err(core::Error::from).or_throw(&env)?;
//!     Ok(id.to_string())
//! }
//! ```

use napi::bindgen_prelude::{JsObjectValue, JsValue, Object};
use napi::{Env, Result, Status};
use usher_core::error::{Error, ErrorDetails};

/// Maps core results to napi ones, throwing the mapped JS error.
pub trait CoreResultExt<T> {
    /// `Ok` unchanged; `Err` as the JS `UsherError` (needs the JS thread's env).
    fn or_throw(self, env: &Env) -> Result<T>;
}

impl<T> CoreResultExt<T> for std::result::Result<T, Error> {
    fn or_throw(self, env: &Env) -> Result<T> {
        self.map_err(|e| to_napi_error(env, &e))
    }
}

/// The napi error that throws (or rejects with) the JS error of `err`.
pub fn to_napi_error(env: &Env, err: &Error) -> napi::Error {
    match js_error(env, err) {
        Ok(object) => napi::Error::from(object.to_unknown()),
        Err(failed) => failed,
    }
}

/// Builds the JS `Error` object of a core error.
pub fn js_error<'env>(env: &'env Env, err: &Error) -> Result<Object<'env>> {
    let mut object = env.create_error(napi::Error::new(Status::GenericFailure, err.message.clone()))?;
    object.set_named_property("name", "UsherError")?;
    object.set_named_property("code", err.kind.code())?;
    object.set_named_property("details", details(env, &err.details)?)?;
    Ok(object)
}

fn details<'env>(env: &'env Env, details: &ErrorDetails) -> Result<Object<'env>> {
    let mut d = Object::new(env)?;
    match details {
        ErrorDetails::None => {}
        ErrorDetails::Permission(p) => d.set_named_property("permission", p.as_str())?,
        ErrorDetails::Problems(problems) => {
            let mut list = env.create_array(problems.len() as u32)?;
            for (i, p) in problems.iter().enumerate() {
                let mut problem = Object::new(env)?;
                problem.set_named_property("line", p.line)?;
                problem.set_named_property("column", p.column)?;
                problem.set_named_property("message", p.message.as_str())?;
                list.set(i as u32, problem)?;
            }
            d.set_named_property("problems", list)?;
        }
        ErrorDetails::Limit { limit, key, count } => {
            d.set_named_property("limit", limit.as_str())?;
            d.set_named_property("key", key.as_deref())?;
            d.set_named_property("count", count.map(|c| c as f64))?;
        }
        ErrorDetails::Argument(a) => d.set_named_property("argument", a.as_str())?,
        ErrorDetails::Result(r) => {
            use crate::convert::ToJs;
            d.set_named_property("result", r.to_js(env)?)?;
        }
    }
    Ok(d)
}

/// True when `value` is an error thrown by this package (an `Error` with
/// `name === 'UsherError'` and a known `code`); a TypeScript type guard.
#[napi_derive::napi(ts_args_type = "value: unknown", ts_return_type = "value is UsherError")]
pub fn is_usher_error(value: napi::bindgen_prelude::Unknown<'_>) -> Result<bool> {
    if value.get_type()? != napi::ValueType::Object || !value.is_error()? {
        return Ok(false);
    }
    let object = value.coerce_to_object()?;
    let name: Option<String> = object.get_named_property::<Option<String>>("name").ok().flatten();
    let code: Option<String> = object.get_named_property::<Option<String>>("code").ok().flatten();
    Ok(name.as_deref() == Some("UsherError")
        && code.is_some_and(|c| usher_core::ErrorKind::ALL.iter().any(|k| k.code() == c)))
}
