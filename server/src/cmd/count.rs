//! `count` (SPEC §4.1): how many sessions a filter matches; acts on none.

use usher_core::Error;
use usher_core::protocol::Reply;

use super::Ctx;

/// Counts the matches.
pub(crate) fn apply(ctx: &mut Ctx<'_>, filter: &str) -> Result<Reply, Error> {
    let filter = ctx.compile(filter)?;
    let mut total = 0u64;
    ctx.shared.registry.for_each_match(&filter, |_| total += 1);
    Ok(Reply::Result(ctx.result(total, 0, 0)))
}
