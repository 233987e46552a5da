//! Routing control operations (SPEC §7).
//!
//! On the caller's server: permissions are checked first, exactly as for a
//! local request (SPEC §4: before an id is looked up or a filter parsed).
//! Then by id: the request goes to the server named by the id's server part
//! (not a member: `NO_SUCH_SESSION`; no answer by the deadline:
//! `CLUSTER_ROUTING`). By filter: the local part runs first (it also
//! validates the filter, so a bad filter costs no NATS traffic), then every
//! member is asked in parallel, each for at most the deadline, and the
//! results are summed; unanswered members are listed in `unreachable` of
//! the answer, the partial result: the client's plain call raises
//! `CLUSTER_ROUTING` carrying it, its detailed twin returns it (SPEC §4.1).
//!
//! On the receiving server ([`serve`]) the operation runs through the same
//! command code as a local one, for a stand-in of the caller built from the
//! carried id, principal and roles; dominance is thus evaluated where the
//! target lives, against its current roles.

use std::sync::Arc;

use bytes::Bytes;
use futures_util::future::join_all;
use usher_core::protocol::{
    FetchRequest, FilterResult, QueuePolicy, Reply, Request, SessionInfo, SessionPage, WireError,
};
use usher_core::{Error, ErrorDetails, ErrorKind, SessionId, Target};

use super::wire::{Caller, ClusterRequest, OpReply, decode, encode};
use super::{Cluster, NoAnswer, events};
use crate::cmd::{self, Outcome};
use crate::session::Session;
use crate::state::Shared;

/// Where a request runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Plan {
    /// On this server only, as without a cluster.
    Local,
    /// On the server with this part.
    ById(u64),
    /// Here and on every member.
    FanOut,
    /// A session listener: here and on every member, now and later.
    Listen,
}

fn target_of(request: &Request) -> Option<&Target> {
    match request {
        Request::Close { target, .. }
        | Request::ChangeRoles { target, .. }
        | Request::SetSessionProperties { target, .. }
        | Request::SetConflated { target, .. }
        | Request::SetThrottled { target, .. } => Some(target),
        _ => None,
    }
}

/// Decides where a request runs.
pub(crate) fn plan(cluster: &Cluster, request: &Request) -> Plan {
    let by_id = |id: &SessionId| if id.server == cluster.part { Plan::Local } else { Plan::ById(id.server) };
    // Without other members a filter operation is local, but still
    // reported per server as before.
    let fan_out = || if cluster.members.all().is_empty() { Plan::Local } else { Plan::FanOut };
    match request {
        Request::GetSessionProperties { session, .. } => by_id(session),
        Request::FetchSessions(_) | Request::Count { .. } => fan_out(),
        Request::AddSessionListener { .. } => Plan::Listen,
        other => match target_of(other) {
            Some(Target::Id(id)) => by_id(id),
            Some(Target::Filter(_)) => fan_out(),
            None => Plan::Local,
        },
    }
}

fn outcome(result: Result<Reply, Error>) -> Outcome {
    Outcome { result: result.map_err(WireError::from), after: Vec::new(), close_self: false }
}

fn routing_error(result: FilterResult) -> Error {
    Error::new(
        ErrorKind::ClusterRouting,
        format!("no answer from {}; the operation is unknown there", result.unreachable.join(", ")),
    )
    .with_details(ErrorDetails::Result(Box::new(result)))
}

/// Runs a routed request for a local caller.
pub(crate) async fn route(
    shared: &Arc<Shared>,
    cluster: &Arc<Cluster>,
    session: &Arc<Session>,
    principal: &str,
    request: Request,
    plan: Plan,
) -> Outcome {
    let roles = session.roles();
    if let Some(e) = cmd::permission_error(&roles, &request) {
        let result = Err(WireError::from(e));
        crate::audit::record(session.id, principal, &request, &result);
        return Outcome { result, after: Vec::new(), close_self: false };
    }
    let caller = Caller { id: session.id, principal: principal.to_owned(), roles: roles.names.clone() };
    match plan {
        Plan::Local => cmd::dispatch(shared, session, principal, request),
        Plan::ById(part) => outcome(by_id(cluster, caller, part, request).await),
        Plan::FanOut => fan_out(shared, cluster, session, principal, caller, request).await,
        Plan::Listen => events::listen(shared, cluster, session, principal, request).await,
    }
}

