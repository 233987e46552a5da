//! Client tests against a scripted fake server speaking the real protocol
//! over a real socket: correlation, the in-flight bound, timeouts, close
//! handling, snapshot ordering, listeners, slow consumers. The tests against
//! the real server live in `cli/tests/`.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::{FutureExt, SinkExt, StreamExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;

use super::connection::selector_matches;
use super::*;
use crate::error::{ErrorDetails, ErrorKind};
use crate::id::SessionId;
use crate::protocol::{
    self, ClientMessage, CloseReason, FilterResult, Hello, Push, QueueEvent, QueuePolicy, Reject, Reply,
    Request, Response, ServerMessage, SessionEvent, SessionLimits, SessionState, Welcome, WireError,
};

const DEADLINE: Duration = Duration::from_secs(5);

/// The server side of one connection.
struct Fake {
    ws: WebSocketStream<TcpStream>,
    hello: Hello,
}

impl Fake {
    async fn recv(&mut self) -> Option<ClientMessage> {
        loop {
            match tokio::time::timeout(DEADLINE, self.ws.next()).await.ok()?? {
                Ok(Message::Binary(b)) => return protocol::decode(&b).ok(),
                Ok(Message::Close(_)) | Err(_) => return None,
                Ok(_) => {}
            }
        }
    }

    /// The next request, panicking on anything else.
    async fn request(&mut self) -> (u64, Request) {
        match self.recv().await {
            Some(ClientMessage::Request { id, request }) => (id, request),
            other => panic!("expected a request, got {other:?}"),
        }
    }

    async fn send(&mut self, message: ServerMessage) {
        let _ = self.ws.send(Message::Binary(protocol::encode(&message).into())).await;
    }

    async fn reply(&mut self, id: u64, result: Result<Reply, WireError>) {
        self.send(ServerMessage::Response(Response { id, result })).await;
    }

    async fn push(&mut self, push: Push) {
        self.send(ServerMessage::Push(push)).await;
    }
}

fn welcome(limits: SessionLimits) -> Welcome {
    Welcome {
        session_id: SessionId::new(0xabc, 1),
        server_name: "fake".into(),
        roles: vec!["CLIENT".into()],
        queue_policy: QueuePolicy::default(),
        limits,
        start_time: 1,
    }
}

/// Starts a fake server that welcomes one client with `limits`, then runs
/// `script`. Returns the url and the script's handle.
async fn fake<F, Fut>(limits: SessionLimits, script: F) -> (String, tokio::task::JoinHandle<()>)
where
    F: FnOnce(Fake) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("ws://{}", listener.local_addr().expect("addr"));
    let task = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.expect("accept");
        let ws = tokio_tungstenite::accept_async(tcp).await.expect("upgrade");
        let mut fake = Fake { ws, hello: placeholder_hello() };
        let Some(ClientMessage::Hello(hello)) = fake.recv().await else { panic!("no hello") };
        fake.hello = hello;
        fake.send(ServerMessage::Welcome(welcome(limits))).await;
        script(fake).await;
    });
    (url, task)
}

fn placeholder_hello() -> Hello {
    Hello {
        version: 0,
        client_type: protocol::ClientType::Other,
        environment: String::new(),
        principal: None,
        password: None,
        properties: BTreeMap::new(),
    }
}

async fn connect(url: &str) -> Session {
    Session::connect(ConnectOptions::new(url).request_timeout(DEADLINE)).await.expect("connect")
}

fn active(value: u64) -> SessionEvent {
    SessionEvent::State {
        session: SessionId::new(0xabc, value),
        state: SessionState::Active,
        reason: None,
        properties: BTreeMap::new(),
    }
}

fn denied() -> WireError {
    WireError {
        kind: ErrorKind::AccessDenied,
        message: "no".into(),
        details: ErrorDetails::Permission("REGISTER_HANDLER".into()),
    }
}

async fn within<T>(f: impl Future<Output = T>) -> T {
    tokio::time::timeout(DEADLINE, f).await.expect("deadline passed")
}

