//! The cluster over NATS (SPEC §7; operator's view in `docs/CLUSTER.md`).
//!
//! Servers share nothing but NATS. Each one:
//! - heartbeats and tracks the other members ([`membership`]);
//! - answers requests on its own subject `usher.<cluster>.srv.<part>`:
//!   control operations on its sessions, listener registrations for
//!   sessions of other servers ([`routing`], [`events`]);
//! - routes its own sessions' control requests: by id to the server named
//!   by the id's server part, by filter to every member in parallel, each
//!   waited for at most the deadline ([`routing`]);
//! - forwards session events to listeners on other servers and broadcasts
//!   its queue events ([`events`]).
//!
//! The hooks into the single-node server are small: `Shared::cluster`, the
//! [`intercept`] call in the connection's read loop (routed requests run on
//! their own task so the connection keeps serving while NATS answers), and
//! [`Cluster::leave`] on shutdown. Without `[cluster]` none of this runs.

mod events;
mod membership;
mod routing;
pub(crate) mod wire;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use bytes::Bytes;
use futures_util::StreamExt;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use usher_core::protocol::Request;

use crate::config::ClusterSection;
use crate::session::Session;
use crate::state::Shared;
use membership::{HEARTBEAT_EVERY, Members, Seen};
use wire::{ClusterRequest, Forward, Heartbeat, Subjects, decode, encode};

/// Fire-and-forget messages waiting for the outbox task. Full: the message
/// is dropped with a warning; everything sent this way is either repeated
/// (heartbeats) or cleaned up later (an `Unlisten` lost here is sent again
/// when the next stale event arrives).
const OUTBOX_CAPACITY: usize = 4096;

/// One server's view of the cluster.
pub(crate) struct Cluster {
    client: async_nats::Client,
    subjects: Subjects,
    deadline: Duration,
    /// This server's part.
    part: u64,
    /// This server's name.
    name: String,
    members: Members,
    events: events::ClusterEvents,
    outbox: mpsc::Sender<(String, Bytes)>,
    tasks: Mutex<Vec<JoinHandle<()>>>,
}

impl std::fmt::Debug for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cluster").field("name", &self.name).field("part", &self.part).finish_non_exhaustive()
    }
}

/// Why a request to a member got no answer.
#[derive(Debug)]
pub(crate) enum NoAnswer {
    /// Nothing within the deadline.
    Timeout,
    /// NATS refused or failed the request (no responders, disconnected, ...).
    Nats(String),
}

impl std::fmt::Display for NoAnswer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NoAnswer::Timeout => f.write_str("no answer by the deadline"),
            NoAnswer::Nats(e) => write!(f, "NATS: {e}"),
        }
    }
}

impl Cluster {
    /// Sends a request to one member and waits at most the deadline.
    pub(crate) async fn request(&self, part: u64, payload: Bytes) -> Result<Bytes, NoAnswer> {
        let subject = self.subjects.server(part);
        match tokio::time::timeout(self.deadline, self.client.request(subject, payload)).await {
            Ok(Ok(msg)) => Ok(msg.payload),
            Ok(Err(e)) => Err(NoAnswer::Nats(e.to_string())),
            Err(_) => Err(NoAnswer::Timeout),
        }
    }

    /// Queues a message for the outbox task (never waits).
    pub(crate) fn send(&self, subject: String, payload: Vec<u8>) {
        if self.outbox.try_send((subject, Bytes::from(payload))).is_err() {
            tracing::warn!("cluster outbox full or closed; a control message was dropped");
        }
    }

    fn heartbeat(&self, leaving: bool) -> (String, Vec<u8>) {
        let hb = Heartbeat { server: self.part, name: self.name.clone(), leaving };
        (self.subjects.heartbeat(), encode(&hb))
    }

    /// Orderly shutdown: says goodbye (so members drop this server at once
    /// rather than after 3 s of silence) and stops the cluster tasks.
    pub(crate) async fn leave(&self) {
        // Best effort: let the forwarders publish the CLOSED events of the
        // sessions shutdown just closed, and NATS take them, before the
        // goodbye (after which members report our sessions SERVER_LOST).
        for _ in 0..16 {
            tokio::task::yield_now().await;
        }
        let _ = tokio::time::timeout(Duration::from_millis(500), self.client.flush()).await;
        let (subject, payload) = self.heartbeat(true);
        let _ = self.client.publish(subject, payload.into()).await;
        let _ = tokio::time::timeout(Duration::from_secs(1), self.client.flush()).await;
        for t in self.tasks.lock().unwrap_or_else(|e| e.into_inner()).drain(..) {
            t.abort();
        }
    }

    fn spawn(&self, fut: impl std::future::Future<Output = ()> + Send + 'static) {
        let handle = tokio::spawn(fut);
        self.tasks.lock().unwrap_or_else(|e| e.into_inner()).push(handle);
    }
}

