//! The soak workload (`soak` binary, issue #10): everything a long-running
//! server sees, at once and without end, so that a slow leak of memory,
//! descriptors or sessions shows up as drift between the first and the last
//! reading.
//!
//! - **churners**: anonymous sessions (the real Rust client) that connect,
//!   live 0.2–2 s unless a controller closes them first, and disconnect, in
//!   a loop (`Soak='churn'`, `Slot='0'…'9'`);
//! - **a controller** (`control`) that, every 100 ms, closes one slot of
//!   churners by filter, re-rolls all churners' roles by filter
//!   (`CLIENT` → `TOPIC_CONTROL`) or rolls them back, in turn;
//! - **a publisher** (the same `control` session) updating ten 1 KiB topics,
//!   400 updates a second;
//! - **slow consumers**: raw sessions with a 4 KiB receive buffer that
//!   subscribe to every topic and read in fits (stalled 2–6 s, then
//!   draining), so their queues reach the upper threshold; a **queue
//!   handler** turns conflation on there and off at the lower threshold.
//!   One that passes the queue limit is closed and reconnects.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use anyhow::Context;
use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::Message;
use usher_core::client::{ConnectOptions, Session};
use usher_core::protocol::{
    ClientMessage, CloseReason, Push, QueueEvent, Request, ServerMessage, decode, encode,
};

use crate::raw;
use crate::server::CONTROL_PASSWORD;

/// Counters of what the workload did, read and reset once per interval.
#[derive(Debug, Default)]
pub struct Counters {
    /// Sessions opened (churners and consumers).
    pub connects: AtomicU64,
    /// Connects that failed.
    pub connect_errors: AtomicU64,
    /// Control requests answered (close, changeRoles, setConflated, count).
    pub control_ops: AtomicU64,
    /// Control requests that failed.
    pub control_errors: AtomicU64,
    /// Churners closed by the controller.
    pub closed_by_controller: AtomicU64,
    /// Sessions whose roles changeRoles changed (as reported by its results).
    pub re_rolled: AtomicU64,
    /// Topic updates published.
    pub updates: AtomicU64,
    /// Upper / lower threshold events the queue handler received.
    pub upper: AtomicU64,
    /// See `upper`.
    pub lower: AtomicU64,
    /// Slow consumers closed with MESSAGE_QUEUE_LIMIT_REACHED.
    pub queue_limit_closes: AtomicU64,
}

impl Counters {
    /// Every counter's value since the last call, by name; resets them.
    pub fn take(&self) -> Vec<(&'static str, u64)> {
        let t = |c: &AtomicU64| c.swap(0, Ordering::Relaxed);
        vec![
            ("connects", t(&self.connects)),
            ("connect_errors", t(&self.connect_errors)),
            ("control_ops", t(&self.control_ops)),
            ("control_errors", t(&self.control_errors)),
            ("closed_by_controller", t(&self.closed_by_controller)),
            ("re_rolled", t(&self.re_rolled)),
            ("updates", t(&self.updates)),
            ("upper", t(&self.upper)),
            ("lower", t(&self.lower)),
            ("queue_limit_closes", t(&self.queue_limit_closes)),
        ]
    }
}

/// The workload's size.
#[derive(Debug, Clone, Copy)]
pub struct Shape {
    /// Churner loops (each holds at most one session at a time).
    pub churners: usize,
    /// Slow consumers.
    pub consumers: usize,
}

/// The shared state of one soak run.
#[derive(Debug)]
pub struct Soak {
    url: String,
    /// What happened.
    pub counters: Counters,
    stop: AtomicBool,
}

const TOPICS: usize = 10;
const VALUE_BYTES: usize = 1024;
const UPDATES_PER_TICK: usize = 40;

/// A small deterministic generator, so a run can be repeated.
fn next(x: &mut u64) -> u64 {
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    *x
}

async fn controller(url: &str) -> anyhow::Result<Session> {
    Session::connect(ConnectOptions::new(url).principal("control").password(CONTROL_PASSWORD))
        .await
        .context("connecting a controller")
}

impl Soak {
    /// Starts every task of the workload against `url`.
    pub async fn start(url: &str, shape: Shape) -> anyhow::Result<Arc<Self>> {
        let soak = Arc::new(Self {
            url: url.to_owned(),
            counters: Counters::default(),
            stop: AtomicBool::new(false),
        });
        let control = controller(url).await?;
        for t in 0..TOPICS {
            control.topics().add(format!("soak/t{t}"), vec![b'v'; VALUE_BYTES]).await?;
        }
        let handler = controller(url).await?;
        let events = handler.clients().queue_events().await?;
        tokio::spawn(soak.clone().queue_handler(handler, events));
        tokio::spawn(soak.clone().control_loop(control));
        for k in 0..shape.churners {
            tokio::spawn(soak.clone().churner(k as u64 + 1));
        }
        for k in 0..shape.consumers {
            tokio::spawn(soak.clone().consumer(k as u64 + 1));
        }
        Ok(soak)
    }

    /// Asks every task to end (they notice within a second or two).
    pub fn stop(&self) {
        self.stop.store(true, Ordering::Relaxed);
    }

    fn stopped(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }

    fn count_op<T>(&self, r: &Result<T, usher_core::Error>) {
        let c = &self.counters;
        if r.is_ok() { &c.control_ops } else { &c.control_errors }.fetch_add(1, Ordering::Relaxed);
    }