#[test]
fn handles_and_futures_are_send_sync_static() {
    fn send_sync_clone<T: Send + Sync + Clone + 'static>() {}
    fn send_static<T: Send + 'static>(_: &T) {}
    send_sync_clone::<Session>();
    send_sync_clone::<ClientControl>();
    send_sync_clone::<Topics>();
    fn send_sync<T: Send + Sync>() {}
    send_sync::<SessionEventStream>();
    send_sync::<ListenerRegistration>();
    // Futures must be spawnable even when the handle they came from is gone.
    #[allow(dead_code)]
    fn spawnable(session: Session) {
        let clients = session.clients();
        let f = clients.close("all");
        drop(clients);
        send_static(&f);
        send_static(&session.clients().change_roles("all", NO_ROLES, ["A"]));
        send_static(&session.clients().session_events(SessionEventParams::new()));
        send_static(&session.topics().subscribe("a"));
        send_static(&session.close());
        send_static(&Session::connect(ConnectOptions::default()));
        // From a temporary handle, outliving the session handle too.
        let g = session.clients().get_session_properties(SessionId::new(1, 1), ["*F"]);
        let h = session.topics().update("a", vec![1]);
        drop(session);
        send_static(&g);
        send_static(&h);
    }
}

#[test]
fn selectors() {
    assert!(selector_matches("a/b", "a/b"));
    assert!(!selector_matches("a/b", "a/bc"));
    assert!(selector_matches("a/*", "a"));
    assert!(selector_matches("a/*", "a/b/c"));
    assert!(!selector_matches("a/*", "ab"));
    assert!(!selector_matches("a/*", "b/a"));
}

#[tokio::test]
async fn hello_carries_options_and_welcome_is_exposed() {
    let (tx, rx) = oneshot::channel();
    let (url, _t) = fake(SessionLimits::default(), |fake| async move {
        let _ = tx.send(fake.hello.clone());
        std::future::pending::<()>().await;
    })
    .await;
    let options = ConnectOptions::new(&url).principal("control").password("pw").property("team", "ops");
    let session = Session::connect(options).await.expect("connect");
    let hello = within(rx).await.expect("hello");
    assert_eq!(hello.version, protocol::PROTOCOL_VERSION);
    assert_eq!(hello.client_type, protocol::ClientType::Rust);
    assert!(hello.environment.starts_with("RUST_"));
    assert_eq!(hello.principal.as_deref(), Some("control"));
    assert_eq!(hello.password.as_deref(), Some("pw"));
    assert_eq!(hello.properties.get("team").map(String::as_str), Some("ops"));
    assert_eq!(session.id(), SessionId::new(0xabc, 1));
    assert_eq!(session.roles(), vec!["CLIENT".to_owned()]);
    assert_eq!(session.server_name(), "fake");
    assert_eq!(session.close_reason(), None);
}

#[tokio::test]
async fn reject_becomes_the_error() {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("ws://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.expect("accept");
        let ws = tokio_tungstenite::accept_async(tcp).await.expect("upgrade");
        let mut fake = Fake { ws, hello: placeholder_hello() };
        let _ = fake.recv().await;
        let error = WireError {
            kind: ErrorKind::AuthenticationFailed,
            message: "bad".into(),
            details: ErrorDetails::None,
        };
        fake.send(ServerMessage::Reject(Reject { reason: CloseReason::AuthenticationFailed, error })).await;
    });
    let e = Session::connect(ConnectOptions::new(url)).await.expect_err("rejected");
    assert_eq!(e.kind, ErrorKind::AuthenticationFailed);
}

#[tokio::test]
async fn connect_failures_have_kinds() {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("ws://{}", listener.local_addr().expect("addr"));
    drop(listener);
    let e = Session::connect(ConnectOptions::new(url)).await.expect_err("nobody listens");
    assert_eq!(e.kind, ErrorKind::Connection);
    let e = Session::connect(ConnectOptions::new("wss://127.0.0.1:1")).await.expect_err("nobody listens");
    assert_eq!(e.kind, ErrorKind::Connection);
    // A server that accepts TCP but never answers the upgrade.
    let silent = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("ws://{}", silent.local_addr().expect("addr"));
    let options = ConnectOptions::new(url).connect_timeout(Duration::from_millis(200));
    let e = Session::connect(options).await.expect_err("times out");
    assert_eq!(e.kind, ErrorKind::Timeout);
}

