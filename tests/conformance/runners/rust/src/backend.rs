//! The Rust backend: every call is `usher_core::client`'s public API, and
//! what it returns is normalised to the plain data of
//! tests/conformance/README.md (`serde_json::Value`).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::StreamExt;
use serde_json::{Map, Value, json};
use tokio::sync::Notify;
use usher_core::client::{
    ConnectOptions, ListenerRegistration, QueueEventListener, Session, SessionEventListener,
    SessionEventParams, Subscription,
};
use usher_core::error::{Error, ErrorDetails};
use usher_core::protocol::{FetchRequest, FilterResult, QueuePolicy, SessionEvent, SessionState, Throttler};
use usher_core::{SessionId, Target};

/// Events pushed by listeners (on their own tasks), awaited by steps.
#[derive(Debug, Default)]
pub struct Sink {
    /// Everything received, in order.
    pub items: Mutex<Vec<Value>>,
    /// Woken on every push.
    pub notify: Notify,
}

impl Sink {
    fn push(&self, item: Value) {
        self.items.lock().unwrap_or_else(|e| e.into_inner()).push(item);
        self.notify.notify_waiters();
    }

    /// A copy of what has arrived.
    pub fn snapshot(&self) -> Vec<Value> {
        self.items.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

/// An error of the binding as plain data: `kind` and the details.
pub fn error(e: &Error) -> Value {
    let mut data = Map::new();
    data.insert("kind".into(), json!(e.kind.code()));
    match &e.details {
        ErrorDetails::None => {}
        ErrorDetails::Permission(p) => {
            data.insert("permission".into(), json!(p));
        }
        ErrorDetails::Problems(problems) => {
            let list: Vec<Value> = problems
                .iter()
                .map(|p| json!({"line": p.line, "column": p.column, "message": p.message}))
                .collect();
            data.insert("problems".into(), Value::Array(list));
        }
        ErrorDetails::Limit { limit, key, count } => {
            data.insert("limit".into(), json!(limit));
            data.insert("key".into(), json!(key));
            data.insert("count".into(), json!(count));
        }
        ErrorDetails::Argument(a) => {
            data.insert("argument".into(), json!(a));
        }
        ErrorDetails::Result(r) => {
            data.insert("result".into(), filter_result(r));
        }
    }
    Value::Object(data)
}

fn filter_result(r: &FilterResult) -> Value {
    json!({"total": r.total, "per_server": r.per_server, "denied": r.denied, "rejected": r.rejected,
           "changed": r.changed, "unreachable": r.unreachable})
}

fn policy(p: &QueuePolicy) -> Value {
    let throttler = match p.throttler {
        Throttler::Unthrottled => json!({"kind": "UNTHROTTLED", "rate": null}),
        Throttler::MessagesPerSecond(n) => json!({"kind": "MESSAGES_PER_SECOND", "rate": n}),
        Throttler::BytesPerSecond(n) => json!({"kind": "BYTES_PER_SECOND", "rate": n}),
    };
    json!({"conflated": p.conflated, "throttler": throttler, "max_depth": p.max_depth, "max_bytes": p.max_bytes,
           "upper_threshold": p.upper_threshold, "lower_threshold": p.lower_threshold})
}

fn session_event(e: &SessionEvent) -> Value {
    match e {
        SessionEvent::State { session, state, reason, properties } => json!({
            "type": "STATE", "session": session.to_string(),
            "state": if *state == SessionState::Active { "ACTIVE" } else { "CLOSED" },
            "reason": reason.map(|r| r.as_str()), "properties": properties,
        }),
        SessionEvent::Properties { session, changed, matches } => {
            let changed: Map<String, Value> =
                changed.iter().map(|(k, (o, n))| (k.clone(), json!([o, n]))).collect();
            json!({"type": "PROPERTIES", "session": session.to_string(), "changed": changed, "matches": matches})
        }
    }
}

struct EventListener(Arc<Sink>);

impl SessionEventListener for EventListener {
    fn on_event(&mut self, event: SessionEvent) {
        self.0.push(session_event(&event));
    }
    fn on_error(&mut self, e: Error) {
        self.0.push(json!({"type": "ERROR", "error": error(&e)}));
    }
    fn on_close(&mut self) {
        self.0.push(json!({"type": "END"}));
    }
}

struct QueueListener(Arc<Sink>);

impl QueueListener {
    fn push(&self, kind: &str, id: SessionId, p: QueuePolicy) {
        self.0.push(json!({"type": kind, "session": id.to_string(), "policy": policy(&p)}));
    }
}

impl QueueEventListener for QueueListener {
    fn on_upper_threshold_crossed(&mut self, id: SessionId, p: QueuePolicy) {
        self.push("UPPER_THRESHOLD_CROSSED", id, p);
    }
    fn on_lower_threshold_crossed(&mut self, id: SessionId, p: QueuePolicy) {
        self.push("LOWER_THRESHOLD_CROSSED", id, p);
    }
    fn on_policy_changed(&mut self, id: SessionId, p: QueuePolicy) {
        self.push("POLICY_CHANGED", id, p);
    }
    fn on_error(&mut self, e: Error) {
        self.0.push(json!({"type": "ERROR", "error": error(&e)}));
    }
    fn on_close(&mut self) {
        self.0.push(json!({"type": "END"}));
    }
}

type Outcome = Result<Value, Value>;

fn str_list(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array)
        .map(|a| a.iter().filter_map(|s| s.as_str().map(str::to_owned)).collect())
        .unwrap_or_default()
}

/// Opens a session as the scenario's session spec says.
pub async fn connect(url: &str, spec: &Value, password: Option<String>) -> Result<Session, Value> {
    let mut options = ConnectOptions::new(spec.get("url").and_then(Value::as_str).unwrap_or(url));
    if let Some(p) = spec.get("principal").and_then(Value::as_str) {
        options = options.principal(p);
    }
    if let Some(p) = password {
        options = options.password(p);
    }
    if let Some(props) = spec.get("properties").and_then(Value::as_object) {
        options = options
            .properties(props.iter().map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned())));
    }
    if let Some(ms) = spec.get("request_timeout_ms").and_then(Value::as_u64) {
        options = options.request_timeout(Duration::from_millis(ms));
    }
    if let Some(n) = spec.get("listener_buffer").and_then(Value::as_u64) {
        options = options.listener_buffer(n as usize);
    }
    if let Some(ms) = spec.get("listener_stall_timeout_ms").and_then(Value::as_u64) {
        options = options.listener_stall_timeout(Duration::from_millis(ms));
    }
    Session::connect(options).await.map_err(|e| error(&e))
}

