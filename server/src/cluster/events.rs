//! Session and queue events across the cluster (SPEC §4.2, §4.3, §7).
//!
//! **Session listeners.** A listener registered on server A is also
//! registered, with the same filter, keys and `after`, on every other
//! member (a `Listen` request). There it belongs to a *proxy*: a
//! stand-in [`Session`] with the owner's id that is never in the registry.
//! The ordinary listener code queues the snapshot and then live events into
//! the proxy's queue under the registry's shard locks, so they are in
//! per-session order; one forwarding task per proxy drains that queue and
//! publishes the frames, in order, on A's events subject. After the
//! snapshot the remote server queues a snapshot marker into the same queue,
//! so A knows, in stream order, when that member's snapshot is complete:
//! the registration's reply is sent once every member that accepted the
//! `Listen` has delivered its marker (or the deadline passed).
//!
//! A remembers which remote sessions each listener has seen; when a member
//! is dropped those get `CLOSED` with `SERVER_LOST`. A member that joins
//! later is sent every listener. Ends are lazy: an event for a
//! registration (or owner) that no longer exists on A makes A tell the
//! sender to drop it.
//!
//! **Queue events** are few (threshold crossings, policy changes), so each
//! server broadcasts all of its own: a proxy queue handler receives them
//! locally, and its forwarding task publishes those about this server's
//! sessions on the queue subject; every server hands what it receives to
//! its local handlers.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use futures_util::future::join_all;
use serde_bytes::ByteBuf;
use tokio::sync::oneshot;
use usher_core::SessionId;
use usher_core::protocol::{
    CloseReason, Push, QueuePolicy, RegistrationId, Reply, Request, ServerMessage, SessionEvent,
    SessionState, WireError,
};

use super::Cluster;
use super::wire::{ClusterRequest, Forward, OpReply, decode, encode};
use crate::cmd::{self, Ctx, Outcome};
use crate::events::QueueHandler;
use crate::session::{Next, Session};
use crate::state::Shared;

type Key = (SessionId, RegistrationId);

/// A listener of a local session, as sent to members.
#[derive(Debug, Clone)]
struct Spec {
    filter: Option<String>,
    keys: Vec<String>,
    after: Option<u64>,
}

#[derive(Debug)]
struct Waiter {
    remaining: HashSet<u64>,
    done: Option<oneshot::Sender<()>>,
}

impl Waiter {
    fn check(&mut self) {
        if self.remaining.is_empty()
            && let Some(tx) = self.done.take()
        {
            let _ = tx.send(());
        }
    }
}

#[derive(Debug, Default)]
struct State {
    /// Listeners of local sessions.
    owned: HashMap<Key, Spec>,
    /// Remote sessions each of them has seen (for `SERVER_LOST`).
    seen: HashMap<Key, HashSet<SessionId>>,
    /// Registrations waiting for members' snapshots.
    waiting: HashMap<Key, Waiter>,
    /// Proxies of remote owners, by owner id.
    proxies: HashMap<SessionId, Arc<Session>>,
}

/// The cluster's listener bookkeeping.
#[derive(Debug, Default)]
pub(crate) struct ClusterEvents {
    // A std Mutex: map operations only, never held across an await or
    // while pushing to a session.
    state: Mutex<State>,
}

impl ClusterEvents {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Forgets listeners whose registration ended on this server.
    pub(crate) fn prune(&self, shared: &Shared) {
        let mut st = self.lock();
        st.owned.retain(|(owner, reg), _| shared.events.registration_in_use(*owner, *reg));
        let State { owned, seen, .. } = &mut *st;
        seen.retain(|k, _| owned.contains_key(k));
    }
}

/// A proxy's queue: large, because it carries the events of many sessions
/// to one owner; when full the proxy closes (`MESSAGE_QUEUE_LIMIT_REACHED`)
/// and the owner is told, as for any slow consumer. Thresholds at 100 %
/// so a proxy practically never reports crossings of its own.
fn proxy_policy() -> QueuePolicy {
    QueuePolicy {
        max_depth: 1_000_000,
        max_bytes: 256 * 1024 * 1024,
        upper_threshold: 100,
        lower_threshold: 0,
        ..QueuePolicy::default()
    }
}

/// A proxy: a stand-in session with a remote owner's id (or the queue
/// forwarder's), never in the registry, holding no roles.
fn new_proxy(shared: &Shared, id: SessionId) -> Arc<Session> {
    let roles = shared.roles.resolve::<String>(&[]).unwrap_or_else(|_| {
        // Resolving no roles cannot fail (nothing to validate or intern);
        // an empty set built by hand is the same thing.
        Arc::new(crate::roles::RoleSet {
            syms: Vec::new(),
            names: Vec::new(),
            text: Box::from(""),
            perms: usher_core::security::Permissions::default(),
        })
    });
    Session::new(id, proxy_policy(), roles, shared.now_ms())
}

