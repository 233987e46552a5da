//! Value types of the API as frozen Python classes: `FilterResult`,
//! `Throttler`, `QueuePolicy`, `SessionEvent`, `QueueEvent`, `SessionInfo`,
//! `SessionPage`. Each is a conversion of the `usher_core::protocol` type of
//! the same name; enums travel as their upper-snake codes (the same text in
//! every language).

use std::collections::BTreeMap;

use pyo3::prelude::*;
use usher_core::protocol;

use crate::id::SessionId;

/// The full result of an operation on a target (SPEC §4.1).
#[pyclass(module = "usher", name = "FilterResult", frozen, get_all, eq)]
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FilterResult {
    /// Sessions matched and acted on (1 by id), unchanged ones included.
    pub total: u64,
    /// `total` per server name.
    pub per_server: BTreeMap<String, u64>,
    /// Servers that did not answer (cluster only).
    pub unreachable: Vec<String>,
    /// Sessions skipped by the dominance rule.
    pub denied: u64,
    /// Sessions refused for a limit (set_session_properties).
    pub rejected: u64,
    /// set_session_properties by id: each changed key and its old value.
    pub changed: Option<BTreeMap<String, Option<String>>>,
}

impl From<protocol::FilterResult> for FilterResult {
    fn from(r: protocol::FilterResult) -> Self {
        Self {
            total: r.total,
            per_server: r.per_server,
            unreachable: r.unreachable,
            denied: r.denied,
            rejected: r.rejected,
            changed: r.changed,
        }
    }
}

#[pymethods]
impl FilterResult {
    fn __repr__(&self) -> String {
        format!(
            "FilterResult(total={}, per_server={:?}, unreachable={:?}, denied={}, rejected={}, changed={:?})",
            self.total, self.per_server, self.unreachable, self.denied, self.rejected, self.changed
        )
    }
}

/// How writes to a session's socket are paced (SPEC §5.3):
/// `Throttler.unthrottled()`, `Throttler.messages_per_second(n)`,
/// `Throttler.bytes_per_second(n)`.
#[pyclass(module = "usher", name = "Throttler", frozen, eq, hash)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Throttler(pub protocol::Throttler);

#[pymethods]
impl Throttler {
    /// As fast as the client reads.
    #[staticmethod]
    fn unthrottled() -> Self {
        Self(protocol::Throttler::Unthrottled)
    }

    /// At most `n` messages a second.
    #[staticmethod]
    fn messages_per_second(n: u32) -> Self {
        Self(protocol::Throttler::MessagesPerSecond(n))
    }

    /// At most `n` bytes a second.
    #[staticmethod]
    fn bytes_per_second(n: u64) -> Self {
        Self(protocol::Throttler::BytesPerSecond(n))
    }

    /// `"UNTHROTTLED"`, `"MESSAGES_PER_SECOND"` or `"BYTES_PER_SECOND"`.
    #[getter]
    fn kind(&self) -> &'static str {
        match self.0 {
            protocol::Throttler::Unthrottled => "UNTHROTTLED",
            protocol::Throttler::MessagesPerSecond(_) => "MESSAGES_PER_SECOND",
            protocol::Throttler::BytesPerSecond(_) => "BYTES_PER_SECOND",
        }
    }

    /// The rate (`None` when unthrottled).
    #[getter]
    fn rate(&self) -> Option<u64> {
        match self.0 {
            protocol::Throttler::Unthrottled => None,
            protocol::Throttler::MessagesPerSecond(n) => Some(u64::from(n)),
            protocol::Throttler::BytesPerSecond(n) => Some(n),
        }
    }

    fn __repr__(&self) -> String {
        match self.0 {
            protocol::Throttler::Unthrottled => "Throttler.unthrottled()".into(),
            protocol::Throttler::MessagesPerSecond(n) => format!("Throttler.messages_per_second({n})"),
            protocol::Throttler::BytesPerSecond(n) => format!("Throttler.bytes_per_second({n})"),
        }
    }
}

