//! Argument conversion. Every conversion returns a core [`Error`]
//! (`INVALID_ARGUMENT` naming the argument) instead of raising, so the async
//! methods can hand it back through their awaitable (SPEC §4.1: argument
//! errors never raise synchronously).

use std::collections::BTreeMap;

use pyo3::prelude::*;
use pyo3::types::{PyDict, PyString};
use usher_core::error::Error;
use usher_core::{SessionId as CoreId, Target};

use crate::id::SessionId;

/// `INVALID_ARGUMENT` naming `name`.
pub fn bad(name: &str, what: impl std::fmt::Display) -> Error {
    Error::invalid_argument(name, format!("{name}: {what}"))
}

/// A `SessionId` or a `str` (an id's text or a filter; `Target::parse` decides).
pub fn target(value: &Bound<'_, PyAny>) -> Result<Target, Error> {
    if let Ok(id) = value.cast::<SessionId>() {
        return Ok(Target::Id(id.get().0));
    }
    if let Ok(s) = value.cast::<PyString>() {
        let text = s.to_str().map_err(|e| bad("sessions", e))?;
        return Ok(Target::parse(text));
    }
    Err(bad("sessions", "expected a SessionId or a str (an id or a filter)"))
}

/// A `SessionId` or its text form.
pub fn session_id(value: &Bound<'_, PyAny>) -> Result<CoreId, Error> {
    if let Ok(id) = value.cast::<SessionId>() {
        return Ok(id.get().0);
    }
    if let Ok(s) = value.cast::<PyString>() {
        let text = s.to_str().map_err(|e| bad("session_id", e))?;
        return Ok(text.parse::<CoreId>()?);
    }
    Err(bad("session_id", "expected a SessionId or its text form"))
}

/// A `str`.
pub fn string(name: &str, value: &Bound<'_, PyAny>) -> Result<String, Error> {
    value
        .cast::<PyString>()
        .map_err(|_| bad(name, "expected a str"))?
        .to_str()
        .map(str::to_owned)
        .map_err(|e| bad(name, e))
}

/// An iterable of `str` (a lone `str` is refused: it would be its characters).
pub fn strings(name: &str, value: &Bound<'_, PyAny>) -> Result<Vec<String>, Error> {
    if value.is_instance_of::<PyString>() {
        return Err(bad(name, "expected an iterable of str, not a str"));
    }
    let iter = value.try_iter().map_err(|_| bad(name, "expected an iterable of str"))?;
    iter.map(|item| string(name, &item.map_err(|e| bad(name, e))?)).collect()
}

/// A mapping of `str` to `str` (or to `str | None` when `nullable`).
pub fn mapping(
    name: &str,
    value: &Bound<'_, PyAny>,
    nullable: bool,
) -> Result<BTreeMap<String, Option<String>>, Error> {
    let items: Vec<(Bound<'_, PyAny>, Bound<'_, PyAny>)> = if let Ok(d) = value.cast::<PyDict>() {
        d.iter().collect()
    } else {
        let items = value.call_method0("items").map_err(|_| bad(name, "expected a mapping"))?;
        items
            .try_iter()
            .map_err(|e| bad(name, e))?
            .map(|pair| pair.and_then(|p| p.extract()).map_err(|e| bad(name, e)))
            .collect::<Result<_, _>>()?
    };
    let mut out = BTreeMap::new();
    for (k, v) in items {
        let key = string(name, &k)?;
        let value = if v.is_none() {
            if !nullable {
                return Err(bad(name, format!("the value of {key:?} is None")));
            }
            None
        } else {
            Some(string(name, &v)?)
        };
        out.insert(key, value);
    }
    Ok(out)
}

/// A `bool` (exactly; `0`/`1` are refused).
pub fn boolean(name: &str, value: &Bound<'_, PyAny>) -> Result<bool, Error> {
    value.cast::<pyo3::types::PyBool>().map(|b| b.is_true()).map_err(|_| bad(name, "expected a bool"))
}

/// An optional non-negative integer.
pub fn opt_u64(name: &str, value: Option<&Bound<'_, PyAny>>) -> Result<Option<u64>, Error> {
    match value {
        None => Ok(None),
        Some(v) if v.is_none() => Ok(None),
        Some(v) => v.extract::<u64>().map(Some).map_err(|_| bad(name, "expected a non-negative int")),
    }
}
