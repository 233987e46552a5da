//! A small raw test client on tokio-tungstenite and the core codec. It is
//! deliberately not the real client: hostile-client tests need to send
//! garbage, oversize frames, floods and no hello at all.

#![allow(dead_code)]

pub mod process;

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::time::Duration;

use anyhow::{Context, bail};
use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use usher_core::protocol::{
    ClientMessage, ClientType, CloseReason, FilterResult, Hello, PROTOCOL_VERSION, Push, Reject, Reply,
    Request, ServerMessage, Welcome, WireError, decode, encode,
};
use usher_core::{ErrorDetails, ErrorKind, SessionId, Target};

/// How long any expected message may take.
pub const DEADLINE: Duration = Duration::from_secs(5);

pub const ADMIN_PW: &str = "admin-pw";
pub const CONTROL_PW: &str = "control-pw";
pub const CLIENT_PW: &str = "client-pw";

/// A test config with the standard passwords.
pub fn config() -> usher_server::Config {
    usher_server::Config::for_tests(ADMIN_PW, CONTROL_PW, CLIENT_PW)
}

/// A server with the standard test config.
pub async fn server() -> anyhow::Result<usher_server::ServerHandle> {
    usher_server::start(config()).await
}

pub type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// What a connection attempt produced.
#[derive(Debug)]
pub enum Outcome {
    Welcome(Box<Client>),
    Reject(Reject),
}

#[derive(Debug)]
pub struct Client {
    pub ws: Ws,
    pub welcome: Welcome,
    next_id: u64,
    pushes: VecDeque<Push>,
    responses: HashMap<u64, Result<Reply, WireError>>,
    /// Set once a `Closing` push or the end of the socket was seen.
    pub closed: Option<Option<CloseReason>>,
    /// Everything received, in order (for ordering assertions).
    pub arrivals: Vec<Arrival>,
    /// How long one read may wait for the server ([`DEADLINE`] unless set).
    pub read_deadline: Duration,
}

/// One received message, in arrival order.
#[derive(Debug, Clone, PartialEq)]
pub enum Arrival {
    Push(Push),
    Response(u64),
}

pub fn hello(principal: Option<(&str, &str)>, props: &[(&str, &str)]) -> Hello {
    Hello {
        version: PROTOCOL_VERSION,
        client_type: ClientType::Rust,
        environment: "RUST_1.95".into(),
        principal: principal.map(|p| p.0.to_owned()),
        password: principal.map(|p| p.1.to_owned()),
        properties: props.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect(),
    }
}

/// Opens a raw WebSocket (no hello sent).
pub async fn raw(url: &str) -> anyhow::Result<Ws> {
    let (ws, _) = tokio::time::timeout(DEADLINE, tokio_tungstenite::connect_async(url)).await??;
    Ok(ws)
}

/// Opens a raw WebSocket whose socket has a small receive buffer, so a
/// client that stops reading backs the server's queue up quickly.
pub async fn raw_small_buffer(url: &str) -> anyhow::Result<Ws> {
    let addr: std::net::SocketAddr = url.trim_start_matches("ws://").parse()?;
    let socket = tokio::net::TcpSocket::new_v4()?;
    socket.set_recv_buffer_size(4096)?;
    let stream = socket.connect(addr).await?;
    let (ws, _) =
        tokio::time::timeout(DEADLINE, tokio_tungstenite::client_async(url, MaybeTlsStream::Plain(stream)))
            .await??;
    Ok(ws)
}

/// Sends a hello and returns the welcome or the rejection.
pub async fn try_connect(url: &str, hello: Hello) -> anyhow::Result<Outcome> {
    let ws = raw(url).await?;
    hello_on(ws, hello).await
}

/// Connects anonymously over a socket with a small receive buffer.
pub async fn slow_anonymous(url: &str) -> anyhow::Result<Client> {
    match hello_on(raw_small_buffer(url).await?, hello(None, &[])).await? {
        Outcome::Welcome(c) => Ok(*c),
        Outcome::Reject(r) => bail!("rejected: {r:?}"),
    }
}