/// A session's outbound queue policy (SPEC §5.3).
#[pyclass(module = "usher", name = "QueuePolicy", frozen, get_all, eq, hash)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct QueuePolicy {
    /// One pending value per topic while on.
    pub conflated: bool,
    /// Pacing of socket writes.
    pub throttler: Throttler,
    /// Most messages queued before the session is closed.
    pub max_depth: u32,
    /// Most bytes queued before the session is closed.
    pub max_bytes: u64,
    /// Upper threshold, percent of `max_depth`.
    pub upper_threshold: u8,
    /// Lower threshold, percent of `max_depth`.
    pub lower_threshold: u8,
    /// The depth that fires "upper crossed": ceil(max_depth × upper / 100).
    pub upper_depth: u32,
    /// The depth that fires "lower crossed": floor(max_depth × lower / 100).
    pub lower_depth: u32,
}

impl From<protocol::QueuePolicy> for QueuePolicy {
    fn from(p: protocol::QueuePolicy) -> Self {
        Self {
            conflated: p.conflated,
            throttler: Throttler(p.throttler),
            max_depth: p.max_depth,
            max_bytes: p.max_bytes,
            upper_threshold: p.upper_threshold,
            lower_threshold: p.lower_threshold,
            upper_depth: p.upper_depth(),
            lower_depth: p.lower_depth(),
        }
    }
}

#[pymethods]
impl QueuePolicy {
    fn __repr__(&self) -> String {
        format!(
            "QueuePolicy(conflated={}, throttler={}, max_depth={}, max_bytes={}, upper_threshold={}, lower_threshold={})",
            if self.conflated { "True" } else { "False" },
            self.throttler.__repr__(),
            self.max_depth,
            self.max_bytes,
            self.upper_threshold,
            self.lower_threshold
        )
    }
}

/// A session event (SPEC §4.2): `kind` is `"STATE"` (with `state`
/// `"ACTIVE"`/`"CLOSED"`, `reason` for `CLOSED`, `properties`) or
/// `"PROPERTIES"` (with `changed` and `matches`).
#[pyclass(module = "usher", name = "SessionEvent", frozen, get_all, eq)]
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionEvent {
    /// `"STATE"` or `"PROPERTIES"`.
    pub kind: &'static str,
    /// The session the event is about.
    pub session_id: SessionId,
    /// `STATE`: `"ACTIVE"` or `"CLOSED"`; `None` for `PROPERTIES`.
    pub state: Option<&'static str>,
    /// `CLOSED`: the close reason.
    pub reason: Option<&'static str>,
    /// `STATE`: the requested properties (current, or last for `CLOSED`).
    pub properties: BTreeMap<String, String>,
    /// `PROPERTIES`: each changed key, `(old, new)`; `None` means absent.
    pub changed: BTreeMap<String, (Option<String>, Option<String>)>,
    /// Whether the session matches the listener's filter now (`True` for `STATE`).
    pub matches: bool,
}

impl From<protocol::SessionEvent> for SessionEvent {
    fn from(e: protocol::SessionEvent) -> Self {
        match e {
            protocol::SessionEvent::State { session, state, reason, properties } => Self {
                kind: "STATE",
                session_id: SessionId(session),
                state: Some(match state {
                    protocol::SessionState::Active => "ACTIVE",
                    protocol::SessionState::Closed => "CLOSED",
                }),
                reason: reason.map(protocol::CloseReason::as_str),
                properties,
                changed: BTreeMap::new(),
                matches: true,
            },
            protocol::SessionEvent::Properties { session, changed, matches } => Self {
                kind: "PROPERTIES",
                session_id: SessionId(session),
                state: None,
                reason: None,
                properties: BTreeMap::new(),
                changed,
                matches,
            },
        }
    }
}