fn target(a: &Value) -> Result<Target, Value> {
    let t = &a["target"];
    if let Some(id) = t.get("id").and_then(Value::as_str) {
        return id.parse::<SessionId>().map(Target::Id).map_err(|e| error(&e.into()));
    }
    Ok(Target::Filter(t.get("filter").and_then(Value::as_str).unwrap_or_default().to_owned()))
}

fn detailed(r: Result<FilterResult, Error>) -> Outcome {
    r.map(|r| filter_result(&r)).map_err(|e| error(&e))
}

/// One operation of SPEC §4.1 by the scenario's arguments.
pub async fn control(session: &Session, op: &str, a: &Value) -> Outcome {
    let mut cc = session.clients();
    if let Some(n) = a.get("max_targets").and_then(Value::as_u64) {
        cc = cc.max_targets(n);
    }
    let plain = a["detailed"] != true;
    // The plain call where the scenario asks for it, so its own errors
    // (LIMIT_EXCEEDED for rejected sessions) are what is checked.
    macro_rules! op {
        ($plain:expr, $detailed:expr) => {
            if plain {
                $plain.await.map(|n| json!(n)).map_err(|e| error(&e))
            } else {
                detailed($detailed.await)
            }
        };
    }
    match op {
        "close" => {
            let t = target(a)?;
            op!(cc.close(t.clone()), cc.close_detailed(t))
        }
        "change_roles" => {
            let (t, remove, add) = (target(a)?, str_list(a.get("remove")), str_list(a.get("add")));
            op!(
                cc.change_roles(t.clone(), remove.clone(), add.clone()),
                cc.change_roles_detailed(t, remove, add)
            )
        }
        "set_session_properties" => {
            let t = target(a)?;
            let props: Vec<(String, Option<String>)> = a["properties"]
                .as_object()
                .map(|m| m.iter().map(|(k, v)| (k.clone(), v.as_str().map(str::to_owned))).collect())
                .unwrap_or_default();
            op!(
                cc.set_session_properties(t.clone(), props.clone()),
                cc.set_session_properties_detailed(t, props)
            )
        }
        "set_conflated" => {
            let (t, on) = (target(a)?, a["conflated"] == true);
            op!(cc.set_conflated(t.clone(), on), cc.set_conflated_detailed(t, on))
        }
        "set_throttled" => {
            let th = &a["throttler"];
            let rate = th["rate"].as_u64().unwrap_or_default();
            let throttler = match th["kind"].as_str() {
                Some("MESSAGES_PER_SECOND") => Throttler::MessagesPerSecond(rate as u32),
                Some("BYTES_PER_SECOND") => Throttler::BytesPerSecond(rate),
                _ => Throttler::Unthrottled,
            };
            let t = target(a)?;
            op!(cc.set_throttled(t.clone(), throttler), cc.set_throttled_detailed(t, throttler))
        }
        "count" => {
            let f = a["filter"].as_str().unwrap_or_default().to_owned();
            op!(cc.count(f.clone()), cc.count_detailed(f))
        }
        "get_session_properties" => {
            let id = a["session"].as_str().unwrap_or_default().parse::<SessionId>();
            let id = id.map_err(|e| error(&e.into()))?;
            let props =
                cc.get_session_properties(id, str_list(a.get("keys"))).await.map_err(|e| error(&e))?;
            Ok(json!(props))
        }
        "fetch_sessions" => {
            let request = FetchRequest {
                filter: a.get("filter").and_then(Value::as_str).unwrap_or("all").to_owned(),
                keys: str_list(a.get("keys")),
                limit: a.get("limit").and_then(Value::as_u64).map(|n| n as u32),
                cursor: a.get("cursor").and_then(Value::as_str).map(str::to_owned),
            };
            let page = cc.fetch_sessions(request).await.map_err(|e| error(&e))?;
            let ids: Vec<String> = page.sessions.iter().map(|s| s.id.to_string()).collect();
            let props: Map<String, Value> =
                page.sessions.iter().map(|s| (s.id.to_string(), json!(s.properties))).collect();
            Ok(json!({"sessions": ids, "properties": props, "total": page.total, "has_more": page.has_more,
                      "next_cursor": page.next_cursor}))
        }
        other => Err(json!({"kind": format!("runner: unknown operation {other}")})),
    }
}