#[tokio::test]
async fn many_requests_respect_the_in_flight_bound_and_correlate() {
    const N: u64 = 40;
    const MAX: usize = 4;
    let limits = SessionLimits { max_in_flight: MAX as u32, ..SessionLimits::default() };
    let (url, task) = fake(limits, |mut fake| async move {
        let mut outstanding = Vec::new();
        let mut received = 0;
        while received < N {
            let (id, request) = fake.request().await;
            received += 1;
            let Request::Count { filter } = request else { panic!("unexpected {request:?}") };
            outstanding.push((id, filter.parse::<u64>().expect("number")));
            assert!(outstanding.len() <= MAX, "{} requests in flight", outstanding.len());
            if outstanding.len() == MAX || received == N {
                // Answer in reverse order: correlation must not rely on order.
                for (id, n) in outstanding.drain(..).rev() {
                    let result = FilterResult { total: n * 10, ..Default::default() };
                    fake.reply(id, Ok(Reply::Result(result))).await;
                }
            }
        }
    })
    .await;
    let session = connect(&url).await;
    let clients = session.clients();
    let calls: Vec<_> = (0..N).map(|i| clients.count(i.to_string())).collect();
    let results = within(futures_util::future::join_all(calls)).await;
    for (i, r) in results.into_iter().enumerate() {
        assert_eq!(r.expect("count"), i as u64 * 10);
    }
    within(task).await.expect("fake server");
}

#[tokio::test]
async fn unanswered_request_times_out() {
    let (url, _t) = fake(SessionLimits::default(), |mut fake| async move {
        let _ = fake.request().await;
        std::future::pending::<()>().await;
    })
    .await;
    let options = ConnectOptions::new(&url).request_timeout(Duration::from_millis(150));
    let session = Session::connect(options).await.expect("connect");
    let e = session.clients().count("all").await.expect_err("timeout");
    assert_eq!(e.kind, ErrorKind::Timeout);
}

#[tokio::test]
async fn pending_requests_fail_when_the_session_closes() {
    let (url, _t) = fake(SessionLimits::default(), |mut fake| async move {
        let _ = fake.request().await;
        let _ = fake.request().await;
        fake.push(Push::Closing { reason: CloseReason::ClosedByController, message: "bye".into() }).await;
        let _ = fake.ws.close(None).await;
    })
    .await;
    let session = connect(&url).await;
    let clients = session.clients();
    let (a, b) = within(futures_util::future::join(clients.count("all"), clients.close("all"))).await;
    assert_eq!(a.expect_err("closed").kind, ErrorKind::SessionClosed);
    assert_eq!(b.expect_err("closed").kind, ErrorKind::SessionClosed);
    assert_eq!(within(session.closed()).await, CloseReason::ClosedByController);
    assert_eq!(session.close_reason(), Some(CloseReason::ClosedByController));
    // After close: immediately SESSION_CLOSED, no waiting for a timeout.
    let e = clients.count("all").now_or_never().expect("immediate").expect_err("closed");
    assert_eq!(e.kind, ErrorKind::SessionClosed);
    let e = session.topics().subscribe("a").now_or_never().expect("immediate").expect_err("closed");
    assert_eq!(e.kind, ErrorKind::SessionClosed);
    within(session.close()).await.expect("closing a closed session is fine");
}

#[tokio::test]
async fn a_dropped_connection_is_connection_lost() {
    let (url, _t) = fake(SessionLimits::default(), |fake| async move {
        drop(fake);
    })
    .await;
    let session = connect(&url).await;
    assert_eq!(within(session.closed()).await, CloseReason::ConnectionLost);
}

