//! The Rust runner's interpreter of one scenario (tests/conformance/README.md):
//! the sessions by name, the steps in order, every request through
//! `backend` (usher-core's client), waits with deadlines.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, bail};
use serde_json::{Value, json};
use tokio::time::{Instant, timeout};
use usher_core::client::{ListenerRegistration, Session, Subscription};

use crate::backend::{self, Sink};
use crate::matching::{any_order, matches, subst};
use crate::peers::Peers;

const DEADLINE: Duration = Duration::from_secs(10);
const PUBLISH_DEADLINE: Duration = Duration::from_secs(60);
const OPERATIONS: [&str; 8] = [
    "close",
    "change_roles",
    "get_session_properties",
    "set_session_properties",
    "set_conflated",
    "set_throttled",
    "fetch_sessions",
    "count",
];

/// One scenario against its peers.
pub struct Run<'a> {
    server: &'a mut Peers,
    sessions: HashMap<String, Session>,
    ids: Vec<(String, String)>,
    sinks: HashMap<String, (Arc<Sink>, usize)>,
    registrations: HashMap<String, ListenerRegistration>,
    consumers: HashMap<String, Subscription>,
    cursors: HashMap<String, Value>,
    frozen: Vec<String>,
}

impl std::fmt::Debug for Run<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Run").field("sessions", &self.ids).finish_non_exhaustive()
    }
}

fn text(v: &Value) -> String {
    v.as_str().unwrap_or_default().to_owned()
}

impl<'a> Run<'a> {
    pub fn new(server: &'a mut Peers) -> Self {
        Run {
            server,
            sessions: HashMap::new(),
            ids: Vec::new(),
            sinks: HashMap::new(),
            registrations: HashMap::new(),
            consumers: HashMap::new(),
            cursors: HashMap::new(),
            frozen: Vec::new(),
        }
    }

    /// Runs the scenario, then closes what it opened.
    pub async fn run(mut self, scenario: &Value) -> anyhow::Result<()> {
        let outcome = self.steps(scenario).await;
        // A scenario that failed while a member was frozen: its sessions
        // there could not close.
        for name in std::mem::take(&mut self.frozen) {
            let _ = self.server.command(&format!("thaw {name}"), &format!("thawed {name}")).await;
        }
        for (_, reg) in self.registrations.drain() {
            let _ = timeout(DEADLINE, reg.close()).await;
        }
        for (_, consumer) in self.consumers.drain() {
            backend::resume(consumer);
        }
        for session in self.sessions.values() {
            let _ = timeout(DEADLINE, session.close()).await;
        }
        outcome
    }

    async fn steps(&mut self, scenario: &Value) -> anyhow::Result<()> {
        for spec in scenario["sessions"].as_array().into_iter().flatten() {
            self.open(&self.subst(spec)).await.map_err(|e| anyhow!("opening {}: {e}", spec["name"]))?;
        }
        for (i, raw) in scenario["steps"].as_array().into_iter().flatten().enumerate() {
            let step = self.subst(raw);
            self.step(&step).await.map_err(|e| anyhow!("step {} ({}): {e}", i + 1, text(&raw["do"])))?;
        }
        Ok(())
    }

    fn subst(&self, v: &Value) -> Value {
        let lookup = |kind: &str, name: &str| match kind {
            "id" => self.ids.iter().find(|(n, _)| n == name).map(|(_, id)| id.clone()),
            _ => self.server.urls.get(name).cloned(),
        };
        match v {
            Value::String(s) => Value::String(subst(s, &lookup)),
            Value::Array(a) => Value::Array(a.iter().map(|x| self.subst(x)).collect()),
            Value::Object(o) => Value::Object(o.iter().map(|(k, x)| (k.clone(), self.subst(x))).collect()),
            other => other.clone(),
        }
    }