/// Registers a session-event listener feeding `sink`.
pub async fn listen(session: &Session, a: &Value, sink: Arc<Sink>) -> Result<ListenerRegistration, Value> {
    let mut params = SessionEventParams::new().properties(str_list(a.get("properties")));
    if let Some(f) = a.get("filter").and_then(Value::as_str) {
        params = params.filter(f);
    }
    if let Some(after) = a.get("after").and_then(Value::as_u64) {
        params = params.after(after);
    }
    session.clients().add_session_event_listener(EventListener(sink), params).await.map_err(|e| error(&e))
}

/// Registers the session's queue event handler feeding `sink`.
pub async fn queue_handler(session: &Session, sink: Arc<Sink>) -> Result<ListenerRegistration, Value> {
    session.clients().set_queue_event_handler(QueueListener(sink)).await.map_err(|e| error(&e))
}

/// A subscription nobody polls: its 1-value buffer fills, the socket reader
/// waits for room, and the server's queue for the session grows.
pub async fn stalled_subscriber(session: &Session, selector: &str) -> Result<Subscription, Value> {
    session.topics().subscribe(selector).await.map_err(|e| error(&e))
}

/// The consumer reads again: its values are drained on a task.
pub fn resume(mut subscription: Subscription) {
    tokio::spawn(async move { while subscription.next().await.is_some() {} });
}
