//! Topic operations (SPEC §5.1) with their path permissions: MODIFY_TOPIC to
//! add or remove, UPDATE_TOPIC to update, SELECT_TOPIC to subscribe (each
//! value is then sent only where the session has READ_TOPIC).

use usher_core::protocol::Reply;
use usher_core::security::PathPermission;
use usher_core::{Error, ErrorDetails, ErrorKind};

use super::Ctx;
use crate::topics::{Selector, validate_path};

fn require(ctx: &Ctx<'_>, path: &str, p: PathPermission) -> Result<(), Error> {
    if ctx.roles.perms.path_allows(path, p) {
        Ok(())
    } else {
        Err(Error::new(ErrorKind::AccessDenied, format!("permission {p} on {path:?} is required"))
            .with_details(ErrorDetails::Permission(p.to_string())))
    }
}

/// Adds a topic.
pub(crate) fn add(ctx: &mut Ctx<'_>, path: &str, value: &[u8]) -> Result<Reply, Error> {
    validate_path(path)?;
    require(ctx, path, PathPermission::ModifyTopic)?;
    ctx.shared.topics.add(&ctx.shared.events, path, value.to_vec())?;
    Ok(Reply::Done)
}

/// Removes a topic.
pub(crate) fn remove(ctx: &mut Ctx<'_>, path: &str) -> Result<Reply, Error> {
    validate_path(path)?;
    require(ctx, path, PathPermission::ModifyTopic)?;
    ctx.shared.topics.remove(&ctx.shared.events, path)?;
    Ok(Reply::Done)
}

/// Updates a topic's value.
pub(crate) fn update(ctx: &mut Ctx<'_>, path: &str, value: &[u8]) -> Result<Reply, Error> {
    validate_path(path)?;
    require(ctx, path, PathPermission::UpdateTopic)?;
    ctx.shared.topics.update(&ctx.shared.events, path, value.to_vec())?;
    Ok(Reply::Done)
}

/// Subscribes the caller; current values are queued before the reply.
pub(crate) fn subscribe(ctx: &mut Ctx<'_>, selector: &str) -> Result<Reply, Error> {
    let selector = Selector::parse(selector)?;
    require(ctx, selector.base(), PathPermission::SelectTopic)?;
    let max = ctx.shared.config.limits.max_subscriptions as usize;
    ctx.shared.topics.subscribe(&ctx.shared.events, ctx.caller, selector, max)?;
    Ok(Reply::Done)
}

/// Ends a subscription.
pub(crate) fn unsubscribe(ctx: &mut Ctx<'_>, selector: &str) -> Result<Reply, Error> {
    let selector = Selector::parse(selector)?;
    if !ctx.shared.topics.unsubscribe(ctx.caller.id, &selector) {
        return Err(Error::invalid_argument("selector", "no such subscription"));
    }
    Ok(Reply::Done)
}
