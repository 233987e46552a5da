//! `setThrottled` (SPEC §4.1, §5.3): paces writes to the targets' sockets.

use usher_core::protocol::{Reply, Throttler};
use usher_core::{Error, Target};

use super::{Ctx, not_dominated};

/// Sets the throttler on the targets.
pub(crate) fn apply(
    ctx: &mut Ctx<'_>,
    target: &Target,
    throttler: Throttler,
    max_targets: Option<u64>,
) -> Result<Reply, Error> {
    if matches!(throttler, Throttler::MessagesPerSecond(0) | Throttler::BytesPerSecond(0)) {
        return Err(Error::invalid_argument("throttler", "a throttler's rate must be positive"));
    }
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
        session.set_throttler(&ctx.shared.events, throttler);
        total += 1;
    }
    Ok(Reply::Result(ctx.result(total, denied, 0)))
}
