//! The audit log (SPEC §8): one structured line per control operation on the
//! tracing target `usher::audit`: who (session id and principal), what
//! (operation), which sessions (id or filter text), how many, and the result.
//! Arguments that could carry secrets (property values) are never logged.

use usher_core::SessionId;
use usher_core::protocol::{Reply, Request, WireError};

/// The target text of a request, for the audit line.
fn target_text(request: &Request) -> String {
    match request {
        Request::Close { target, .. }
        | Request::ChangeRoles { target, .. }
        | Request::SetSessionProperties { target, .. }
        | Request::SetConflated { target, .. }
        | Request::SetThrottled { target, .. } => target.to_string(),
        Request::GetSessionProperties { session, .. } => session.to_string(),
        Request::FetchSessions(f) => f.filter.clone(),
        Request::Count { filter } => filter.clone(),
        Request::AddSessionListener { filter, .. } => filter.clone().unwrap_or_else(|| "all".into()),
        _ => String::new(),
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
    let op = request.name();
    let target = target_text(request);
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
            tracing::info!(target: "usher::audit", caller = %caller, principal, op, target, count, denied, rejected, result = "ok");
        }
        Err(e) => {
            tracing::info!(target: "usher::audit", caller = %caller, principal, op, target, count = 0u64, result = e.kind.code(), error = %e.message);
        }
    }
}