/// Sends a hello on an open WebSocket.
pub async fn hello_on(mut ws: Ws, hello: Hello) -> anyhow::Result<Outcome> {
    ws.send(Message::Binary(encode(&ClientMessage::Hello(hello)).into())).await?;
    loop {
        let msg = tokio::time::timeout(DEADLINE, ws.next()).await?.context("closed before welcome")??;
        if let Message::Binary(b) = msg {
            return match decode::<ServerMessage>(&b)? {
                ServerMessage::Welcome(welcome) => Ok(Outcome::Welcome(Box::new(Client {
                    ws,
                    welcome,
                    next_id: 1,
                    pushes: VecDeque::new(),
                    responses: HashMap::new(),
                    closed: None,
                    arrivals: Vec::new(),
                    read_deadline: DEADLINE,
                }))),
                ServerMessage::Reject(r) => Ok(Outcome::Reject(r)),
                other => bail!("unexpected first message {other:?}"),
            };
        }
    }
}

/// Connects and expects a welcome.
pub async fn connect(
    url: &str,
    principal: Option<(&str, &str)>,
    props: &[(&str, &str)],
) -> anyhow::Result<Client> {
    match try_connect(url, hello(principal, props)).await? {
        Outcome::Welcome(c) => Ok(*c),
        Outcome::Reject(r) => bail!("rejected: {r:?}"),
    }
}

pub async fn admin(url: &str) -> anyhow::Result<Client> {
    connect(url, Some(("admin", ADMIN_PW)), &[]).await
}

pub async fn control(url: &str) -> anyhow::Result<Client> {
    connect(url, Some(("control", CONTROL_PW)), &[]).await
}

pub async fn anonymous(url: &str, props: &[(&str, &str)]) -> anyhow::Result<Client> {
    connect(url, None, props).await
}

impl Client {
    pub fn id(&self) -> SessionId {
        self.welcome.session_id
    }

    /// Sends a request without waiting; returns its id.
    pub async fn send(&mut self, request: Request) -> anyhow::Result<u64> {
        let id = self.next_id;
        self.next_id += 1;
        self.ws.send(Message::Binary(encode(&ClientMessage::Request { id, request }).into())).await?;
        Ok(id)
    }

    /// Reads one server message (with the deadline), filing it.
    async fn pump(&mut self) -> anyhow::Result<()> {
        let msg = match tokio::time::timeout(self.read_deadline, self.ws.next()).await {
            Err(_) => bail!("nothing from the server within {:?}", self.read_deadline),
            Ok(None) | Ok(Some(Err(_))) => {
                self.closed.get_or_insert(None);
                bail!("connection ended");
            }
            Ok(Some(Ok(m))) => m,
        };
        match msg {
            Message::Binary(b) => match decode::<ServerMessage>(&b)? {
                ServerMessage::Response(r) => {
                    self.arrivals.push(Arrival::Response(r.id));
                    self.responses.insert(r.id, r.result);
                }
                ServerMessage::Push(p) => {
                    if let Push::Closing { reason, .. } = &p {
                        self.closed = Some(Some(*reason));
                    }
                    self.arrivals.push(Arrival::Push(p.clone()));
                    self.pushes.push_back(p);
                }
                other => bail!("unexpected {other:?}"),
            },
            Message::Close(_) => {
                self.closed.get_or_insert(None);
                bail!("connection closed");
            }
            _ => {}
        }
        Ok(())
    }

    /// Waits for the response to request `id`.
    pub async fn response(&mut self, id: u64) -> anyhow::Result<Result<Reply, WireError>> {
        loop {
            if let Some(r) = self.responses.remove(&id) {
                return Ok(r);
            }
            self.pump().await?;
        }
    }

    /// Waits for the response to request `id`, expecting success.
    pub async fn response_ok(&mut self, id: u64) -> anyhow::Result<Reply> {
        match self.response(id).await? {
            Ok(r) => Ok(r),
            Err(e) => bail!("request failed: {e:?}"),
        }
    }

    /// Sends a request and waits for its response.
    pub async fn request(&mut self, request: Request) -> anyhow::Result<Result<Reply, WireError>> {
        let id = self.send(request).await?;
        self.response(id).await
    }

    /// A request expected to succeed.
    pub async fn ok(&mut self, request: Request) -> anyhow::Result<Reply> {
        match self.request(request).await? {
            Ok(r) => Ok(r),
            Err(e) => bail!("request failed: {e:?}"),
        }
    }

    /// A request expected to return a `FilterResult`.
    pub async fn result(&mut self, request: Request) -> anyhow::Result<FilterResult> {
        match self.ok(request).await? {
            Reply::Result(r) => Ok(r),
            other => bail!("expected a result, got {other:?}"),
        }
    }