async fn connect(
    cfg: &ClusterSection,
    name: &str,
    events: mpsc::Sender<async_nats::Event>,
) -> anyhow::Result<async_nats::Client> {
    let mut opts = async_nats::ConnectOptions::new()
        .name(format!("usher-server {name}"))
        .connection_timeout(Duration::from_secs(5))
        // Reconnect forever: a NATS outage must not end the server.
        .max_reconnects(None)
        .event_callback(move |event| {
            let events = events.clone();
            async move {
                // Full: the watcher has notices to handle already; one
                // "connected" after a "disconnected" is all it needs.
                let _ = events.try_send(event);
            }
        });
    if let Some(path) = &cfg.credentials {
        opts = opts.credentials_file(path).await.with_context(|| format!("reading {}", path.display()))?;
    }
    if let (Some(user), Some(password)) = (&cfg.user, &cfg.password) {
        opts = opts.user_and_password(user.clone(), password.clone());
    }
    if let Some(token) = &cfg.token {
        opts = opts.token(token.clone());
    }
    if cfg.tls_required {
        opts = opts.require_tls(true);
    }
    if let Some(ca) = &cfg.tls_ca {
        opts = opts.add_root_certificates(ca.clone());
    }
    if let (Some(cert), Some(key)) = (&cfg.tls_cert, &cfg.tls_key) {
        opts = opts.add_client_certificate(cert.clone(), key.clone());
    }
    opts.connect(cfg.url.as_str()).await.with_context(|| format!("connecting to NATS at {}", cfg.url))
}

/// Joins the cluster: connects, subscribes, says hello. Returns once this
/// server can answer other members (so the listening line printed after
/// it means "joined").
pub(crate) async fn start(shared: &Arc<Shared>, cfg: &ClusterSection) -> anyhow::Result<()> {
    // Capacity 16: connection notices are rare; see `connect` for full.
    let (event_tx, event_rx) = mpsc::channel(16);
    let client = connect(cfg, &shared.server_name, event_tx).await?;
    let subjects = Subjects::new(&cfg.name);
    let part = shared.server_part;
    let (outbox, outbox_rx) = mpsc::channel(OUTBOX_CAPACITY);
    let cluster = Arc::new(Cluster {
        client: client.clone(),
        subjects: subjects.clone(),
        deadline: cfg.deadline(),
        part,
        name: shared.server_name.to_string(),
        members: Members::default(),
        events: events::ClusterEvents::default(),
        outbox,
        tasks: Mutex::new(Vec::new()),
    });
    // Each subscription is a bounded buffer in async-nats (65,536 messages
    // by default). Full: NATS-level slow consumer, messages are dropped and
    // logged by the connection watcher; the handlers below never await
    // anything but a publish, so they keep up with the socket.
    let hb = client.subscribe(subjects.heartbeat()).await?;
    let srv = client.subscribe(subjects.server(part)).await?;
    let ev = client.subscribe(subjects.events(part)).await?;
    let queue = client.subscribe(subjects.queue()).await?;
    client.flush().await.context("flushing the cluster subscriptions")?;
    if shared.cluster.set(cluster.clone()).is_err() {
        anyhow::bail!("the cluster was started twice");
    }
    cluster.spawn(outbox_task(client.clone(), outbox_rx));
    cluster.spawn(heartbeat_task(shared.clone(), cluster.clone()));
    cluster.spawn(heartbeat_listener(shared.clone(), cluster.clone(), hb));
    cluster.spawn(server_listener(shared.clone(), cluster.clone(), srv));
    cluster.spawn(forward_listener(shared.clone(), cluster.clone(), ev, false));
    cluster.spawn(forward_listener(shared.clone(), cluster.clone(), queue, true));
    cluster.spawn(connection_watcher(shared.clone(), cluster.clone(), event_rx));
    events::start_queue_forwarding(shared, &cluster);
    let (subject, payload) = cluster.heartbeat(false);
    client.publish(subject, payload.into()).await?;
    tracing::info!(cluster = %cfg.name, nats = %cfg.url, server_part = %format!("{part:016x}"), "joined the cluster");
    Ok(())
}

async fn outbox_task(client: async_nats::Client, mut rx: mpsc::Receiver<(String, Bytes)>) {
    while let Some((subject, payload)) = rx.recv().await {
        if let Err(e) = client.publish(subject, payload).await {
            tracing::warn!(error = %e, "cluster publish failed");
        }
    }
}

/// Heartbeats every second and drops silent members (checked four times
/// a second, so a member leaves between 3 and 3.25 s after its last word).
async fn heartbeat_task(shared: Arc<Shared>, cluster: Arc<Cluster>) {
    let mut tick = tokio::time::interval(HEARTBEAT_EVERY / 4);
    let mut n: u64 = 0;
    loop {
        tick.tick().await;
        if n.is_multiple_of(4) {
            let (subject, payload) = cluster.heartbeat(false);
            cluster.send(subject, payload);
            cluster.events.prune(&shared);
        }
        n += 1;
        for (part, name) in cluster.members.expire(Instant::now()) {
            tracing::warn!(server = %name, "cluster member silent for 3 s; dropped");
            events::member_lost(&shared, &cluster, part);
        }
    }
}