/// Most frames per NATS message, and about most bytes.
const BATCH_FRAMES: usize = 256;
const BATCH_BYTES: usize = 256 * 1024;

/// Drains a proxy's queue onto NATS. `own_only`: forward only queue events
/// about this server's sessions (the queue proxy also receives the remote
/// ones this server hands to its handlers).
async fn forward(
    shared: Arc<Shared>,
    cluster: Arc<Cluster>,
    proxy: Arc<Session>,
    subject: String,
    owner: Option<SessionId>,
) {
    loop {
        // Wait for the first item (registering the waker before looking, as
        // the connection task does, so no wake-up is lost), then take what
        // else is queued, up to a batch.
        let first = std::future::poll_fn(|cx| {
            proxy.register(cx.waker());
            match proxy.next(&shared.events) {
                Next::Empty => std::task::Poll::Pending,
                other => std::task::Poll::Ready(other),
            }
        })
        .await;
        let (mut frames, mut bytes, mut closing) = (Vec::new(), 0, None);
        let mut next = first;
        loop {
            match next {
                Next::Item(item) => {
                    bytes += item.frame.len();
                    frames.push(item.frame);
                    if frames.len() >= BATCH_FRAMES || bytes >= BATCH_BYTES {
                        break;
                    }
                }
                Next::Empty => break,
                Next::Closing(reason) => {
                    closing = Some(reason);
                    break;
                }
            }
            next = proxy.next(&shared.events);
        }
        if owner.is_none() {
            frames.retain(|f| own_queue_event(cluster.part, f));
        }
        if closing == Some(CloseReason::MessageQueueLimitReached) && owner.is_some() {
            tracing::warn!(owner = ?owner, "listener proxy fell behind; telling the owner");
            let push =
                Push::Closing { reason: CloseReason::MessageQueueLimitReached, message: "proxy".into() };
            frames.push(Bytes::from(usher_core::protocol::encode(&ServerMessage::Push(push))));
        }
        if !frames.is_empty() {
            let frames = frames.into_iter().map(|f| ByteBuf::from(f.to_vec())).collect();
            let fwd = Forward { from: cluster.part, owner, frames };
            // Awaiting here is the back-pressure: while NATS is slow the
            // proxy's queue grows, up to its bound.
            if let Err(e) = cluster.client.publish(subject.clone(), encode(&fwd).into()).await {
                tracing::warn!(error = %e, "forwarding events failed");
            }
        }
        if closing.is_some() {
            return;
        }
    }
}

fn own_queue_event(part: u64, frame: &[u8]) -> bool {
    match usher_core::protocol::decode::<ServerMessage>(frame) {
        Ok(ServerMessage::Push(Push::QueueEvent { event, .. })) => {
            let s = event.session();
            s.server == part && s.value != 0
        }
        _ => false,
    }
}

/// Starts broadcasting this server's queue events.
pub(crate) fn start_queue_forwarding(shared: &Arc<Shared>, cluster: &Arc<Cluster>) {
    // Value 0 is never a session's (values start at 1), so this id is unique.
    let proxy = new_proxy(shared, SessionId::new(cluster.part, 0));
    let handler = Arc::new(QueueHandler { owner: proxy.clone(), registration: 0 });
    if let Err(e) = shared.events.add_handler(handler) {
        tracing::error!(error = %e, "cannot broadcast queue events");
        return;
    }
    let subject = cluster.subjects.queue();
    cluster.spawn(forward(shared.clone(), cluster.clone(), proxy, subject, None));
}

/// Queue events from another server: to every local handler.
pub(crate) fn deliver_queue_events(shared: &Shared, cluster: &Cluster, fwd: Forward) {
    if !cluster.members.contains(fwd.from) {
        return;
    }
    for frame in fwd.frames {
        if let Ok(ServerMessage::Push(Push::QueueEvent { event, .. })) = usher_core::protocol::decode(&frame)
        {
            shared.events.queue_event(event);
        }
    }
}