async fn by_id(cluster: &Cluster, caller: Caller, part: u64, request: Request) -> Result<Reply, Error> {
    let id = match &request {
        Request::GetSessionProperties { session, .. } => *session,
        other => match target_of(other) {
            Some(Target::Id(id)) => *id,
            _ => return Err(Error::new(ErrorKind::Internal, "by-id routing without an id")),
        },
    };
    let Some(name) = cluster.members.name(part) else {
        return Err(cmd::no_such_session(id));
    };
    let payload = Bytes::from(encode(&ClusterRequest::Op { caller, request }));
    match cluster.request(part, payload).await {
        Ok(bytes) => decode::<OpReply>(&bytes)
            .map_err(|e| Error::new(ErrorKind::Internal, format!("undecodable reply from {name}: {e}")))?
            .map_err(Error::from),
        Err(why) => {
            tracing::warn!(server = %name, why = %why, "cluster member did not answer");
            Err(routing_error(FilterResult { unreachable: vec![name], ..Default::default() }))
        }
    }
}

/// Asks every member; `(name, reply or None when unanswered)` per member.
async fn ask_all(cluster: &Cluster, request: &ClusterRequest) -> Vec<(String, Option<OpReply>)> {
    let payload = Bytes::from(encode(request));
    let members = cluster.members.all();
    let asks = members.iter().map(|(part, name)| {
        let payload = payload.clone();
        async move {
            let reply = match cluster.request(*part, payload).await {
                Ok(bytes) => match decode::<OpReply>(&bytes) {
                    Ok(r) => Some(r),
                    Err(e) => {
                        tracing::warn!(server = %name, error = %e, "undecodable cluster reply");
                        None
                    }
                },
                Err(NoAnswer::Timeout) => None,
                Err(why) => {
                    tracing::warn!(server = %name, why = %why, "cluster request failed");
                    None
                }
            };
            (name.clone(), reply)
        }
    });
    join_all(asks).await
}

fn add(into: &mut FilterResult, r: &FilterResult) {
    into.total += r.total;
    into.denied += r.denied;
    into.rejected += r.rejected;
    for (server, n) in &r.per_server {
        *into.per_server.entry(server.clone()).or_default() += n;
    }
    into.unreachable.extend(r.unreachable.iter().cloned());
}

/// Sums results; `Err` only for an error that carries no result (the
/// same on every server, e.g. a bad argument): that error is the answer.
fn merge(
    replies: impl IntoIterator<Item = (String, Option<OpReply>)>,
    merged: &mut FilterResult,
    limit_error: &mut Option<WireError>,
) {
    for (name, reply) in replies {
        match reply {
            None => merged.unreachable.push(name),
            Some(Ok(Reply::Result(r))) => add(merged, &r),
            Some(Err(e)) => match &e.details {
                ErrorDetails::Result(r) => {
                    add(merged, r);
                    *limit_error = Some(e.clone());
                }
                _ => {
                    tracing::warn!(server = %name, kind = %e.kind, error = %e.message, "member refused a routed operation");
                    merged.unreachable.push(name);
                }
            },
            Some(Ok(other)) => {
                tracing::warn!(server = %name, ?other, "unexpected reply to a routed operation");
                merged.unreachable.push(name);
            }
        }
    }
}

fn max_targets_of(request: &Request) -> Option<u64> {
    match request {
        Request::Close { max_targets, .. }
        | Request::ChangeRoles { max_targets, .. }
        | Request::SetSessionProperties { max_targets, .. }
        | Request::SetConflated { max_targets, .. }
        | Request::SetThrottled { max_targets, .. } => *max_targets,
        _ => None,
    }
}

async fn fan_out(
    shared: &Arc<Shared>,
    cluster: &Cluster,
    session: &Arc<Session>,
    principal: &str,
    caller: Caller,
    request: Request,
) -> Outcome {
    if let Request::FetchSessions(req) = &request {
        return outcome(fetch(shared, cluster, session, principal, caller, req.clone()).await);
    }
    // max_targets across the cluster: count everywhere first, then act.
    // Sessions that match between the count and the act are acted on (each
    // server still applies max_targets to its own part); see CLUSTER.md.
    if let (Some(max), Some(Target::Filter(filter))) = (max_targets_of(&request), target_of(&request)) {
        let count = Request::Count { filter: filter.clone() };
        let local = cmd::dispatch(shared, session, principal, count.clone());
        let mut merged = FilterResult::default();
        let mut limit = None;
        let remote = ask_all(cluster, &ClusterRequest::Op { caller: caller.clone(), request: count }).await;
        merge(
            std::iter::once((cluster.name.clone(), Some(local.result))).chain(remote),
            &mut merged,
            &mut limit,
        );
        if !merged.unreachable.is_empty() {
            return outcome(Err(routing_error(merged)));
        }
        if merged.total > max {
            let n = merged.total;
            return outcome(Err(Error::new(
                ErrorKind::LimitExceeded,
                format!(
                    "{n} sessions match across the cluster, more than max_targets ({max}); nothing was done"
                ),
            )
            .with_details(ErrorDetails::Limit {
                limit: "max_targets".into(),
                key: None,
                count: Some(n),
            })));
        }
    }
    let mut local = cmd::dispatch(shared, session, principal, request.clone());
    let local_result = std::mem::replace(&mut local.result, Ok(Reply::Done));
    if let Err(e) = &local_result
        && !matches!(e.details, ErrorDetails::Result(_))
    {
        local.result = local_result;
        return local;
    }
    let remote = ask_all(cluster, &ClusterRequest::Op { caller, request }).await;
    let mut merged = FilterResult::default();
    let mut limit_error = None;
    merge(
        std::iter::once((cluster.name.clone(), Some(local_result))).chain(remote),
        &mut merged,
        &mut limit_error,
    );
    // A partial result is an answer, not an error: the detailed twin must
    // return it (SPEC §4.1: `unreachable` is part of the FilterResult), and
    // the client's plain call turns a non-empty `unreachable` into
    // CLUSTER_ROUTING itself (before LIMIT_EXCEEDED for rejected sessions).
    local.result = match limit_error {
        Some(mut e) if merged.unreachable.is_empty() => {
            e.details = ErrorDetails::Result(Box::new(merged));
            Err(e)
        }
        _ => Ok(Reply::Result(merged)),
    };
    local
}