async fn heartbeat_listener(shared: Arc<Shared>, cluster: Arc<Cluster>, mut sub: async_nats::Subscriber) {
    while let Some(msg) = sub.next().await {
        let Ok(hb) = decode::<Heartbeat>(&msg.payload) else {
            tracing::warn!(subject = %msg.subject, "undecodable heartbeat ignored");
            continue;
        };
        if hb.server == cluster.part {
            continue;
        }
        match cluster.members.heard(hb.server, &hb.name, hb.leaving, Instant::now()) {
            Seen::New => {
                tracing::info!(server = %hb.name, "cluster member joined");
                // Answer at once so the newcomer learns about us now.
                let (subject, payload) = cluster.heartbeat(false);
                cluster.send(subject, payload);
                events::member_joined(&shared, &cluster, hb.server);
            }
            Seen::Known => {}
            Seen::Left(Some(name)) => {
                tracing::info!(server = %name, "cluster member left");
                events::member_lost(&shared, &cluster, hb.server);
            }
            Seen::Left(None) => {}
        }
    }
}

/// Requests to this server, handled inline in arrival order: each is a
/// synchronous registry operation of microseconds, and order matters
/// (a `Listen` must not overtake the `Unlisten` sent after it).
async fn server_listener(shared: Arc<Shared>, cluster: Arc<Cluster>, mut sub: async_nats::Subscriber) {
    while let Some(msg) = sub.next().await {
        let reply = match decode::<ClusterRequest>(&msg.payload) {
            Ok(request) => routing::serve(&shared, &cluster, request),
            Err(e) => {
                tracing::warn!(error = %e, "undecodable cluster request ignored");
                continue;
            }
        };
        if let (Some(to), Some(reply)) = (msg.reply, reply) {
            // Directly, not through the outbox: one task hop less on the
            // routed path (P10). This only hands the bytes to the client's
            // connection task, so the loop is not held up by the network.
            if let Err(e) = cluster.client.publish(to, encode(&reply).into()).await {
                tracing::warn!(error = %e, "cluster reply failed");
            }
        }
    }
}

async fn forward_listener(
    shared: Arc<Shared>,
    cluster: Arc<Cluster>,
    mut sub: async_nats::Subscriber,
    queue: bool,
) {
    while let Some(msg) = sub.next().await {
        match decode::<Forward>(&msg.payload) {
            Ok(fwd) if fwd.from == cluster.part => {}
            Ok(fwd) if queue => events::deliver_queue_events(&shared, &cluster, fwd),
            Ok(fwd) => events::deliver_forward(&shared, &cluster, fwd),
            Err(e) => tracing::warn!(error = %e, "undecodable forwarded events ignored"),
        }
    }
}

/// After NATS comes back, every other server may have dropped us and events
/// may have been missed: listeners get an error, membership starts afresh,
/// and rediscovered members get every listener again (a fresh snapshot).
async fn connection_watcher(
    shared: Arc<Shared>,
    cluster: Arc<Cluster>,
    mut rx: mpsc::Receiver<async_nats::Event>,
) {
    let mut lost = false;
    while let Some(event) = rx.recv().await {
        match event {
            async_nats::Event::Disconnected => {
                tracing::warn!("lost the connection to NATS; reconnecting");
                lost = true;
            }
            async_nats::Event::Connected if lost => {
                lost = false;
                tracing::info!("reconnected to NATS; resynchronising listeners");
                events::nats_reconnected(&shared, &cluster);
                let (subject, payload) = cluster.heartbeat(false);
                cluster.send(subject, payload);
            }
            async_nats::Event::SlowConsumer(sid) => {
                tracing::warn!(subscription = sid, "cluster messages dropped: a subscription buffer was full")
            }
            other => tracing::debug!(event = %other, "NATS event"),
        }
    }
}

/// The read loop's hook: `Some(request)` to run it locally as before;
/// `None` when it was routed (its response is queued by a task later).
pub(crate) fn intercept(
    shared: &Arc<Shared>,
    session: &Arc<Session>,
    principal: &str,
    id: u64,
    request: Request,
) -> Option<Request> {
    let Some(cluster) = shared.cluster.get().cloned() else {
        return Some(request); // alone: exactly as before
    };
    let plan = routing::plan(&cluster, &request);
    if plan == routing::Plan::Local {
        return Some(request);
    }
    let (shared, session, principal) = (shared.clone(), session.clone(), Box::<str>::from(principal));
    // A task per routed request: the connection keeps reading (and
    // answering local requests) while NATS answers.
    tokio::spawn(async move {
        let outcome = routing::route(&shared, &cluster, &session, &principal, request, plan).await;
        session.respond(&shared.events, id, outcome.result);
        for push in outcome.after {
            session.push(&shared.events, push);
        }
        if outcome.close_self {
            shared.close_session(session.id, usher_core::protocol::CloseReason::ClosedByController);
        }
    });
    None
}