    fn id(&self, name: &Value) -> anyhow::Result<String> {
        let name = text(name);
        self.ids
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, id)| id.clone())
            .ok_or_else(|| anyhow!("no session {name}"))
    }

    fn name_of(&self, id: &str) -> String {
        self.ids.iter().find(|(_, i)| i == id).map(|(n, _)| n.clone()).unwrap_or_else(|| format!("?{id}"))
    }

    fn named(&self, item: &Value) -> Value {
        let mut out = item.clone();
        if let Some(id) = item.get("session").and_then(Value::as_str) {
            out["session"] = json!(self.name_of(id));
        }
        out
    }

    fn session(&self, name: &Value) -> anyhow::Result<&Session> {
        self.sessions.get(&text(name)).ok_or_else(|| anyhow!("no session {name}"))
    }

    async fn open(&mut self, spec: &Value) -> Result<Value, Value> {
        let password = match (spec.get("password"), spec.get("principal").and_then(Value::as_str)) {
            (Some(p), _) => p.as_str().map(str::to_owned),
            (None, Some(principal)) => self.server.passwords.get(principal).cloned(),
            (None, None) => None,
        };
        let session = backend::connect(&self.server.url, spec, password).await?;
        let name = text(&spec["name"]);
        self.ids.push((name.clone(), session.id().to_string()));
        self.sessions.insert(name, session);
        Ok(Value::Null)
    }

    /// Checks an outcome against the step's `expect` (success when absent).
    fn expect(&self, step: &Value, outcome: Result<Value, Value>, exact: bool) -> anyhow::Result<()> {
        let want = &step["expect"];
        match outcome {
            Err(e) if want.get("error").is_none() => bail!("unexpected error {e}"),
            Err(e) if !matches(&want["error"], &e, false) => bail!("error {e}, expected {}", want["error"]),
            Err(_) => Ok(()),
            Ok(r) if want.get("error").is_some() => {
                bail!("succeeded with {r}, expected error {}", want["error"])
            }
            Ok(r) if want.get("result").is_some_and(|w| !matches(w, &r, exact)) => {
                bail!("result {r}, expected {}", want["result"])
            }
            Ok(_) => Ok(()),
        }
    }

    async fn control(&mut self, who: &Value, op: &str, mut args: Value) -> Result<Value, Value> {
        if op == "fetch_sessions" && args["cursor"] == "next" {
            args["cursor"] = self.cursors.get(&text(who)).cloned().unwrap_or(Value::Null);
        }
        let session = self.session(who).map_err(|e| json!({"kind": e.to_string()}))?;
        let mut result = backend::control(session, op, &args).await?;
        if op == "fetch_sessions" {
            self.cursors.insert(text(who), result["next_cursor"].take());
            result.as_object_mut().map(|o| o.remove("next_cursor"));
            let names: Vec<Value> = result["sessions"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|s| json!(self.name_of(&text(s))))
                .collect();
            let props = result["properties"].as_object().cloned().unwrap_or_default();
            result["sessions"] = Value::Array(names);
            result["properties"] = props.into_iter().map(|(id, p)| (self.name_of(&id), p)).collect();
        }
        Ok(result)
    }

    async fn step(&mut self, step: &Value) -> anyhow::Result<()> {
        let what = text(&step["do"]);
        match what.as_str() {
            "open" => {
                let outcome = self.open(&step["session"]).await;
                self.expect(step, outcome, false)
            }
            "close_session" => {
                let outcome = self.session(&step["session"])?.close().await.map(|_| Value::Null);
                self.expect(step, outcome.map_err(|e| backend::error(&e)), false)
            }
            "expect_closed" => {
                let session = self.session(&step["session"])?;
                let reason =
                    timeout(DEADLINE, session.closed()).await.map_err(|_| anyhow!("not closed in time"))?;
                if reason.as_str() != step["reason"] {
                    bail!("closed with {reason}, expected {}", step["reason"]);
                }
                Ok(())
            }
            "listen" | "set_queue_handler" => self.register(step, what == "listen").await,
            "unlisten" => {
                let reg = self
                    .registrations
                    .remove(&text(&step["listener"]))
                    .ok_or_else(|| anyhow!("no listener"))?;
                reg.close().await.map_err(|e| anyhow!("unregistering: {e}"))
            }
            "expect_events" => self.expect_events(step).await,
            "add_topic" => {
                let outcome = self.session(&step["as"])?.topics().add(text(&step["topic"]), Vec::new()).await;
                self.expect(step, outcome.map(|_| Value::Null).map_err(|e| backend::error(&e)), false)
            }
            "slow_consumer" => {
                let mut spec = step["session"].clone();
                spec["listener_buffer"] = json!(1);
                spec["listener_stall_timeout_ms"] = json!(120_000);
                self.open(&spec).await.map_err(|e| anyhow!("opening the consumer: {e}"))?;
                let session = self.session(&spec["name"])?;
                let sub = backend::stalled_subscriber(session, &text(&step["selector"])).await;
                self.consumers.insert(text(&spec["name"]), sub.map_err(|e| anyhow!("subscribing: {e}"))?);
                Ok(())
            }
            "resume" => {
                let consumer =
                    self.consumers.remove(&text(&step["session"])).ok_or_else(|| anyhow!("no consumer"))?;
                backend::resume(consumer);
                Ok(())
            }
            "publish_until" => self.publish_until(step).await,
            "freeze" | "thaw" => {
                let server = text(&step["server"]);
                let done = if what == "freeze" { "frozen" } else { "thawed" };
                self.server.command(&format!("{what} {server}"), &format!("{done} {server}")).await?;
                self.frozen.retain(|n| *n != server);
                if what == "freeze" {
                    self.frozen.push(server);
                }
                Ok(())
            }
            "filter_cases" => self.filter_cases(step).await,
            op if OPERATIONS.contains(&op) => {
                let mut args = step.clone();
                if let Some(t) = step.get("target") {
                    args["target"] = match (t.get("id"), t.get("id_text")) {
                        (Some(name), _) => json!({"id": self.id(name)?}),
                        (None, Some(raw)) => json!({"id": raw}),
                        (None, None) => t.clone(),
                    };
                }
                if let Some(name) = step.get("session") {
                    args["session"] = json!(self.id(name)?);
                }
                let outcome = self.control(&step["as"], op, args).await;
                self.expect(step, outcome, op == "get_session_properties")
            }
            other => bail!("unknown step {other:?}"),
        }
    }

    async fn register(&mut self, step: &Value, listen: bool) -> anyhow::Result<()> {
        let name = text(if listen { &step["listener"] } else { &step["handler"] });
        let sink = Arc::new(Sink::default());
        self.sinks.insert(name.clone(), (Arc::clone(&sink), 0));
        let session = self.session(&step["as"])?;
        let outcome = if listen {
            backend::listen(session, step, sink).await
        } else {
            backend::queue_handler(session, sink).await
        };
        match outcome {
            Ok(reg) => {
                self.registrations.insert(name, reg);
                self.expect(step, Ok(Value::Null), false)
            }
            Err(e) => self.expect(step, Err(e), false),
        }
    }

    /// Waits until `done` holds for the sink's items, woken by every push.
    async fn wait(sink: &Sink, deadline: Duration, done: impl Fn(&[Value]) -> bool) -> Option<Vec<Value>> {
        let end = Instant::now() + deadline;
        loop {
            let notified = sink.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let items = sink.snapshot();
            if done(&items) {
                return Some(items);
            }
            if timeout(end.saturating_duration_since(Instant::now()), notified).await.is_err() {
                return None;
            }
        }
    }

    async fn expect_events(&mut self, step: &Value) -> anyhow::Result<()> {
        let name = text(step.get("listener").unwrap_or(&step["handler"]));
        let (sink, start) = self.sinks.get(&name).cloned().ok_or_else(|| anyhow!("no listener {name}"))?;
        let want = step["events"].as_array().cloned().unwrap_or_default();
        let Some(items) = Self::wait(&sink, DEADLINE, |items| items.len() - start >= want.len()).await else {
            let got: Vec<Value> = sink.snapshot()[start..].iter().map(|e| self.named(e)).collect();
            bail!("{} events not seen within {DEADLINE:?}; got {}", want.len(), Value::Array(got));
        };
        let got: Vec<Value> = items[start..start + want.len()].iter().map(|e| self.named(e)).collect();
        self.sinks.insert(name, (Arc::clone(&sink), start + want.len()));
        let ok = if step["any_order"] == true {
            any_order(&want, &got)
        } else {
            matches(&json!(want), &json!(got), false)
        };
        if !ok {
            bail!("events {}, expected {}", Value::Array(got), Value::Array(want));
        }
        let now = sink.snapshot();
        if step["no_more"] == true && now.len() > start + want.len() {
            let extra: Vec<Value> = now[start + want.len()..].iter().map(|e| self.named(e)).collect();
            bail!("unexpected events {}", Value::Array(extra));
        }
        Ok(())
    }

    async fn publish_until(&mut self, step: &Value) -> anyhow::Result<()> {
        let (sink, consumed) =
            self.sinks.get(&text(&step["handler"])).cloned().ok_or_else(|| anyhow!("no handler"))?;
        let topics = self.session(&step["as"])?.topics();
        let value = vec![b'x'; step["value_bytes"].as_u64().unwrap_or(2048) as usize];
        let path = text(&step["topic"]);
        let end = Instant::now() + PUBLISH_DEADLINE;
        let seen = |run: &Self| {
            sink.snapshot()[consumed..].iter().any(|e| matches(&step["event"], &run.named(e), false))
        };
        while !seen(self) {
            if Instant::now() > end {
                bail!("no {} within {PUBLISH_DEADLINE:?} of publishing", step["event"]);
            }
            let batch = (0..16).map(|_| topics.update(path.clone(), value.clone()));
            for r in futures_util::future::join_all(batch).await {
                r.map_err(|e| anyhow!("update: {e}"))?;
            }
        }
        Ok(())
    }

    async fn filter_cases(&mut self, step: &Value) -> anyhow::Result<()> {
        let cases = step["cases"].as_array().cloned().unwrap_or_default();
        let mut failures = Vec::new();
        for case in &cases {
            let f = &case["filter"];
            if let Some(problems) = case.get("error") {
                let want = json!({"expect": {"error": {"kind": "INVALID_FILTER", "problems": problems}}});
                let outcome = self.control(&step["as"], "count", json!({"filter": f})).await;
                if let Err(e) = self.expect(&want, outcome, false) {
                    failures.push(format!("{f}: {e}"));
                }
                continue;
            }
            let page = self
                .control(&step["as"], "fetch_sessions", json!({"filter": f, "keys": [], "limit": 1000}))
                .await;
            let count = self.control(&step["as"], "count", json!({"filter": f})).await;
            let (page, count) = match (page, count) {
                (Ok(p), Ok(c)) => (p, c),
                (Err(e), _) | (_, Err(e)) => {
                    failures.push(format!("{f}: unexpected error {e}"));
                    continue;
                }
            };
            let mut got: Vec<String> = page["sessions"].as_array().into_iter().flatten().map(text).collect();
            let mut want: Vec<String> = case["matches"].as_array().into_iter().flatten().map(text).collect();
            got.sort();
            want.sort();
            if got != want || count != json!(want.len()) {
                failures.push(format!("{f}: matched {got:?} (count {count}), expected {want:?}"));
            }
        }
        if !failures.is_empty() {
            bail!("{} of {} filters: {}", failures.len(), cases.len(), failures.join("; "));
        }
        Ok(())
    }
}