#[tokio::test]
async fn close_says_bye() {
    let (tx, rx) = oneshot::channel();
    let (url, _t) = fake(SessionLimits::default(), |mut fake| async move {
        let message = fake.recv().await;
        let _ = tx.send(message);
        let _ = fake.ws.close(None).await;
    })
    .await;
    let session = connect(&url).await;
    within(session.close()).await.expect("close");
    assert_eq!(within(rx).await.expect("message"), Some(ClientMessage::Bye));
    assert_eq!(session.close_reason(), Some(CloseReason::ClosedByClient));
}

#[tokio::test]
async fn roles_changed_is_observable() {
    let (url, _t) = fake(SessionLimits::default(), |mut fake| async move {
        let (id, _) = fake.request().await;
        fake.push(Push::RolesChanged { roles: vec!["CLIENT".into(), "OPERATOR".into()] }).await;
        fake.reply(id, Ok(Reply::Result(FilterResult::default()))).await;
        std::future::pending::<()>().await;
    })
    .await;
    let session = connect(&url).await;
    let next = session.roles_changed();
    let mut watch = session.watch_roles();
    session.clients().count("all").await.expect("count");
    assert_eq!(within(next).await.expect("roles"), vec!["CLIENT".to_owned(), "OPERATOR".to_owned()]);
    within(watch.changed()).await.expect("watch");
    assert_eq!(session.roles().len(), 2);
}

#[tokio::test]
async fn change_roles_is_checked_before_any_round_trip() {
    let (url, _t) = fake(SessionLimits::default(), |mut fake| async move {
        // The first request the server sees must be the valid one.
        let (id, request) = fake.request().await;
        assert!(matches!(request, Request::ChangeRoles { .. }), "{request:?}");
        fake.reply(id, Ok(Reply::Result(FilterResult { total: 1, ..Default::default() }))).await;
        std::future::pending::<()>().await;
    })
    .await;
    let session = connect(&url).await;
    let clients = session.clients();
    let id = SessionId::new(1, 2);
    let e = clients.change_roles(id, NO_ROLES, NO_ROLES).await.expect_err("both empty");
    assert_eq!(e.kind, ErrorKind::InvalidArgument);
    let e = clients.change_roles(id, ["A"], ["A"]).await.expect_err("in both");
    assert_eq!((e.kind, e.details), (ErrorKind::InvalidArgument, ErrorDetails::Argument("A".into())));
    let e = clients.change_roles_detailed(id, ["no spaces"], NO_ROLES).await.expect_err("bad name");
    assert_eq!(e.kind, ErrorKind::InvalidArgument);
    assert_eq!(within(clients.change_roles(id, NO_ROLES, ["OPERATOR"])).await, Ok(1));
}

#[tokio::test]
async fn plain_results_raise_routing_and_limit_errors() {
    let (url, _t) = fake(SessionLimits::default(), |mut fake| async move {
        loop {
            let (id, request) = fake.request().await;
            let result = match request {
                Request::Close { max_targets, .. } => {
                    assert_eq!(max_targets, Some(3));
                    FilterResult { total: 1, unreachable: vec!["b".into()], ..Default::default() }
                }
                Request::SetSessionProperties { properties, .. } => {
                    assert_eq!(properties.get("gone"), Some(&None));
                    // What the real server answers (docs/PROTOCOL.md): the
                    // error, carrying the result.
                    let result = FilterResult { total: 2, rejected: 1, ..Default::default() };
                    let e = crate::Error::new(ErrorKind::LimitExceeded, "rejected")
                        .with_details(ErrorDetails::Result(Box::new(result)));
                    fake.reply(id, Err(WireError::from(e))).await;
                    continue;
                }
                other => panic!("unexpected {other:?}"),
            };
            fake.reply(id, Ok(Reply::Result(result))).await;
        }
    })
    .await;
    let session = connect(&url).await;
    let clients = session.clients();
    let e = clients.max_targets(3).close("all").await.expect_err("partial");
    assert_eq!(e.kind, ErrorKind::ClusterRouting);
    assert_eq!(e.filter_result().map(|r| r.unreachable.clone()), Some(vec!["b".to_owned()]));
    let props = [("k", Some("v")), ("gone", None)];
    let e = clients.set_session_properties("all", props).await.expect_err("rejected");
    assert_eq!(e.kind, ErrorKind::LimitExceeded);
    assert_eq!(e.filter_result().map(|r| r.rejected), Some(1));
    let r = clients.set_session_properties_detailed("all", props).await.expect("detailed does not raise");
    assert_eq!(r.rejected, 1);
}

