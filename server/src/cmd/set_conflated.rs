//! `setConflated` (SPEC §4.1, §5.3): turns conflation on (compacting the
//! queue at once) or off. Queue handlers hear of real changes only.

use usher_core::protocol::Reply;
use usher_core::{Error, Target};

use super::{Ctx, not_dominated};

/// Sets conflation on the targets.
pub(crate) fn apply(
    ctx: &mut Ctx<'_>,
    target: &Target,
    conflated: bool,
    max_targets: Option<u64>,
) -> Result<Reply, Error> {
    let targets = ctx.targets(target, max_targets)?;
    let (mut total, mut denied) = (0, 0);
    for id in targets.ids {
        let Some((roles, session)) =
            ctx.shared.registry.get(id, |v| (v.rec.roles.clone(), v.rec.session.clone()))
        else {
            continue;
        };
        if !ctx.dominates(&roles) {
            if targets.by_id {
                return Err(not_dominated());
            }
            denied += 1;
            continue;
        }
        session.set_conflated(&ctx.shared.events, conflated);
        total += 1;
    }
    Ok(Reply::Result(ctx.result(total, denied, 0)))
}
