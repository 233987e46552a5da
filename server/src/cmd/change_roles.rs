//! `changeRoles` (SPEC §4.1): remove then add roles. Checks, in order: the
//! two sets (`INVALID_ARGUMENT`), no escalation for every role named
//! (`ACCESS_DENIED`, nothing changed), then per target dominance. The change
//! applies at once: permissions recomputed, subscriptions and registrations
//! that lost their permissions ended, a `$Roles` PROPERTIES event, and the
//! target told its new roles.

use std::collections::BTreeSet;
use std::sync::Arc;

use bytes::Bytes;
use usher_core::protocol::{Push, Reply, ServerMessage, encode};
use usher_core::security::GlobalPermission;
use usher_core::{Error, Target};

use super::{Ctx, not_dominated};
use crate::queue::Item;
use crate::roles::RoleSet;
use crate::session::Session;
use crate::state::Shared;

fn check_sets(remove: &[String], add: &[String]) -> Result<(), Error> {
    if remove.is_empty() && add.is_empty() {
        return Err(Error::invalid_argument("roles", "roles to remove and roles to add are both empty"));
    }
    for role in remove.iter().chain(add) {
        if !usher_core::props::is_valid_role_name(role) {
            return Err(Error::invalid_argument(
                role.clone(),
                format!("invalid role name {role:?} (must match [A-Za-z0-9_.-]{{1,64}})"),
            ));
        }
    }
    if let Some(both) = remove.iter().find(|r| add.contains(r)) {
        return Err(Error::invalid_argument(
            both.clone(),
            format!("role {both:?} is both removed and added"),
        ));
    }
    Ok(())
}

/// Changes the targets' roles.
pub(crate) fn apply(
    ctx: &mut Ctx<'_>,
    target: &Target,
    remove: &[String],
    add: &[String],
    max_targets: Option<u64>,
) -> Result<Reply, Error> {
    check_sets(remove, add)?;
    // No escalation: every role named must be held by the caller's roles
    // (undefined names need MODIFY_SECURITY); otherwise nothing changes.
    let model = ctx.shared.roles.model();
    if let Some(role) = remove.iter().chain(add).find(|r| !model.may_change_role_with(&ctx.roles.perms, r)) {
        return Err(Error::new(
            usher_core::ErrorKind::AccessDenied,
            format!("changing role {role:?} needs roles that hold it, or MODIFY_SECURITY"),
        )
        .with_details(usher_core::ErrorDetails::Permission(GlobalPermission::ModifySecurity.to_string())));
    }
    let targets = ctx.targets(target, max_targets)?;
    let (mut total, mut denied) = (0, 0);
    // Many targets share few role sets: compute each new set, and its
    // encoded `RolesChanged` push, once.
    let mut memo: Vec<(Arc<RoleSet>, Arc<RoleSet>, Bytes)> = Vec::new();
    for id in targets.ids {
        let Some(old) = ctx.shared.registry.get(id, |v| v.rec.roles.clone()) else { continue };
        if !ctx.dominates(&old) {
            if targets.by_id {
                return Err(not_dominated());
            }
            denied += 1;
            continue;
        }
        let (new, frame) = match memo.iter().find(|(o, _, _)| Arc::ptr_eq(o, &old)) {
            Some((_, new, frame)) => (new.clone(), frame.clone()),
            None => {
                let mut names: BTreeSet<&str> = old.names.iter().map(String::as_str).collect();
                for r in remove {
                    names.remove(r.as_str());
                }
                names.extend(add.iter().map(String::as_str));
                let names: Vec<&str> = names.into_iter().collect();
                let new = ctx.shared.roles.resolve(&names)?;
                let frame = roles_frame(&new);
                memo.push((old.clone(), new.clone(), frame.clone()));
                (new, frame)
            }
        };
        total += 1;
        if Arc::ptr_eq(&new, &old) || new.names == old.names {
            continue;
        }
        if let Some(session) = ctx.shared.registry.set_roles(id, &ctx.shared.events, &new) {
            if session.id == ctx.caller.id {
                ctx.roles = new.clone();
            }
            roles_changed(ctx.shared, &session, Some((&new, &frame)));
        }
    }
    Ok(Reply::Result(ctx.result(total, denied, 0)))
}

/// The encoded `RolesChanged` push for a role set.
fn roles_frame(roles: &RoleSet) -> Bytes {
    Bytes::from(encode(&ServerMessage::Push(Push::RolesChanged { roles: roles.names.clone() })))
}

/// The effects of a role (or role definition) change on the session
/// itself; `announce` (the new set and its encoded push) sends it
/// `RolesChanged`, re-encoded if its roles changed again meanwhile.
pub(crate) fn roles_changed(
    shared: &Shared,
    session: &Arc<Session>,
    announce: Option<(&Arc<RoleSet>, &Bytes)>,
) {
    let roles = session.roles();
    shared.topics.revalidate(&shared.events, session);
    let keeps =
        roles.perms.has(GlobalPermission::ViewSession) && roles.perms.has(GlobalPermission::RegisterHandler);
    if !keeps {
        let missing = if roles.perms.has(GlobalPermission::ViewSession) {
            GlobalPermission::RegisterHandler
        } else {
            GlobalPermission::ViewSession
        };
        let error = Error::access_denied(missing);
        for registration in shared.events.owned(session.id) {
            shared.events.end(session.id, registration, Some(&error));
        }
    }
    if let Some((set, frame)) = announce {
        let frame = if Arc::ptr_eq(set, &roles) { frame.clone() } else { roles_frame(&roles) };
        session.enqueue(&shared.events, Item { frame, topic: None, response: false });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use usher_core::ErrorKind;

    #[test]
    fn sets_are_checked() {
        let s = |v: &[&str]| v.iter().map(|r| (*r).to_owned()).collect::<Vec<_>>();
        assert_eq!(check_sets(&[], &[]).map_err(|e| e.kind), Err(ErrorKind::InvalidArgument));
        assert_eq!(check_sets(&s(&["A"]), &s(&["A"])).map_err(|e| e.kind), Err(ErrorKind::InvalidArgument));
        assert_eq!(check_sets(&[], &s(&["A B"])).map_err(|e| e.kind), Err(ErrorKind::InvalidArgument));
        assert!(check_sets(&s(&["A"]), &s(&["B"])).is_ok());
    }
}