/// The script of a registration: snapshot of two, Done, one live event, an
/// error, closed.
async fn registration_script(mut fake: Fake) {
    let (id, request) = fake.request().await;
    let Request::AddSessionListener { registration, .. } = request else { panic!("{request:?}") };
    for v in [10, 11] {
        fake.push(Push::SessionEvent { registration, event: active(v) }).await;
    }
    fake.reply(id, Ok(Reply::Done)).await;
    fake.push(Push::SessionEvent { registration, event: active(12) }).await;
    fake.push(Push::RegistrationError { registration, error: denied() }).await;
    fake.push(Push::RegistrationClosed { registration }).await;
    std::future::pending::<()>().await;
}

#[tokio::test]
async fn session_event_stream_snapshot_live_error_end() {
    let (url, _t) = fake(SessionLimits::default(), registration_script).await;
    let session = connect(&url).await;
    let mut events =
        within(session.clients().session_events(SessionEventParams::new())).await.expect("register");
    // The snapshot is there as soon as registration resolves.
    assert_eq!(events.pending_snapshot(), 2);
    for v in [10, 11] {
        let e = events.next().now_or_never().expect("buffered").expect("item").expect("event");
        assert_eq!(e.session(), SessionId::new(0xabc, v));
    }
    assert_eq!(events.pending_snapshot(), 0);
    let e = within(events.next()).await.expect("item").expect("event");
    assert_eq!(e.session(), SessionId::new(0xabc, 12));
    let e = within(events.next()).await.expect("item").expect_err("error");
    assert_eq!(e.kind, ErrorKind::AccessDenied);
    assert!(within(events.next()).await.is_none());
}

#[derive(Clone, Default)]
struct Recorder(Arc<Mutex<Vec<String>>>);

impl Recorder {
    fn log(&self) -> Vec<String> {
        self.0.lock().map(|l| l.clone()).unwrap_or_default()
    }
    fn push(&self, s: String) {
        if let Ok(mut l) = self.0.lock() {
            l.push(s);
        }
    }
}

struct Listener(Recorder, Option<oneshot::Sender<()>>);

impl SessionEventListener for Listener {
    fn on_event(&mut self, event: SessionEvent) {
        self.0.push(format!("event {}", event.session().value));
    }
    fn on_error(&mut self, error: crate::Error) {
        self.0.push(format!("error {}", error.kind));
    }
    fn on_close(&mut self) {
        self.0.push("close".into());
        if let Some(tx) = self.1.take() {
            let _ = tx.send(());
        }
    }
}

#[tokio::test]
async fn session_event_trait_listener_gets_everything_in_order_then_close_once() {
    let (url, _t) = fake(SessionLimits::default(), registration_script).await;
    let session = connect(&url).await;
    let recorder = Recorder::default();
    let (tx, closed) = oneshot::channel();
    let listener = Listener(recorder.clone(), Some(tx));
    let registration =
        within(session.clients().add_session_event_listener(listener, SessionEventParams::new()))
            .await
            .expect("register");
    // Snapshot delivered before registration resolved.
    assert_eq!(recorder.log(), ["event 10", "event 11"]);
    within(closed).await.expect("on_close");
    assert_eq!(recorder.log(), ["event 10", "event 11", "event 12", "error ACCESS_DENIED", "close"]);
    within(registration.close()).await.expect("close after the server ended it");
    assert_eq!(recorder.log().iter().filter(|l| *l == "close").count(), 1);
}

struct QueueRecorder(Recorder);