#[pymethods]
impl SessionEvent {
    fn __repr__(&self) -> String {
        match self.state {
            Some(state) => format!(
                "SessionEvent(kind='STATE', session_id='{}', state='{state}', reason={:?}, properties={:?})",
                self.session_id.0, self.reason, self.properties
            ),
            None => format!(
                "SessionEvent(kind='PROPERTIES', session_id='{}', changed={:?}, matches={})",
                self.session_id.0, self.changed, self.matches
            ),
        }
    }
}

/// A queue event (SPEC §4.3), as a callable queue handler receives it; an
/// object handler gets `(session_id, policy)` in the method named by `kind`.
#[pyclass(module = "usher", name = "QueueEvent", frozen, get_all, eq)]
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueueEvent {
    /// `"UPPER_THRESHOLD_CROSSED"`, `"LOWER_THRESHOLD_CROSSED"` or `"POLICY_CHANGED"`.
    pub kind: &'static str,
    /// The session.
    pub session_id: SessionId,
    /// Its current (for `POLICY_CHANGED`: new) policy.
    pub policy: QueuePolicy,
}

impl From<protocol::QueueEvent> for QueueEvent {
    fn from(e: protocol::QueueEvent) -> Self {
        let kind = match e {
            protocol::QueueEvent::UpperThresholdCrossed { .. } => "UPPER_THRESHOLD_CROSSED",
            protocol::QueueEvent::LowerThresholdCrossed { .. } => "LOWER_THRESHOLD_CROSSED",
            protocol::QueueEvent::PolicyChanged { .. } => "POLICY_CHANGED",
        };
        Self { kind, session_id: SessionId(e.session()), policy: (*e.policy()).into() }
    }
}

#[pymethods]
impl QueueEvent {
    fn __repr__(&self) -> String {
        format!(
            "QueueEvent(kind='{}', session_id='{}', policy={})",
            self.kind,
            self.session_id.0,
            self.policy.__repr__()
        )
    }
}

/// One session of a `fetch_sessions` page.
#[pyclass(module = "usher", name = "SessionInfo", frozen, get_all, eq)]
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionInfo {
    /// The session.
    pub id: SessionId,
    /// The requested properties it has.
    pub properties: BTreeMap<String, String>,
}

#[pymethods]
impl SessionInfo {
    fn __repr__(&self) -> String {
        format!("SessionInfo(id='{}', properties={:?})", self.id.0, self.properties)
    }
}

/// A page of `fetch_sessions`, ordered by (`$StartTime`, `$SessionId`).
#[pyclass(module = "usher", name = "SessionPage", frozen, get_all)]
#[derive(Clone, Debug)]
pub struct SessionPage {
    /// The sessions of this page.
    pub sessions: Vec<SessionInfo>,
    /// How many sessions matched in all.
    pub total: u64,
    /// True when more sessions follow this page.
    pub has_more: bool,
    /// Pass back as `cursor` to fetch the next page.
    pub next_cursor: Option<String>,
    /// Servers that did not answer (cluster only).
    pub unreachable: Vec<String>,
}

impl From<protocol::SessionPage> for SessionPage {
    fn from(page: protocol::SessionPage) -> Self {
        let sessions = page
            .sessions
            .into_iter()
            .map(|s| SessionInfo { id: SessionId(s.id), properties: s.properties })
            .collect();
        Self {
            sessions,
            total: page.total,
            has_more: page.has_more,
            next_cursor: page.next_cursor,
            unreachable: page.unreachable,
        }
    }
}

#[pymethods]
impl SessionPage {
    fn __repr__(&self) -> String {
        format!(
            "SessionPage(sessions=<{}>, total={}, has_more={}, next_cursor={:?})",
            self.sessions.len(),
            self.total,
            self.has_more,
            self.next_cursor
        )
    }
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<FilterResult>()?;
    m.add_class::<Throttler>()?;
    m.add_class::<QueuePolicy>()?;
    m.add_class::<SessionEvent>()?;
    m.add_class::<QueueEvent>()?;
    m.add_class::<SessionInfo>()?;
    m.add_class::<SessionPage>()?;
    Ok(())
}
