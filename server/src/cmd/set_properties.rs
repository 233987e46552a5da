//! `setSessionProperties` (SPEC §4.1, §2.2): sets or (with `None`) removes
//! properties, atomically per session. Of the fixed keys only `$Country`
//! (upper-cased) and `$Language` (lower-cased) may be set; any other is
//! `INVALID_ARGUMENT` naming it, nothing changed. A session whose user
//! properties would break a limit is left unchanged: by id that is
//! `LIMIT_EXCEEDED` naming the key; by filter it is counted in `rejected`
//! and the call fails with `LIMIT_EXCEEDED` carrying the result.

use std::collections::BTreeMap;

use usher_core::intern::Interner;
use usher_core::props::{FixedKey, PropertyError, validate_user_key};
use usher_core::protocol::{FilterResult, Reply};
use usher_core::{Error, ErrorDetails, ErrorKind, Target};

use super::{Ctx, not_dominated};
use crate::registry::{Change, Record, UserProps};

/// A validated change list.
enum Key<'a> {
    Fixed(FixedKey),
    User(&'a str),
}

fn classify(properties: &BTreeMap<String, Option<String>>) -> Result<Vec<(Key<'_>, Option<&str>)>, Error> {
    let mut out = Vec::with_capacity(properties.len());
    for (k, v) in properties {
        let key = if k.starts_with('$') {
            match FixedKey::from_name(k) {
                Some(f) if f.is_settable() => Key::Fixed(f),
                _ => return Err(Error::invalid_argument(k.clone(), format!("property {k:?} cannot be set"))),
            }
        } else {
            validate_user_key(k).map_err(|e| Error::invalid_argument(k.clone(), e.to_string()))?;
            Key::User(k)
        };
        out.push((key, v.as_deref()));
    }
    Ok(out)
}

fn limit_error(e: PropertyError) -> Error {
    match e {
        PropertyError::Limit { key, limit, max } => {
            Error::new(ErrorKind::LimitExceeded, format!("property {key:?} breaks the limit {limit} ({max})"))
                .with_details(ErrorDetails::Limit { limit: limit.to_owned(), key: Some(key), count: None })
        }
        other => {
            let msg = other.to_string();
            Error::new(ErrorKind::InvalidArgument, msg)
        }
    }
}

/// Applies the change to one record, or changes nothing and says why.
fn apply_one(
    rec: &mut Record,
    interner: &Interner,
    changes: &[(Key<'_>, Option<&str>)],
    limits: &usher_core::props::PropertyLimits,
) -> Result<Vec<Change>, Error> {
    // Build the new user set first; check it whole; then commit.
    let mut user: BTreeMap<String, String> = rec
        .user
        .iter()
        .filter_map(|(k, v)| interner.resolve(k).map(|n| (n.to_string(), v.to_owned())))
        .collect();
    let mut out: Vec<Change> = Vec::new();
    let (mut country, mut language) = (None, None);
    for (key, value) in changes {
        match key {
            Key::Fixed(f) => {
                let new =
                    value.map(|v| if *f == FixedKey::Country { v.to_uppercase() } else { v.to_lowercase() });
                let new = new.unwrap_or_default();
                let old = if *f == FixedKey::Country { &rec.country } else { &rec.language };
                if **old != *new {
                    out.push((f.name().to_owned(), Some(old.to_string()), Some(new.clone())));
                }
                if *f == FixedKey::Country { country = Some(new) } else { language = Some(new) }
            }
            Key::User(k) => {
                let old = match value {
                    Some(v) => user.insert((*k).to_owned(), (*v).to_owned()),
                    None => user.remove(*k),
                };
                if old.as_deref() != *value {
                    out.push(((*k).to_owned(), old, value.map(str::to_owned)));
                }
            }
        }
    }
    limits.check(user.iter().map(|(k, v)| (k.as_str(), v.as_str()))).map_err(limit_error)?;
    let mut packed = Vec::with_capacity(user.len());
    for (k, v) in &user {
        let sym = interner.intern(k).ok_or_else(|| Error::limit("interner", "too many property names"))?;
        packed.push((sym, v.as_str()));
    }
    rec.user = UserProps::new(packed);
    if let Some(c) = country {
        rec.country = c.into();
    }
    if let Some(l) = language {
        rec.language = l.into();
    }
    Ok(out)
}

/// Sets the properties on the targets.
pub(crate) fn apply(
    ctx: &mut Ctx<'_>,
    target: &Target,
    properties: &BTreeMap<String, Option<String>>,
    max_targets: Option<u64>,
) -> Result<Reply, Error> {
    let changes = classify(properties)?;
    let targets = ctx.targets(target, max_targets)?;
    let limits = ctx.shared.config.properties.limits;
    let (mut total, mut denied, mut rejected) = (0, 0, 0);
    let mut changed_by_id = None;
    for id in targets.ids {
        let Some(roles) = ctx.shared.registry.get(id, |v| v.rec.roles.clone()) else { continue };
        if !ctx.dominates(&roles) {
            if targets.by_id {
                return Err(not_dominated());
            }
            denied += 1;
            continue;
        }
        let outcome = ctx.shared.registry.update(id, &ctx.shared.events, |rec, interner| {
            apply_one(rec, interner, &changes, &limits).map(|c| (c.clone(), c))
        });
        match outcome {
            None => {}
            Some(Ok(done)) => {
                total += 1;
                if targets.by_id {
                    changed_by_id = Some(done.into_iter().map(|(k, old, _)| (k, old)).collect());
                }
            }
            Some(Err(e)) if targets.by_id => return Err(e),
            Some(Err(_)) => rejected += 1,
        }
    }
    let mut result: FilterResult = ctx.result(total, denied, rejected);
    result.changed = changed_by_id;
    if rejected > 0 {
        return Err(Error::new(
            ErrorKind::LimitExceeded,
            format!("{rejected} sessions were left unchanged: the change would break a property limit"),
        )
        .with_details(ErrorDetails::Result(Box::new(result))));
    }
    Ok(Reply::Result(result))
}