impl QueueEventListener for QueueRecorder {
    fn on_upper_threshold_crossed(&mut self, id: SessionId, _: QueuePolicy) {
        self.0.push(format!("upper {}", id.value));
    }
    fn on_lower_threshold_crossed(&mut self, id: SessionId, _: QueuePolicy) {
        self.0.push(format!("lower {}", id.value));
    }
    fn on_policy_changed(&mut self, id: SessionId, policy: QueuePolicy) {
        self.0.push(format!("policy {} {}", id.value, policy.conflated));
    }
    fn on_close(&mut self) {
        self.0.push("close".into());
    }
}

#[tokio::test]
async fn queue_handler_trait_and_close_unregisters() {
    let (url, task) = fake(SessionLimits::default(), |mut fake| async move {
        let (id, request) = fake.request().await;
        let Request::SetQueueHandler { registration } = request else { panic!("{request:?}") };
        fake.reply(id, Ok(Reply::Done)).await;
        let policy = QueuePolicy::default();
        let s = SessionId::new(0xabc, 5);
        fake.push(Push::QueueEvent {
            registration,
            event: QueueEvent::UpperThresholdCrossed { session: s, policy },
        })
        .await;
        let conflated = QueuePolicy { conflated: true, ..policy };
        fake.push(Push::QueueEvent {
            registration,
            event: QueueEvent::PolicyChanged { session: s, policy: conflated },
        })
        .await;
        fake.push(Push::QueueEvent {
            registration,
            event: QueueEvent::LowerThresholdCrossed { session: s, policy },
        })
        .await;
        let (id, request) = fake.request().await;
        assert_eq!(request, Request::Unregister { registration });
        fake.reply(id, Ok(Reply::Done)).await;
        fake.push(Push::RegistrationClosed { registration }).await;
    })
    .await;
    let session = connect(&url).await;
    let recorder = Recorder::default();
    let registration = within(session.clients().set_queue_event_handler(QueueRecorder(recorder.clone())))
        .await
        .expect("register");
    within(async {
        while recorder.log().len() < 3 {
            tokio::task::yield_now().await;
        }
    })
    .await;
    within(registration.close()).await.expect("close");
    assert_eq!(recorder.log(), ["upper 5", "policy 5 true", "lower 5", "close"]);
    within(task).await.expect("fake server");
}

#[tokio::test]
async fn dropping_a_stream_unregisters() {
    let (tx, rx) = oneshot::channel();
    let (url, _t) = fake(SessionLimits::default(), |mut fake| async move {
        let (id, request) = fake.request().await;
        let Request::SetQueueHandler { registration } = request else { panic!("{request:?}") };
        fake.reply(id, Ok(Reply::Done)).await;
        let (_, next) = fake.request().await;
        let _ = tx.send(next == Request::Unregister { registration });
        std::future::pending::<()>().await;
    })
    .await;
    let session = connect(&url).await;
    let events = within(session.clients().queue_events()).await.expect("register");
    drop(events);
    assert!(within(rx).await.expect("next request"), "the next request must unregister");
}

#[tokio::test]
async fn a_stuck_listener_does_not_block_the_reader_forever() {
    let (url, _t) = fake(SessionLimits::default(), |mut fake| async move {
        let (id, request) = fake.request().await;
        let Request::AddSessionListener { registration, .. } = request else { panic!("{request:?}") };
        fake.reply(id, Ok(Reply::Done)).await;
        for v in 0..10 {
            fake.push(Push::SessionEvent { registration, event: active(v) }).await;
        }
        let mut unregistered = false;
        let mut counted = false;
        while !(unregistered && counted) {
            let (id, request) = fake.request().await;
            match request {
                Request::Count { .. } => {
                    counted = true;
                    fake.reply(id, Ok(Reply::Result(FilterResult { total: 7, ..Default::default() }))).await;
                }
                Request::Unregister { registration: r } if r == registration => {
                    unregistered = true;
                    fake.reply(id, Ok(Reply::Done)).await;
                }
                other => panic!("unexpected {other:?}"),
            }
        }
        std::future::pending::<()>().await;
    })
    .await;
    let options = ConnectOptions::new(&url)
        .listener_buffer(2)
        .listener_stall_timeout(Duration::from_millis(100))
        .request_timeout(DEADLINE);
    let session = Session::connect(options).await.expect("connect");
    let mut events =
        within(session.clients().session_events(SessionEventParams::new())).await.expect("register");
    // Nobody reads `events`; the reader must still answer this request.
    assert_eq!(within(session.clients().count("all")).await, Ok(7));
    let mut got = 0;
    let error = loop {
        match within(events.next()).await {
            Some(Ok(_)) => got += 1,
            Some(Err(e)) => break e,
            None => panic!("ended without an error"),
        }
    };
    assert_eq!(got, 2, "the buffered events come before the error");
    assert_eq!(error.kind, ErrorKind::LimitExceeded);
    assert!(matches!(error.details, ErrorDetails::Limit { ref limit, .. } if limit == "listener_buffer"));
    assert!(within(events.next()).await.is_none());
}

