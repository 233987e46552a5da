//! The audit log (SPEC §8): one structured line per control operation on the
//! tracing target `usher::audit`: who (session id and principal), what
//! (operation), which sessions (id or filter text), how many, and the result.
//! Arguments that could carry secrets (property values) are never logged.

use usher_core::SessionId;
use usher_core::protocol::{Reply, Request, WireError};

/// The target of a request as the audit line shows it: written straight
/// into the line by the log layer, so nothing is formatted or allocated
/// for it when the line is filtered out (SPEC §9 P6: one line per op).
struct TargetText<'a>(&'a Request);

impl std::fmt::Display for TargetText<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            Request::Close { target, .. }
            | Request::ChangeRoles { target, .. }
            | Request::SetSessionProperties { target, .. }
            | Request::SetConflated { target, .. }
            | Request::SetThrottled { target, .. } => target.fmt(f),
            Request::GetSessionProperties { session, .. } => session.fmt(f),
            Request::FetchSessions(r) => f.write_str(&r.filter),
            Request::Count { filter } => f.write_str(filter),
            Request::AddSessionListener { filter, .. } => f.write_str(filter.as_deref().unwrap_or("all")),
            _ => Ok(()),
        }
    }
}

/// True for the control operations of SPEC §4.1 (topics are the data plane).
pub(crate) fn is_control(request: &Request) -> bool {
    !matches!(
        request,
        Request::AddTopic { .. }
            | Request::RemoveTopic { .. }
            | Request::UpdateTopic { .. }
            | Request::Subscribe { .. }
            | Request::Unsubscribe { .. }
    )
}

/// Writes the audit line of one operation.
pub(crate) fn record(
    caller: SessionId,
    principal: &str,
    request: &Request,
    result: &Result<Reply, WireError>,
) {
    if !tracing::enabled!(target: "usher::audit", tracing::Level::INFO) {
        return;
    }
    let op = request.name();
    let target = TargetText(request);
    match result {
        Ok(reply) => {
            let count = match reply {
                Reply::Result(r) => r.total,
                Reply::Sessions(p) => p.sessions.len() as u64,
                Reply::Properties(_) | Reply::Done => 1,
            };
            let (denied, rejected) = match reply {
                Reply::Result(r) => (r.denied, r.rejected),
                _ => (0, 0),
            };
            tracing::info!(target: "usher::audit", caller = %caller, principal, op, target = %target, count, denied, rejected, result = "ok");
        }
        Err(e) => {
            tracing::info!(target: "usher::audit", caller = %caller, principal, op, target = %target, count = 0u64, result = e.kind.code(), error = %e.message);
        }
    }
}