/// `fetchSessions` across the cluster: every server returns its first
/// `limit` sessions after the cursor (the cursor is the sort key of the
/// last session returned, meaningful on every server); the pages are
/// merged by (`$StartTime`, `$SessionId`) and cut at `limit`.
async fn fetch(
    shared: &Arc<Shared>,
    cluster: &Cluster,
    session: &Arc<Session>,
    principal: &str,
    caller: Caller,
    req: FetchRequest,
) -> Result<Reply, Error> {
    const START: &str = "$StartTime";
    let wants_start = req.keys.iter().any(|k| k == START || k == usher_core::props::ALL_FIXED);
    let mut asked = req.clone();
    if !wants_start {
        asked.keys.push(START.into());
    }
    let limit = req.limit.unwrap_or(100).clamp(1, 1000) as usize;
    let local = cmd::dispatch(shared, session, principal, Request::FetchSessions(asked.clone())).result;
    let local = local.map_err(Error::from)?;
    let remote =
        ask_all(cluster, &ClusterRequest::Op { caller, request: Request::FetchSessions(asked) }).await;
    let mut pages = vec![(cluster.name.clone(), Some(Ok(local)))];
    pages.extend(remote);
    let (mut all, mut total, mut has_more, mut unreachable) = (Vec::new(), 0, false, Vec::new());
    for (name, reply) in pages {
        match reply {
            Some(Ok(Reply::Sessions(page))) => {
                total += page.total;
                has_more |= page.has_more;
                all.extend(page.sessions);
            }
            _ => unreachable.push(name),
        }
    }
    let key =
        |s: &SessionInfo| (s.properties.get(START).and_then(|t| t.parse::<u64>().ok()).unwrap_or(0), s.id);
    all.sort_by_key(key);
    if all.len() > limit {
        has_more = true;
        all.truncate(limit);
    }
    let next_cursor = if has_more {
        all.last().map(|s| {
            let (start, id) = key(s);
            format!("{start:016x}{:016x}{:016x}", id.server, id.value)
        })
    } else {
        None
    };
    if !wants_start {
        for s in &mut all {
            s.properties.remove(START);
        }
    }
    Ok(Reply::Sessions(SessionPage { sessions: all, total, has_more, next_cursor, unreachable }))
}

/// Handles a message on this server's subject; `Some` is the reply.
pub(crate) fn serve(
    shared: &Arc<Shared>,
    cluster: &Arc<Cluster>,
    request: ClusterRequest,
) -> Option<OpReply> {
    match request {
        ClusterRequest::Op { caller, request } => Some(run_for(shared, caller, request)),
        ClusterRequest::Listen { owner, registration, filter, keys, after } => {
            Some(events::serve_listen(shared, cluster, owner, registration, filter, keys, after))
        }
        ClusterRequest::Unlisten { owner, registration } => {
            events::serve_unlisten(shared, cluster, owner, Some(registration));
            None
        }
        ClusterRequest::OwnerGone { owner } => {
            events::serve_unlisten(shared, cluster, owner, None);
            None
        }
    }
}

/// Runs an operation for a caller on another server.
fn run_for(shared: &Arc<Shared>, caller: Caller, request: Request) -> OpReply {
    let roles = shared.roles.resolve(&caller.roles).map_err(WireError::from)?;
    // A stand-in for the caller: never in the registry, so it can be
    // neither a target nor an event owner; what it is sent is dropped.
    let stand_in = Session::new(caller.id, QueuePolicy::default(), roles, shared.now_ms());
    cmd::dispatch(shared, &stand_in, &caller.principal, request).result
}
