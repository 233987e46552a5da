//! Registrations (SPEC §4.2, §4.3): session listeners, the queue handler,
//! and ending either. A listener's snapshot is queued before its reply; at
//! most `max_registrations` per session (`LIMIT_EXCEEDED`), one queue handler
//! per session (`HANDLER_CONFLICT`).

use std::sync::Arc;

use usher_core::protocol::{Push, RegistrationId, Reply};
use usher_core::{Error, ErrorDetails, ErrorKind};

use super::Ctx;
use crate::events::{Listener, QueueHandler};
use crate::registry::{KeySpec, SHARDS};

fn check_room(ctx: &Ctx<'_>, registration: RegistrationId) -> Result<(), Error> {
    let events = &ctx.shared.events;
    let max = ctx.shared.config.limits.max_registrations as usize;
    if events.count_owned(ctx.caller.id) >= max {
        return Err(Error::new(
            ErrorKind::LimitExceeded,
            format!("this session already has {max} registrations"),
        )
        .with_details(ErrorDetails::Limit {
            limit: "max_registrations".into(),
            key: None,
            count: None,
        }));
    }
    if events.registration_in_use(ctx.caller.id, registration) {
        return Err(Error::invalid_argument(
            "registration",
            format!("registration {registration} is in use"),
        ));
    }
    Ok(())
}

/// Registers a session listener and queues its snapshot.
pub(crate) fn add_listener(
    ctx: &mut Ctx<'_>,
    registration: RegistrationId,
    filter: Option<&str>,
    keys: &[String],
    after: Option<u64>,
) -> Result<Reply, Error> {
    let filter = match filter.map(str::trim) {
        None => None,
        Some(text) if text.eq_ignore_ascii_case("all") => None,
        Some(text) => Some(ctx.compile_kept(text)?),
    };
    check_room(ctx, registration)?;
    // Keys may name user properties no session has yet: intern them so the
    // listener sees them once they are set.
    for k in keys {
        if !k.starts_with('$') && !k.starts_with('*') && usher_core::props::validate_user_key(k).is_ok() {
            ctx.shared.interner.intern(k);
        }
    }
    let spec = KeySpec::parse(keys, &ctx.shared.interner);
    let listener = Arc::new(Listener::new(ctx.caller.clone(), registration, filter, spec, after));
    let events = &ctx.shared.events;
    events.add_listener(listener.clone());
    for shard in 0..SHARDS {
        ctx.shared.registry.with_shard(shard, |view| {
            events.snapshot_shard(&listener, shard, view, &ctx.shared.interner);
        });
    }
    Ok(Reply::Done)
}

/// Registers the caller's queue handler.
pub(crate) fn set_queue_handler(ctx: &mut Ctx<'_>, registration: RegistrationId) -> Result<Reply, Error> {
    check_room(ctx, registration)?;
    ctx.shared.events.add_handler(Arc::new(QueueHandler { owner: ctx.caller.clone(), registration }))?;
    Ok(Reply::Done)
}

/// Ends one of the caller's registrations; `RegistrationClosed` follows the
/// reply.
pub(crate) fn unregister(ctx: &mut Ctx<'_>, registration: RegistrationId) -> Result<Reply, Error> {
    if !ctx.shared.events.remove(ctx.caller.id, registration) {
        return Err(Error::invalid_argument("registration", format!("no registration {registration}")));
    }
    ctx.after.push(Push::RegistrationClosed { registration });
    Ok(Reply::Done)
}
