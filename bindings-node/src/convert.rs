//! Converting between JavaScript values and core types, in both directions.
//!
//! Arguments arrive as `Unknown` and are converted here rather than by napi's
//! typed parameters, because a typed parameter that does not convert throws
//! synchronously, and SPEC §4.1 wants every argument error to come through the
//! returned promise. A value that does not convert is `INVALID_ARGUMENT`
//! naming the argument.
//!
//! Results are built as plain JS objects by [`ToJs`] and handed to napi through
//! [`Js`], so promise results can be produced off the JS thread and converted
//! on it.

use std::collections::BTreeMap;

use napi::bindgen_prelude::{Buffer, FromNapiValue, JsObjectValue, Null, Object, ToNapiValue, Unknown};
use napi::{Env, JsValue, ValueType, sys};
use usher_core::error::{Error, Result as CoreResult};
use usher_core::id::{SessionId, Target};
use usher_core::protocol::{
    FilterResult, QueueEvent, QueuePolicy, SessionEvent, SessionPage, SessionState, Throttler,
};

/// True for `undefined` and `null`.
pub fn is_nullish(value: &Unknown<'_>) -> bool {
    matches!(value.get_type(), Ok(ValueType::Undefined | ValueType::Null))
}

/// `value` as `T`, or `INVALID_ARGUMENT` naming `name` ("`name` must be `what`").
pub fn arg<T: FromNapiValue>(value: &Unknown<'_>, name: &str, what: &str) -> CoreResult<T> {
    let wrong = || Error::invalid_argument(name, format!("{name} must be {what}"));
    // SAFETY: both raw handles come from a live `Unknown` of the current call.
    unsafe { T::from_napi_value(value.value().env, value.raw()) }.map_err(|_| wrong())
}

/// A string argument (no coercion: a number is an error).
pub fn string(value: &Unknown<'_>, name: &str) -> CoreResult<String> {
    if value.get_type().ok() != Some(ValueType::String) {
        return Err(Error::invalid_argument(name, format!("{name} must be a string")));
    }
    arg(value, name, "a string")
}

/// An optional string: `undefined`/`null` is `None`.
pub fn opt_string(value: Option<&Unknown<'_>>, name: &str) -> CoreResult<Option<String>> {
    match value {
        Some(v) if !is_nullish(v) => string(v, name).map(Some),
        _ => Ok(None),
    }
}

/// An array of strings; a single string is taken as a one-element array.
pub fn strings(value: &Unknown<'_>, name: &str) -> CoreResult<Vec<String>> {
    if value.get_type().ok() == Some(ValueType::String) {
        return Ok(vec![string(value, name)?]);
    }
    if !value.is_array().unwrap_or(false) {
        return Err(Error::invalid_argument(name, format!("{name} must be an array of strings")));
    }
    arg(value, name, "an array of strings")
}

/// A non-negative integer up to 2^53.
pub fn count(value: &Unknown<'_>, name: &str) -> CoreResult<u64> {
    let wrong = || Error::invalid_argument(name, format!("{name} must be a non-negative integer"));
    if value.get_type().ok() != Some(ValueType::Number) {
        return Err(wrong());
    }
    let n: f64 = arg(value, name, "a number")?;
    if n.is_finite() && n >= 0.0 && n.fract() == 0.0 && n <= 9_007_199_254_740_992.0 {
        Ok(n as u64)
    } else {
        Err(wrong())
    }
}

/// A boolean (no coercion).
pub fn boolean(value: &Unknown<'_>, name: &str) -> CoreResult<bool> {
    if value.get_type().ok() != Some(ValueType::Boolean) {
        return Err(Error::invalid_argument(name, format!("{name} must be a boolean")));
    }
    arg(value, name, "a boolean")
}

/// A plain object (not an array, not null).
pub fn object<'env>(value: &Unknown<'env>, name: &str) -> CoreResult<Object<'env>> {
    if value.get_type().ok() != Some(ValueType::Object) || value.is_array().unwrap_or(false) {
        return Err(Error::invalid_argument(name, format!("{name} must be an object")));
    }
    arg(value, name, "an object")
}

/// A field of an options object: `None` when absent, `undefined` or `null`.
pub fn field<'env>(object: &Object<'env>, key: &str) -> CoreResult<Option<Unknown<'env>>> {
    let value: Option<Unknown<'env>> =
        object.get(key).map_err(|e| Error::invalid_argument(key, format!("cannot read {key}: {e}")))?;
    Ok(value.filter(|v| !is_nullish(v)))
}

/// The keys of an object's own enumerable string properties.
pub fn keys(object: &Object<'_>, name: &str) -> CoreResult<Vec<String>> {
    let names = object
        .get_property_names()
        .map_err(|e| Error::invalid_argument(name, format!("cannot read the keys of {name}: {e}")))?;
    let names = names.to_unknown();
    arg(&names, name, "an object")
}

/// A target: the one rule of SPEC §2.1 (`Target::parse`) decides id or filter.
pub fn target(value: &Unknown<'_>) -> CoreResult<Target> {
    let text = string(value, "sessions").map_err(|_| {
        Error::invalid_argument("sessions", "sessions must be a session id or a filter (a string)")
    })?;
    Ok(Target::parse(&text))
}