/// Registers a listener of a local session: locally, then on every member.
pub(crate) async fn listen(
    shared: &Arc<Shared>,
    cluster: &Arc<Cluster>,
    session: &Arc<Session>,
    principal: &str,
    request: Request,
) -> Outcome {
    let Request::AddSessionListener { registration, filter, keys, after } = request.clone() else {
        return cmd::dispatch(shared, session, principal, request);
    };
    let local = cmd::dispatch(shared, session, principal, request);
    if local.result.is_err() {
        return local;
    }
    let key = (session.id, registration);
    let members = cluster.members.all();
    let (tx, rx) = oneshot::channel();
    {
        let mut st = cluster.events.lock();
        st.owned.insert(key, Spec { filter: filter.clone(), keys: keys.clone(), after });
        let mut w = Waiter { remaining: members.iter().map(|(p, _)| *p).collect(), done: Some(tx) };
        w.check();
        st.waiting.insert(key, w);
    }
    let deadline = tokio::time::Instant::now() + cluster.deadline;
    let payload =
        Bytes::from(encode(&ClusterRequest::Listen { owner: session.id, registration, filter, keys, after }));
    let asks = members.iter().map(|(part, _)| cluster.request(*part, payload.clone()));
    let replies = join_all(asks).await;
    {
        let mut st = cluster.events.lock();
        if let Some(w) = st.waiting.get_mut(&key) {
            for ((part, name), reply) in members.iter().zip(replies) {
                let ok = matches!(reply.as_deref().map(decode::<OpReply>), Ok(Ok(Ok(Reply::Done))));
                if !ok {
                    tracing::warn!(server = %name, "member did not take a listener; its sessions are missing from the snapshot");
                    w.remaining.remove(part);
                }
            }
            w.check();
        }
    }
    if tokio::time::timeout_at(deadline, rx).await.is_err() {
        tracing::warn!("some members' snapshots did not arrive by the deadline");
    }
    cluster.events.lock().waiting.remove(&key);
    local
}

/// Tells a member about every listener of local sessions (it just joined).
pub(crate) fn member_joined(shared: &Arc<Shared>, cluster: &Arc<Cluster>, part: u64) {
    cluster.events.prune(shared);
    let specs: Vec<(Key, Spec)> = cluster.events.lock().owned.iter().map(|(k, s)| (*k, s.clone())).collect();
    for ((owner, registration), s) in specs {
        let req =
            ClusterRequest::Listen { owner, registration, filter: s.filter, keys: s.keys, after: s.after };
        let cluster2 = cluster.clone();
        tokio::spawn(async move {
            if cluster2.request(part, Bytes::from(encode(&req))).await.is_err() {
                tracing::warn!("a new member did not take a listener");
            }
        });
    }
}

/// A member was dropped: its sessions are `SERVER_LOST` for our listeners,
/// its proxies here end, nobody waits for its snapshots.
pub(crate) fn member_lost(shared: &Shared, cluster: &Cluster, part: u64) {
    lose_sessions_of(shared, cluster, part);
    let proxies: Vec<Arc<Session>> = {
        let mut st = cluster.events.lock();
        let owners: Vec<SessionId> = st.proxies.keys().filter(|o| o.server == part).copied().collect();
        owners.iter().filter_map(|o| st.proxies.remove(o)).collect()
    };
    for p in proxies {
        shared.events.remove_owner(p.id);
        p.mark_closing(CloseReason::ServerShutdown);
    }
}

/// Our listeners' view of a member ends: `CLOSED`/`SERVER_LOST` for each
/// of its sessions a listener has seen; nobody waits for its snapshot.
fn lose_sessions_of(shared: &Shared, cluster: &Cluster, part: u64) {
    let lost = {
        let mut st = cluster.events.lock();
        let mut lost = Vec::new();
        for ((owner, reg), set) in st.seen.iter_mut() {
            let gone: Vec<SessionId> = set.iter().filter(|id| id.server == part).copied().collect();
            for id in gone {
                set.remove(&id);
                lost.push((*owner, *reg, id));
            }
        }
        for w in st.waiting.values_mut() {
            w.remaining.remove(&part);
            w.check();
        }
        lost
    };
    for (owner, registration, session) in lost {
        if !shared.events.registration_in_use(owner, registration) {
            continue;
        }
        let event = SessionEvent::State {
            session,
            state: SessionState::Closed,
            reason: Some(CloseReason::ServerLost),
            properties: Default::default(),
        };
        if let Some(s) = shared.registry.get(owner, |v| v.rec.session.clone()) {
            s.push(&shared.events, Push::SessionEvent { registration, event });
        }
    }
}

/// After a NATS outage events of other servers may have been missed. The
/// client library treats a registration error as the end of the stream,
/// so instead of an error every listener gets `CLOSED`/`SERVER_LOST` for
/// the remote sessions it had seen; membership starts afresh, and each
/// member, rediscovered by its next heartbeat, is sent every listener
/// again, whose fresh snapshot (`ACTIVE` for what still exists) follows.
/// Proxies here stay: a member that did not notice the outage will not
/// re-send its listeners, and `Listen` replaces a registration anyway.
pub(crate) fn nats_reconnected(shared: &Shared, cluster: &Cluster) {
    for (part, _) in cluster.members.clear() {
        lose_sessions_of(shared, cluster, part);
    }
}

