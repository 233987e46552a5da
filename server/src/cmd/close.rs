//! `close` (SPEC §4.1): ends the targets with `CLOSED_BY_CONTROLLER`. A
//! caller among its own targets is closed last, after its reply is queued.

use usher_core::protocol::{CloseReason, Reply};
use usher_core::{Error, Target};

use super::{Ctx, not_dominated};

/// Closes the targets.
pub(crate) fn apply(ctx: &mut Ctx<'_>, target: &Target, max_targets: Option<u64>) -> Result<Reply, Error> {
    let targets = ctx.targets(target, max_targets)?;
    let (mut total, mut denied) = (0, 0);
    for id in targets.ids {
        let Some(roles) = ctx.shared.registry.get(id, |v| v.rec.roles.clone()) else {
            continue; // closed meanwhile
        };
        if !ctx.dominates(&roles) {
            if targets.by_id {
                return Err(not_dominated());
            }
            denied += 1;
            continue;
        }
        if id == ctx.caller.id {
            ctx.close_self = true;
            total += 1;
        } else if ctx.shared.close_session(id, CloseReason::ClosedByController).is_some() {
            total += 1;
        }
    }
    Ok(Reply::Result(ctx.result(total, denied, 0)))
}
