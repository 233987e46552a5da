//! Requests after the hello: one file per operation, each with its own
//! argument checks and `apply`, and one [`dispatch`] that checks the caller's
//! global permissions *before* anything else (SPEC §4: before a filter is
//! parsed or an id looked up, so an error never reveals whether a session
//! exists to a caller who may not ask).
//!
//! Every command runs synchronously on the caller's connection task: the
//! registry, queues and topics never make it wait, so there is nothing to
//! gain from spawning, and the response is queued in request order.

pub(crate) mod change_roles;
mod close;
mod count;
mod fetch_sessions;
mod get_properties;
mod listeners;
mod set_conflated;
mod set_properties;
mod set_throttled;
mod topics;

use std::sync::Arc;

use usher_core::filter::{CompiledFilter, compile, compile_without_interning};
use usher_core::protocol::{FilterResult, Push, Reply, Request, WireError};
use usher_core::security::{GlobalPermission, RoleModel};
use usher_core::{Error, ErrorDetails, ErrorKind, SessionId, Target};

use crate::roles::RoleSet;
use crate::session::Session;
use crate::state::Shared;

/// What the connection does with a command's outcome.
#[derive(Debug)]
pub(crate) struct Outcome {
    /// The response.
    pub result: Result<Reply, WireError>,
    /// Pushes to queue after the response (e.g. `RegistrationClosed`).
    pub after: Vec<Push>,
    /// The caller closed itself: close it after the response is queued.
    pub close_self: bool,
}

/// The caller's context while a command runs.
pub(crate) struct Ctx<'a> {
    pub shared: &'a Shared,
    pub caller: &'a Arc<Session>,
    pub roles: Arc<RoleSet>,
    pub after: Vec<Push>,
    pub close_self: bool,
}

impl std::fmt::Debug for Ctx<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ctx").field("caller", &self.caller.id).finish_non_exhaustive()
    }
}

/// The sessions a command acts on, resolved.
#[derive(Debug)]
pub(crate) struct Targets {
    pub ids: Vec<SessionId>,
    pub by_id: bool,
}

impl Ctx<'_> {
    /// True when the caller has the permission.
    pub(crate) fn has(&self, p: GlobalPermission) -> bool {
        self.roles.perms.has(p)
    }

    /// The dominance rule: the caller's roles hold the target's, or the
    /// caller has MODIFY_SECURITY.
    pub(crate) fn dominates(&self, target: &RoleSet) -> bool {
        RoleModel::dominates(&self.roles.perms, &target.perms)
    }

    /// Parses and compiles a filter for a one-shot operation
    /// (`INVALID_FILTER` with its problems). Names are looked up, not
    /// interned, so client filters cannot fill the symbol table.
    pub(crate) fn compile(&self, text: &str) -> Result<CompiledFilter, Error> {
        compile_without_interning(text, &self.shared.interner).map_err(Error::from)
    }

    /// Compiles a filter kept for sessions that connect later (listeners):
    /// its names are interned.
    pub(crate) fn compile_kept(&self, text: &str) -> Result<CompiledFilter, Error> {
        compile(text, &self.shared.interner).map_err(Error::from)
    }

    /// Resolves a target: an id must be one of this server's live sessions
    /// (`NO_SUCH_SESSION`); a filter must compile, and with `max_targets`
    /// more matches than that is `LIMIT_EXCEEDED` carrying the count (and
    /// nothing is acted on).
    pub(crate) fn targets(&self, target: &Target, max_targets: Option<u64>) -> Result<Targets, Error> {
        match target {
            Target::Id(id) => {
                if id.server != self.shared.server_part || self.shared.registry.get(*id, |_| ()).is_none() {
                    return Err(no_such_session(*id));
                }
                Ok(Targets { ids: vec![*id], by_id: true })
            }
            Target::Filter(text) => {
                let filter = self.compile(text)?;
                let mut found = self.shared.registry.select(&filter);
                if let Some(max) = max_targets
                    && found.len() as u64 > max
                {
                    let count = found.len() as u64;
                    return Err(Error::new(
                        ErrorKind::LimitExceeded,
                        format!("{count} sessions match, more than max_targets ({max}); nothing was done"),
                    )
                    .with_details(ErrorDetails::Limit {
                        limit: "max_targets".into(),
                        key: None,
                        count: Some(count),
                    }));
                }
                found.sort_unstable();
                Ok(Targets { ids: found.into_iter().map(|(_, id)| id).collect(), by_id: false })
            }
        }
    }

    /// A result with `total` acted on, counted for this server.
    pub(crate) fn result(&self, total: u64, denied: u64, rejected: u64) -> FilterResult {
        FilterResult {
            total,
            per_server: [(self.shared.server_name.to_string(), total)].into(),
            denied,
            rejected,
            ..Default::default()
        }
    }
}

