//! How the CLI shows things: the sessions table, one-line events, and errors
//! (a caret under each filter problem, the missing permission by name).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use usher_core::error::{ErrorDetails, ErrorKind, FilterProblem};
use usher_core::protocol::{QueueEvent, QueuePolicy, SessionEvent, SessionInfo, SessionState, Throttler};

/// A readable table: a header, then one row per session, columns padded.
pub fn sessions_table(keys: &[String], sessions: &[SessionInfo]) -> String {
    let mut header = vec!["SESSION".to_owned()];
    header.extend(keys.iter().cloned());
    let rows: Vec<Vec<String>> = sessions
        .iter()
        .map(|s| {
            let mut row = vec![s.id.to_string()];
            row.extend(keys.iter().map(|k| s.properties.get(k).cloned().unwrap_or_default()));
            row
        })
        .collect();
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for row in std::iter::once(&header).chain(&rows) {
        let cells: Vec<String> = row.iter().zip(&widths).map(|(c, w)| format!("{c:<w$}")).collect();
        let _ = writeln!(out, "{}", cells.join("  ").trim_end());
    }
    out
}

fn props_text(properties: &BTreeMap<String, String>) -> String {
    properties.iter().map(|(k, v)| format!(" {k}={v}")).collect()
}

fn opt(v: &Option<String>) -> &str {
    v.as_deref().unwrap_or("(none)")
}

/// One line for a session event.
pub fn session_event_line(event: &SessionEvent) -> String {
    match event {
        SessionEvent::State { session, state: SessionState::Active, properties, .. } => {
            format!("ACTIVE {session}{}", props_text(properties))
        }
        SessionEvent::State { session, state: SessionState::Closed, reason, properties } => {
            let reason = reason.map(|r| r.as_str()).unwrap_or("UNKNOWN");
            format!("CLOSED {session} {reason}{}", props_text(properties))
        }
        SessionEvent::Properties { session, changed, matches } => {
            let changes: String =
                changed.iter().map(|(k, (old, new))| format!(" {k}: {} -> {}", opt(old), opt(new))).collect();
            let tail = if *matches { "" } else { " (no longer matches)" };
            format!("PROPERTIES {session}{changes}{tail}")
        }
    }
}

fn throttler_text(t: Throttler) -> String {
    match t {
        Throttler::Unthrottled => "off".into(),
        Throttler::MessagesPerSecond(n) => format!("msgs={n}"),
        Throttler::BytesPerSecond(n) => format!("bytes={n}"),
    }
}

fn policy_text(p: &QueuePolicy) -> String {
    format!(
        "conflated={} throttle={} max_depth={} upper={}% lower={}%",
        if p.conflated { "on" } else { "off" },
        throttler_text(p.throttler),
        p.max_depth,
        p.upper_threshold,
        p.lower_threshold
    )
}

/// One line for a queue event.
pub fn queue_event_line(event: &QueueEvent) -> String {
    let kind = match event {
        QueueEvent::UpperThresholdCrossed { .. } => "UPPER",
        QueueEvent::LowerThresholdCrossed { .. } => "LOWER",
        QueueEvent::PolicyChanged { .. } => "POLICY",
    };
    format!("{kind} {} {}", event.session(), policy_text(event.policy()))
}

/// The filter module's caret rendering when the filter text is known;
/// otherwise each problem as `line:column: message`.
pub fn filter_problems(filter: Option<&str>, problems: &[FilterProblem]) -> String {
    match filter {
        Some(text) => usher_core::filter::render(text, problems),
        None => problems.iter().map(|p| format!("{}:{}: {}\n", p.line, p.column, p.message)).collect(),
    }
}

/// An error for people: names the permission, renders filter problems.
pub fn error_text(e: &usher_core::Error, filter: Option<&str>) -> String {
    match (&e.kind, &e.details) {
        (ErrorKind::AccessDenied, ErrorDetails::Permission(p)) => {
            format!("error: access denied: the permission {p} is required\n")
        }
        (ErrorKind::InvalidFilter, ErrorDetails::Problems(problems)) => {
            format!("error: invalid filter\n{}", filter_problems(filter, problems))
        }
        (ErrorKind::LimitExceeded, ErrorDetails::Limit { limit, count: Some(count), .. })
            if limit == "max_targets" =>
        {
            format!("error: {count} sessions match now, more than confirmed; nothing was done\n")
        }
        _ => format!("error: {e}\n"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caret_points_at_the_column() {
        let p = FilterProblem { line: 1, column: 15, message: "expected a quoted string after 'is'".into() };
        let text = filter_problems(Some("$Principal is"), std::slice::from_ref(&p));
        let caret = text.lines().find(|l| l.trim_end().ends_with('^')).unwrap_or_default();
        let line = text.lines().find(|l| l.contains("$Principal is")).unwrap_or_default();
        // "$Principal is" is 13 characters: the caret is two past its end, under column 15.
        assert_eq!(caret.trim_end().chars().count(), line.chars().count() + 2, "{text}");
        assert_eq!(filter_problems(None, &[p]), "1:15: expected a quoted string after 'is'\n");
    }
}