    async fn churner(self: Arc<Self>, seed: u64) {
        let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
        while !self.stopped() {
            let slot = (next(&mut x) % 10).to_string();
            let options = ConnectOptions::new(&self.url).property("Soak", "churn").property("Slot", slot);
            let Ok(session) = Session::connect(options).await else {
                self.counters.connect_errors.fetch_add(1, Ordering::Relaxed);
                // Pacing a retry; a refused connect is counted above.
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            };
            self.counters.connects.fetch_add(1, Ordering::Relaxed);
            let life = Duration::from_millis(200 + next(&mut x) % 1800);
            tokio::select! {
                reason = session.closed() => {
                    if reason == CloseReason::ClosedByController {
                        self.counters.closed_by_controller.fetch_add(1, Ordering::Relaxed);
                    }
                }
                _ = tokio::time::sleep(life) => { let _ = session.close().await; }
            }
        }
    }

    /// Close a slot, re-roll everyone, roll back; once per 100 ms, in turn.
    async fn control_loop(self: Arc<Self>, control: Session) {
        let clients = control.clients();
        let topics = control.topics();
        let mut tick = tokio::time::interval(Duration::from_millis(100));
        let mut n = 0u64;
        while !self.stopped() {
            tick.tick().await;
            match n % 3 {
                0 => {
                    let r = clients.close(format!("Soak is 'churn' and Slot is '{}'", n % 10)).await;
                    self.count_op(&r);
                }
                1 => {
                    let r =
                        clients.change_roles_detailed("Soak is 'churn'", ["CLIENT"], ["TOPIC_CONTROL"]).await;
                    self.count_op(&r);
                    let changed = r.map(|r| r.total).unwrap_or(0);
                    self.counters.re_rolled.fetch_add(changed, Ordering::Relaxed);
                }
                _ => {
                    let back = "Soak is 'churn' and hasRoles ['TOPIC_CONTROL']";
                    let r = clients.change_roles(back, ["TOPIC_CONTROL"], ["CLIENT"]).await;
                    self.count_op(&r);
                }
            }
            // 40 updates per tick: 400 a second to every consumer, so a
            // 2–6 s stall takes its queue past the upper threshold (800).
            for u in 0..UPDATES_PER_TICK {
                let path = format!("soak/t{}", u % TOPICS);
                if topics.update(path, vec![b'u'; VALUE_BYTES]).await.is_ok() {
                    self.counters.updates.fetch_add(1, Ordering::Relaxed);
                }
            }
            n += 1;
        }
        let _ = control.close().await;
    }

    /// Conflation on at the upper threshold, off at the lower.
    async fn queue_handler(
        self: Arc<Self>,
        handler: Session,
        mut events: usher_core::client::QueueEventStream,
    ) {
        let clients = handler.clients();
        while !self.stopped() {
            let Ok(Some(Ok(event))) = tokio::time::timeout(Duration::from_secs(1), events.next()).await
            else {
                continue;
            };
            let (session, on) = match event {
                QueueEvent::UpperThresholdCrossed { session, .. } => {
                    self.counters.upper.fetch_add(1, Ordering::Relaxed);
                    (session, true)
                }
                QueueEvent::LowerThresholdCrossed { session, .. } => {
                    self.counters.lower.fetch_add(1, Ordering::Relaxed);
                    (session, false)
                }
                QueueEvent::PolicyChanged { .. } => continue,
            };
            // The session may be gone already: NO_SUCH_SESSION is no failure.
            let r = clients.set_conflated(session, on).await;
            let gone = matches!(&r, Err(e) if e.kind == usher_core::ErrorKind::NoSuchSession);
            if !gone {
                self.count_op(&r);
            }
        }
        let _ = handler.close().await;
    }

    /// Subscribes to every topic, then reads in fits; reconnects when closed.
    async fn consumer(self: Arc<Self>, seed: u64) {
        let mut x = seed.wrapping_mul(0xd1b5_4a32_d192_ed03) | 1;
        while !self.stopped() {
            let Ok(addr) = raw::parse_url(&self.url) else { return };
            let hello = raw::hello(None, BTreeMap::from([("Soak".to_owned(), "consumer".to_owned())]));
            let Ok((mut ws, _)) = raw::connect(addr, None, Some(4096), hello).await else {
                self.counters.connect_errors.fetch_add(1, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(100)).await; // pacing a retry
                continue;
            };
            self.counters.connects.fetch_add(1, Ordering::Relaxed);
            let subscribe =
                ClientMessage::Request { id: 1, request: Request::Subscribe { selector: "soak/*".into() } };
            if ws.send(Message::Binary(Bytes::from(encode(&subscribe)))).await.is_err() {
                continue;
            }
            'session: while !self.stopped() {
                // Stalled: the server's queue for this session grows.
                tokio::time::sleep(Duration::from_millis(2_000 + next(&mut x) % 4_000)).await;
                // Draining for a while.
                let drain = tokio::time::sleep(Duration::from_millis(1_500));
                tokio::pin!(drain);
                loop {
                    tokio::select! {
                        _ = &mut drain => break,
                        msg = ws.next() => match msg {
                            Some(Ok(Message::Binary(b))) => {
                                if let Ok(ServerMessage::Push(Push::Closing { reason, .. })) = decode::<ServerMessage>(&b) {
                                    if reason == CloseReason::MessageQueueLimitReached {
                                        self.counters.queue_limit_closes.fetch_add(1, Ordering::Relaxed);
                                    }
                                    break 'session;
                                }
                            }
                            Some(Ok(_)) => {}
                            _ => break 'session,
                        },
                    }
                }
            }
        }
    }
}
