//! The judge of how sessions ended: an `admin` session with two session-event
//! listeners, one on attackers (`Kind='attacker'`), one on well-behaved
//! sessions (`Kind='good'`), recording the close reason the server gave for
//! each. An attacker's own socket may be reset before it reads its
//! `Closing` push (it was still sending); the listener always hears it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::bail;
use futures_util::StreamExt;
use tokio::sync::Notify;
use tokio_tungstenite::tungstenite::Message;
use usher_core::SessionId;
use usher_core::protocol::{CloseReason, Push, Request, ServerMessage, SessionEvent, SessionState, decode};

use crate::support::admin;

const ATTACKERS: u32 = 1;
const GOOD: u32 = 2;

#[derive(Debug, Default)]
struct State {
    /// Attacker sessions that closed, with the reason.
    closes: Mutex<HashMap<SessionId, Option<CloseReason>>>,
    /// Well-behaved sessions that closed (there should be none).
    good_closed: Mutex<Vec<(SessionId, Option<CloseReason>)>>,
    /// Set when the monitor's own connection ended.
    ended: Mutex<Option<String>>,
    changed: Notify,
}

/// See the module documentation.
#[derive(Debug)]
pub struct Monitor {
    state: Arc<State>,
    task: tokio::task::JoinHandle<()>,
}

impl Monitor {
    /// Connects as `admin` and registers both listeners.
    pub async fn start(url: &str) -> anyhow::Result<Self> {
        let mut c = admin(url).await?;
        for (registration, filter) in [(ATTACKERS, "Kind is 'attacker'"), (GOOD, "Kind is 'good'")] {
            let add = Request::AddSessionListener {
                registration,
                filter: Some(filter.into()),
                keys: vec![],
                after: None,
            };
            c.ok(add).await?;
        }
        let state = Arc::new(State::default());
        let s = state.clone();
        let task = tokio::spawn(async move {
            let end = loop {
                let msg = match c.ws.next().await {
                    Some(Ok(Message::Binary(b))) => b,
                    Some(Ok(Message::Close(_))) | None => break "closed".to_owned(),
                    Some(Err(e)) => break e.to_string(),
                    Some(Ok(_)) => continue,
                };
                match decode::<ServerMessage>(&msg) {
                    Ok(ServerMessage::Push(p)) => s.record(p),
                    Ok(_) => {}
                    Err(e) => break format!("undecodable: {e}"),
                }
            };
            *s.ended.lock().expect("not poisoned") = Some(end);
            s.changed.notify_waiters();
        });
        Ok(Self { state, task })
    }

    /// The reason attacker session `id` was closed with, waiting up to
    /// `within` for it.
    pub async fn closed(&self, id: SessionId, within: Duration) -> anyhow::Result<Option<CloseReason>> {
        let until = tokio::time::Instant::now() + within;
        loop {
            let notified = self.state.changed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if let Some(reason) = self.state.closes.lock().expect("not poisoned").get(&id) {
                return Ok(*reason);
            }
            if let Some(end) = self.state.ended.lock().expect("not poisoned").clone() {
                bail!("the monitor's connection ended: {end}");
            }
            if tokio::time::timeout_at(until, notified).await.is_err() {
                bail!("no CLOSED event for attacker session {id} within {within:?}");
            }
        }
    }

    /// Well-behaved sessions that were closed.
    pub fn good_closed(&self) -> Vec<(SessionId, Option<CloseReason>)> {
        self.state.good_closed.lock().expect("not poisoned").clone()
    }
}

impl Drop for Monitor {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl State {
    fn record(&self, push: Push) {
        let Push::SessionEvent {
            registration,
            event: SessionEvent::State { session, state: SessionState::Closed, reason, .. },
        } = push
        else {
            return;
        };
        match registration {
            ATTACKERS => {
                self.closes.lock().expect("not poisoned").insert(session, reason);
            }
            _ => self.good_closed.lock().expect("not poisoned").push((session, reason)),
        }
        self.changed.notify_waiters();
    }
}