/// A session id (never a filter).
pub fn session_id(value: &Unknown<'_>) -> CoreResult<SessionId> {
    let text = string(value, "session_id")?;
    Ok(text.parse::<SessionId>()?)
}

/// `{ kind: 'unthrottled' } | { kind: 'messagesPerSecond' | 'bytesPerSecond', limit }`.
pub fn throttler(value: &Unknown<'_>) -> CoreResult<Throttler> {
    let o = object(value, "throttler")?;
    let kind = match field(&o, "kind")? {
        Some(k) => string(&k, "throttler.kind")?,
        None => return Err(Error::invalid_argument("throttler.kind", "throttler.kind is required")),
    };
    let limit = || -> CoreResult<u64> {
        match field(&o, "limit")? {
            Some(l) => match count(&l, "throttler.limit")? {
                0 => Err(Error::invalid_argument("throttler.limit", "throttler.limit must be at least 1")),
                n => Ok(n),
            },
            None => Err(Error::invalid_argument("throttler.limit", "throttler.limit is required")),
        }
    };
    match kind.as_str() {
        "unthrottled" => Ok(Throttler::Unthrottled),
        "messagesPerSecond" => {
            let n = u32::try_from(limit()?).map_err(|_| {
                Error::invalid_argument("throttler.limit", "throttler.limit must fit in 32 bits")
            })?;
            Ok(Throttler::MessagesPerSecond(n))
        }
        "bytesPerSecond" => Ok(Throttler::BytesPerSecond(limit()?)),
        other => Err(Error::invalid_argument(
            "throttler.kind",
            format!("unknown throttler kind {other:?} (unthrottled, messagesPerSecond, bytesPerSecond)"),
        )),
    }
}

/// `{ key: 'value' | null }`: `null` (or `undefined`) removes the key.
pub fn property_changes(value: &Unknown<'_>) -> CoreResult<Vec<(String, Option<String>)>> {
    let o = object(value, "properties")?;
    let mut out = Vec::new();
    for key in keys(&o, "properties")? {
        let v = field(&o, &key)?;
        let v = match v {
            Some(v) => Some(string(&v, &key).map_err(|_| {
                Error::invalid_argument(key.clone(), format!("property {key} must be a string or null"))
            })?),
            None => None,
        };
        out.push((key, v));
    }
    Ok(out)
}

/// `{ key: 'value' }` (connect's proposed properties).
pub fn string_map(value: &Unknown<'_>, name: &str) -> CoreResult<BTreeMap<String, String>> {
    let o = object(value, name)?;
    let mut out = BTreeMap::new();
    for key in keys(&o, name)? {
        let v = field(&o, &key)?.ok_or_else(|| {
            Error::invalid_argument(key.clone(), format!("property {key} must be a string"))
        })?;
        out.insert(key.clone(), string(&v, &key)?);
    }
    Ok(out)
}

/// Builds the JS value of a core value on the JS thread.
pub trait ToJs {
    /// The JS value.
    fn to_js<'env>(&self, env: &'env Env) -> napi::Result<Unknown<'env>>;
}

/// A core value that converts itself when napi asks (e.g. a promise result).
#[derive(Debug)]
pub struct Js<T>(pub T);

impl<T: ToJs> ToNapiValue for Js<T> {
    unsafe fn to_napi_value(env: sys::napi_env, val: Self) -> napi::Result<sys::napi_value> {
        let env = Env::from_raw(env);
        Ok(val.0.to_js(&env)?.raw())
    }
}

fn n(v: u64) -> f64 {
    v as f64
}

impl ToJs for FilterResult {
    fn to_js<'env>(&self, env: &'env Env) -> napi::Result<Unknown<'env>> {
        let mut o = Object::new(env)?;
        o.set_named_property("total", n(self.total))?;
        let mut per_server = Object::new(env)?;
        for (server, count) in &self.per_server {
            per_server.set_named_property(server, n(*count))?;
        }
        o.set_named_property("perServer", per_server)?;
        o.set_named_property("unreachable", self.unreachable.clone())?;
        o.set_named_property("denied", n(self.denied))?;
        o.set_named_property("rejected", n(self.rejected))?;
        match &self.changed {
            Some(changed) => {
                let mut c = Object::new(env)?;
                for (key, old) in changed {
                    c.set_named_property(key, old.as_deref())?;
                }
                o.set_named_property("changed", c)?;
            }
            None => o.set_named_property("changed", Null)?,
        }
        Ok(o.to_unknown())
    }
}

impl ToJs for Throttler {
    fn to_js<'env>(&self, env: &'env Env) -> napi::Result<Unknown<'env>> {
        let mut o = Object::new(env)?;
        match self {
            Throttler::Unthrottled => o.set_named_property("kind", "unthrottled")?,
            Throttler::MessagesPerSecond(l) => {
                o.set_named_property("kind", "messagesPerSecond")?;
                o.set_named_property("limit", f64::from(*l))?;
            }
            Throttler::BytesPerSecond(l) => {
                o.set_named_property("kind", "bytesPerSecond")?;
                o.set_named_property("limit", n(*l))?;
            }
        }
        Ok(o.to_unknown())
    }
}