/// Events forwarded by another server for a listener of a local session.
pub(crate) fn deliver_forward(shared: &Shared, cluster: &Cluster, fwd: Forward) {
    let Some(owner) = fwd.owner else { return };
    if !cluster.members.contains(fwd.from) {
        return; // dropped (or not yet rediscovered): its listeners are re-sent on rejoin
    }
    let Some(session) = shared.registry.get(owner, |v| v.rec.session.clone()) else {
        cluster.send(cluster.subjects.server(fwd.from), encode(&ClusterRequest::OwnerGone { owner }));
        return;
    };
    let mut stale = HashSet::new();
    for frame in fwd.frames {
        let push = match usher_core::protocol::decode::<ServerMessage>(&frame) {
            Ok(ServerMessage::Push(p)) => p,
            _ => {
                tracing::warn!("unexpected forwarded frame ignored");
                continue;
            }
        };
        match push {
            Push::SessionEvent { registration, event } => {
                if !shared.events.registration_in_use(owner, registration) {
                    stale.insert(registration);
                    continue;
                }
                {
                    let mut st = cluster.events.lock();
                    let seen = st.seen.entry((owner, registration)).or_default();
                    match &event {
                        SessionEvent::State { session, state: SessionState::Active, .. } => {
                            seen.insert(*session);
                        }
                        SessionEvent::State { session, state: SessionState::Closed, .. } => {
                            seen.remove(session);
                        }
                        SessionEvent::Properties { .. } => {}
                    }
                }
                session.push(&shared.events, Push::SessionEvent { registration, event });
            }
            // The snapshot marker (see the module docs).
            Push::RegistrationClosed { registration } => {
                if let Some(w) = cluster.events.lock().waiting.get_mut(&(owner, registration)) {
                    w.remaining.remove(&fwd.from);
                    w.check();
                }
            }
            Push::Closing { .. } => {
                shared.close_session(owner, CloseReason::MessageQueueLimitReached);
            }
            _ => {}
        }
    }
    for registration in stale {
        cluster.send(
            cluster.subjects.server(fwd.from),
            encode(&ClusterRequest::Unlisten { owner, registration }),
        );
    }
}

/// A `Listen` from another server: registers (or replaces) the listener on
/// the owner's proxy, queues its snapshot and the marker.
pub(crate) fn serve_listen(
    shared: &Arc<Shared>,
    cluster: &Arc<Cluster>,
    owner: SessionId,
    registration: RegistrationId,
    filter: Option<String>,
    keys: Vec<String>,
    after: Option<u64>,
) -> OpReply {
    // Not checked against membership: a member that just heard our
    // heartbeat asks before we have heard its own.
    if owner.server == cluster.part {
        return Err(WireError::from(cmd::no_such_session(owner)));
    }
    let (proxy, new) = {
        let mut st = cluster.events.lock();
        match st.proxies.get(&owner) {
            Some(p) => (p.clone(), false),
            None => {
                let p = new_proxy(shared, owner);
                st.proxies.insert(owner, p.clone());
                (p, true)
            }
        }
    };
    if new {
        let subject = cluster.subjects.events(owner.server);
        cluster.spawn(forward(shared.clone(), cluster.clone(), proxy.clone(), subject, Some(owner)));
    }
    shared.events.remove(owner, registration);
    let mut ctx = Ctx { shared, caller: &proxy, roles: proxy.roles(), after: Vec::new(), close_self: false };
    let result = cmd::add_listener(&mut ctx, registration, filter.as_deref(), &keys, after);
    if result.is_ok() {
        proxy.push(&shared.events, Push::RegistrationClosed { registration });
    }
    result.map_err(WireError::from)
}

/// An `Unlisten` (one registration) or `OwnerGone` (all of them).
pub(crate) fn serve_unlisten(
    shared: &Shared,
    cluster: &Cluster,
    owner: SessionId,
    registration: Option<RegistrationId>,
) {
    match registration {
        // The proxy stays while its owner lives: one idle task, reused by
        // the owner's next listener.
        Some(r) => {
            shared.events.remove(owner, r);
        }
        None => {
            shared.events.remove_owner(owner);
            if let Some(p) = cluster.events.lock().proxies.remove(&owner) {
                p.mark_closing(CloseReason::ClosedByClient);
            }
        }
    }
}
