//! `fetchSessions` (SPEC §4.1): a page of matching sessions with the
//! requested properties, ordered by (`$StartTime`, `$SessionId`), with the
//! total matched and an opaque cursor for the next page.

use usher_core::protocol::{FetchRequest, Reply, SessionInfo, SessionPage};
use usher_core::{Error, SessionId};

use super::Ctx;
use crate::registry::KeySpec;

/// Default and largest page size.
const DEFAULT_LIMIT: u32 = 100;
const MAX_LIMIT: u32 = 1000;

/// The cursor is the sort key of the last session returned, as 48 hex digits.
fn encode_cursor(start: u64, id: SessionId) -> String {
    format!("{start:016x}{:016x}{:016x}", id.server, id.value)
}

fn decode_cursor(text: &str) -> Result<(u64, SessionId), Error> {
    let bad = || Error::invalid_argument("cursor", "the cursor is not one this server returned");
    if text.len() != 48 || !text.is_ascii() {
        return Err(bad());
    }
    let part = |r: std::ops::Range<usize>| u64::from_str_radix(&text[r], 16).map_err(|_| bad());
    Ok((part(0..16)?, SessionId::new(part(16..32)?, part(32..48)?)))
}

/// Fetches one page.
pub(crate) fn apply(ctx: &mut Ctx<'_>, req: &FetchRequest) -> Result<Reply, Error> {
    let filter = ctx.compile(&req.filter)?;
    let limit = req.limit.unwrap_or(DEFAULT_LIMIT).clamp(1, MAX_LIMIT) as usize;
    let after = req.cursor.as_deref().map(decode_cursor).transpose()?;
    let mut found = ctx.shared.registry.select(&filter);
    let total = found.len() as u64;
    found.sort_unstable();
    let start = match after {
        Some(key) => found.partition_point(|k| *k <= key),
        None => 0,
    };
    let spec = KeySpec::parse(&req.keys, &ctx.shared.interner);
    let interner = &ctx.shared.interner;
    let mut sessions = Vec::with_capacity(limit.min(found.len()));
    let mut last = None;
    let mut rest = found[start..].iter();
    for (start_time, id) in rest.by_ref() {
        let props = ctx.shared.registry.get(*id, |view| spec.collect(&view, interner));
        // A session closed since the selection is skipped.
        if let Some(properties) = props {
            sessions.push(SessionInfo { id: *id, properties });
            last = Some((*start_time, *id));
            if sessions.len() == limit {
                break;
            }
        }
    }
    let has_more = rest.next().is_some();
    let next_cursor = if has_more { last.map(|(s, id)| encode_cursor(s, id)) } else { None };
    Ok(Reply::Sessions(SessionPage { sessions, total, has_more, next_cursor, unreachable: Vec::new() }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_round_trips() {
        let id = SessionId::new(0xabc, 7);
        assert_eq!(decode_cursor(&encode_cursor(42, id)).ok(), Some((42, id)));
        assert!(decode_cursor("zz").is_err());
        assert!(decode_cursor(&"g".repeat(48)).is_err());
    }
}