impl ToJs for QueuePolicy {
    fn to_js<'env>(&self, env: &'env Env) -> napi::Result<Unknown<'env>> {
        let mut o = Object::new(env)?;
        o.set_named_property("conflated", self.conflated)?;
        o.set_named_property("throttler", self.throttler.to_js(env)?)?;
        o.set_named_property("maxDepth", self.max_depth)?;
        o.set_named_property("maxBytes", n(self.max_bytes))?;
        o.set_named_property("upperThreshold", u32::from(self.upper_threshold))?;
        o.set_named_property("lowerThreshold", u32::from(self.lower_threshold))?;
        Ok(o.to_unknown())
    }
}

impl ToJs for SessionEvent {
    fn to_js<'env>(&self, env: &'env Env) -> napi::Result<Unknown<'env>> {
        let mut o = Object::new(env)?;
        match self {
            SessionEvent::State { session, state, reason, properties } => {
                o.set_named_property("type", "STATE")?;
                o.set_named_property("sessionId", session.to_string())?;
                let state = match state {
                    SessionState::Active => "ACTIVE",
                    SessionState::Closed => "CLOSED",
                };
                o.set_named_property("state", state)?;
                o.set_named_property("closeReason", reason.map(|r| r.as_str()))?;
                o.set_named_property("properties", properties.clone())?;
            }
            SessionEvent::Properties { session, changed, matches } => {
                o.set_named_property("type", "PROPERTIES")?;
                o.set_named_property("sessionId", session.to_string())?;
                let mut c = Object::new(env)?;
                for (key, (old, new)) in changed {
                    let mut pair = Object::new(env)?;
                    pair.set_named_property("old", old.as_deref())?;
                    pair.set_named_property("new", new.as_deref())?;
                    c.set_named_property(key, pair)?;
                }
                o.set_named_property("changed", c)?;
                o.set_named_property("matches", *matches)?;
            }
        }
        Ok(o.to_unknown())
    }
}

/// The `type` of a queue event and the listener method it goes to.
pub fn queue_event_names(event: &QueueEvent) -> (&'static str, &'static str) {
    match event {
        QueueEvent::UpperThresholdCrossed { .. } => ("UPPER_THRESHOLD_CROSSED", "onUpperThresholdCrossed"),
        QueueEvent::LowerThresholdCrossed { .. } => ("LOWER_THRESHOLD_CROSSED", "onLowerThresholdCrossed"),
        QueueEvent::PolicyChanged { .. } => ("POLICY_CHANGED", "onPolicyChanged"),
    }
}

impl ToJs for QueueEvent {
    fn to_js<'env>(&self, env: &'env Env) -> napi::Result<Unknown<'env>> {
        let mut o = Object::new(env)?;
        o.set_named_property("type", queue_event_names(self).0)?;
        o.set_named_property("sessionId", self.session().to_string())?;
        o.set_named_property("policy", self.policy().to_js(env)?)?;
        Ok(o.to_unknown())
    }
}

impl ToJs for SessionPage {
    fn to_js<'env>(&self, env: &'env Env) -> napi::Result<Unknown<'env>> {
        let mut o = Object::new(env)?;
        let mut sessions = env.create_array(self.sessions.len() as u32)?;
        for (i, s) in self.sessions.iter().enumerate() {
            let mut info = Object::new(env)?;
            info.set_named_property("id", s.id.to_string())?;
            info.set_named_property("properties", s.properties.clone())?;
            sessions.set(i as u32, info)?;
        }
        o.set_named_property("sessions", sessions)?;
        o.set_named_property("total", n(self.total))?;
        o.set_named_property("hasMore", self.has_more)?;
        o.set_named_property("nextCursor", self.next_cursor.as_deref())?;
        o.set_named_property("unreachable", self.unreachable.clone())?;
        Ok(o.to_unknown())
    }
}

/// A topic value: `{ path, value: Buffer }`.
#[derive(Debug)]
pub struct TopicValue(pub String, pub Vec<u8>);

impl ToJs for TopicValue {
    fn to_js<'env>(&self, env: &'env Env) -> napi::Result<Unknown<'env>> {
        let mut o = Object::new(env)?;
        o.set_named_property("path", self.0.as_str())?;
        o.set_named_property("value", Buffer::from(self.1.clone()))?;
        Ok(o.to_unknown())
    }
}

impl ToJs for Error {
    fn to_js<'env>(&self, env: &'env Env) -> napi::Result<Unknown<'env>> {
        Ok(crate::error::js_error(env, self)?.to_unknown())
    }
}

impl ToJs for u64 {
    fn to_js<'env>(&self, env: &'env Env) -> napi::Result<Unknown<'env>> {
        let raw = unsafe { f64::to_napi_value(env.raw(), *self as f64)? };
        Ok(unsafe { Unknown::from_raw_unchecked(env.raw(), raw) })
    }
}