#[tokio::test]
async fn subscriptions_get_current_values_then_updates_for_their_selector() {
    let (url, _t) = fake(SessionLimits::default(), |mut fake| async move {
        let (id, request) = fake.request().await;
        assert_eq!(request, Request::Subscribe { selector: "a/*".into() });
        fake.push(Push::TopicValue { path: "a/b".into(), value: b"1".to_vec() }).await;
        fake.push(Push::TopicValue { path: "x/y".into(), value: b"no".to_vec() }).await;
        fake.reply(id, Ok(Reply::Done)).await;
        fake.push(Push::TopicValue { path: "a/c".into(), value: b"2".to_vec() }).await;
        let (id, request) = fake.request().await;
        assert_eq!(request, Request::Unsubscribe { selector: "a/*".into() });
        fake.reply(id, Ok(Reply::Done)).await;
        std::future::pending::<()>().await;
    })
    .await;
    let session = connect(&url).await;
    let mut values = within(session.topics().subscribe("a/*")).await.expect("subscribe");
    let first = values.next().now_or_never().expect("buffered").expect("item").expect("value");
    assert_eq!(first, ("a/b".to_owned(), b"1".to_vec()));
    let second = within(values.next()).await.expect("item").expect("value");
    assert_eq!(second, ("a/c".to_owned(), b"2".to_vec()));
    within(values.close()).await.expect("unsubscribe");
}

#[tokio::test]
async fn a_failed_registration_reports_the_servers_error() {
    let (url, _t) = fake(SessionLimits::default(), |mut fake| async move {
        let (id, _) = fake.request().await;
        let conflict = WireError {
            kind: ErrorKind::HandlerConflict,
            message: "taken".into(),
            details: ErrorDetails::None,
        };
        fake.reply(id, Err(conflict)).await;
        std::future::pending::<()>().await;
    })
    .await;
    let session = connect(&url).await;
    let e = within(session.clients().queue_events()).await.expect_err("conflict");
    assert_eq!(e.kind, ErrorKind::HandlerConflict);
}

struct Panicky(Listener);

impl SessionEventListener for Panicky {
    fn on_event(&mut self, event: SessionEvent) {
        let value = event.session().value;
        self.0.on_event(event);
        assert_ne!(value, 11, "a listener bug");
    }
    fn on_error(&mut self, error: crate::Error) {
        self.0.on_error(error);
    }
    fn on_close(&mut self) {
        self.0.on_close();
    }
}

#[tokio::test]
async fn a_panicking_listener_keeps_its_registration_and_gets_on_close() {
    let (url, _t) = fake(SessionLimits::default(), registration_script).await;
    let session = connect(&url).await;
    let recorder = Recorder::default();
    let (tx, closed) = oneshot::channel();
    let listener = Panicky(Listener(recorder.clone(), Some(tx)));
    let _registration =
        within(session.clients().add_session_event_listener(listener, SessionEventParams::new()))
            .await
            .expect("register");
    within(closed).await.expect("on_close");
    assert_eq!(recorder.log(), ["event 10", "event 11", "event 12", "error ACCESS_DENIED", "close"]);
}