    /// A request expected to fail; returns the error.
    pub async fn err(&mut self, request: Request) -> anyhow::Result<WireError> {
        match self.request(request).await? {
            Ok(r) => bail!("expected an error, got {r:?}"),
            Err(e) => Ok(e),
        }
    }

    /// The next push matching `pred` (earlier non-matching pushes are kept).
    pub async fn push_where(&mut self, pred: impl Fn(&Push) -> bool) -> anyhow::Result<Push> {
        loop {
            if let Some(pos) = self.pushes.iter().position(&pred) {
                return self.pushes.remove(pos).context("present");
            }
            self.pump().await?;
        }
    }

    /// Every push received so far (drains the buffer).
    pub fn take_pushes(&mut self) -> Vec<Push> {
        self.pushes.drain(..).collect()
    }

    /// Reads until the server closes the session; returns the `Closing`
    /// reason (None when the socket ended without one).
    pub async fn closed_reason(&mut self) -> anyhow::Result<Option<CloseReason>> {
        loop {
            if let Some(reason) = self.closed {
                return Ok(reason);
            }
            if let Err(e) = self.pump().await
                && self.closed.is_none()
            {
                return Err(e);
            }
        }
    }

    pub async fn get_properties(
        &mut self,
        id: SessionId,
        keys: &[&str],
    ) -> anyhow::Result<BTreeMap<String, String>> {
        let keys = keys.iter().map(|k| (*k).to_owned()).collect();
        match self.ok(Request::GetSessionProperties { session: id, keys }).await? {
            Reply::Properties(p) => Ok(p),
            other => bail!("expected properties, got {other:?}"),
        }
    }
}

pub fn close(target: impl Into<Target>) -> Request {
    Request::Close { target: target.into(), max_targets: None }
}

pub fn change_roles(target: impl Into<Target>, remove: &[&str], add: &[&str]) -> Request {
    Request::ChangeRoles {
        target: target.into(),
        remove: remove.iter().map(|r| (*r).to_owned()).collect(),
        add: add.iter().map(|r| (*r).to_owned()).collect(),
        max_targets: None,
    }
}

pub fn filter(text: &str) -> Target {
    Target::Filter(text.to_owned())
}

/// Asserts an `ACCESS_DENIED` naming `permission`.
pub fn assert_denied(e: &WireError, permission: &str) {
    assert_eq!(e.kind, ErrorKind::AccessDenied, "{e:?}");
    assert_eq!(e.details, ErrorDetails::Permission(permission.to_owned()), "{e:?}");
}

pub const PW: &str = "pw";

/// A store with the embedded principals plus one principal per single
/// permission (`viewer`: VIEW_SESSION, `modifier`: MODIFY_SESSION,
/// `registrar`: REGISTER_HANDLER, `viewmod`: both VIEW and MODIFY), all with
/// password [`PW`] except the embedded ones.
pub fn matrix_config() -> anyhow::Result<usher_server::Config> {
    let h = |p: &str| usher_server::hash_password(p);
    let text = format!(
        r#"
[anonymous]
roles = ["CLIENT"]

[principals.admin]
password_hash = "{admin}"
roles = ["ADMINISTRATOR"]
[principals.control]
password_hash = "{control}"
roles = ["CLIENT_CONTROL", "TOPIC_CONTROL"]
[principals.client]
password_hash = "{client}"
roles = ["CLIENT"]
[principals.viewer]
password_hash = "{pw}"
roles = ["VIEW_ONLY"]
[principals.modifier]
password_hash = "{pw}"
roles = ["MODIFY_ONLY"]
[principals.registrar]
password_hash = "{pw}"
roles = ["REG_ONLY"]
[principals.viewmod]
password_hash = "{pw}"
roles = ["VIEW_ONLY", "MODIFY_ONLY"]

[roles.VIEW_ONLY]
global = ["VIEW_SESSION"]
[roles.MODIFY_ONLY]
global = ["MODIFY_SESSION"]
[roles.REG_ONLY]
global = ["REGISTER_HANDLER"]
"#,
        admin = h(ADMIN_PW)?,
        control = h(CONTROL_PW)?,
        client = h(CLIENT_PW)?,
        pw = h(PW)?,
    );
    let mut config = config();
    config.store = Some(usher_core::security::SecurityStore::from_toml(&text)?);
    Ok(config)
}

pub async fn as_principal(url: &str, name: &str) -> anyhow::Result<Client> {
    connect(url, Some((name, PW)), &[]).await
}