/// `NO_SUCH_SESSION` for an id.
pub(crate) fn no_such_session(id: SessionId) -> Error {
    Error::new(ErrorKind::NoSuchSession, format!("no session {id}"))
}

/// `ACCESS_DENIED` for a dominance failure by id.
pub(crate) fn not_dominated() -> Error {
    Error::access_denied(GlobalPermission::ModifySecurity)
}

/// The global permissions a request needs, in the order they are checked.
fn required(request: &Request) -> &'static [GlobalPermission] {
    use GlobalPermission::{ModifySession, RegisterHandler, ViewSession};
    let filter_or_id = |t: &Target| -> &'static [GlobalPermission] {
        if t.is_filter() { &[ModifySession, ViewSession] } else { &[ModifySession] }
    };
    match request {
        Request::Close { target, .. }
        | Request::ChangeRoles { target, .. }
        | Request::SetConflated { target, .. }
        | Request::SetThrottled { target, .. } => filter_or_id(target),
        Request::SetSessionProperties { .. } => &[ViewSession, ModifySession],
        Request::GetSessionProperties { .. } | Request::FetchSessions(_) | Request::Count { .. } => {
            &[ViewSession]
        }
        Request::AddSessionListener { .. } | Request::SetQueueHandler { .. } => {
            &[ViewSession, RegisterHandler]
        }
        Request::Unregister { .. }
        | Request::AddTopic { .. }
        | Request::RemoveTopic { .. }
        | Request::UpdateTopic { .. }
        | Request::Subscribe { .. }
        | Request::Unsubscribe { .. } => &[],
    }
}

/// The caller's first missing permission for `request`, as the error the
/// caller gets (used by the cluster's routing before it routes).
pub(crate) fn permission_error(roles: &RoleSet, request: &Request) -> Option<Error> {
    required(request).iter().find(|p| !roles.perms.has(**p)).map(Error::access_denied)
}

pub(crate) use listeners::add_listener;

/// Checks permissions, runs the command, writes the audit line.
pub(crate) fn dispatch(shared: &Shared, caller: &Arc<Session>, principal: &str, request: Request) -> Outcome {
    let mut ctx = Ctx { shared, caller, roles: caller.roles(), after: Vec::new(), close_self: false };
    let result = match required(&request).iter().find(|p| !ctx.has(**p)) {
        Some(missing) => Err(Error::access_denied(missing)),
        None => run(&mut ctx, &request),
    };
    let result = result.map_err(WireError::from);
    if crate::audit::is_control(&request) {
        crate::audit::record(caller.id, principal, &request, &result);
    }
    Outcome { result, after: ctx.after, close_self: ctx.close_self }
}

fn run(ctx: &mut Ctx<'_>, request: &Request) -> Result<Reply, Error> {
    match request {
        Request::Close { target, max_targets } => close::apply(ctx, target, *max_targets),
        Request::ChangeRoles { target, remove, add, max_targets } => {
            change_roles::apply(ctx, target, remove, add, *max_targets)
        }
        Request::GetSessionProperties { session, keys } => get_properties::apply(ctx, *session, keys),
        Request::SetSessionProperties { target, properties, max_targets } => {
            set_properties::apply(ctx, target, properties, *max_targets)
        }
        Request::SetConflated { target, conflated, max_targets } => {
            set_conflated::apply(ctx, target, *conflated, *max_targets)
        }
        Request::SetThrottled { target, throttler, max_targets } => {
            set_throttled::apply(ctx, target, *throttler, *max_targets)
        }
        Request::FetchSessions(req) => fetch_sessions::apply(ctx, req),
        Request::Count { filter } => count::apply(ctx, filter),
        Request::AddSessionListener { registration, filter, keys, after } => {
            listeners::add_listener(ctx, *registration, filter.as_deref(), keys, *after)
        }
        Request::SetQueueHandler { registration } => listeners::set_queue_handler(ctx, *registration),
        Request::Unregister { registration } => listeners::unregister(ctx, *registration),
        Request::AddTopic { path, value } => topics::add(ctx, path, value),
        Request::RemoveTopic { path } => topics::remove(ctx, path),
        Request::UpdateTopic { path, value } => topics::update(ctx, path, value),
        Request::Subscribe { selector } => topics::subscribe(ctx, selector),
        Request::Unsubscribe { selector } => topics::unsubscribe(ctx, selector),
    }
}
