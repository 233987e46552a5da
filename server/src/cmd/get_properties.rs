//! `getSessionProperties` (SPEC §4.1): the requested properties of one session.

use usher_core::protocol::Reply;
use usher_core::{Error, SessionId};

use super::{Ctx, no_such_session};
use crate::registry::KeySpec;

/// Reads the properties.
pub(crate) fn apply(ctx: &mut Ctx<'_>, session: SessionId, keys: &[String]) -> Result<Reply, Error> {
    if session.server != ctx.shared.server_part {
        return Err(no_such_session(session));
    }
    let spec = KeySpec::parse(keys, &ctx.shared.interner);
    let interner = &ctx.shared.interner;
    ctx.shared
        .registry
        .get(session, |view| Reply::Properties(spec.collect(&view, interner)))
        .ok_or_else(|| no_such_session(session))
}
