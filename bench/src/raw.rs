//! A raw, lean WebSocket client over tokio-tungstenite: TCP connect from a
//! chosen 127.0.0.x source address, the upgrade, hello and welcome, with
//! `usher_core::protocol::{encode, decode}` and nothing else. The queue
//! scenario and the soak use it; the load generator's workers, which hold
//! thousands of sessions, speak WebSocket by hand instead ([`crate::frame`],
//! [`crate::hold`]) and share only [`tcp_connect`] and [`hello`].

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::os::fd::AsRawFd;

use anyhow::{Context, bail};
use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use usher_core::protocol::{
    ClientMessage, ClientType, Hello, PROTOCOL_VERSION, ServerMessage, Welcome, decode, encode,
};

/// One raw session's socket.
pub type Ws = WebSocketStream<TcpStream>;

/// `ws://IP:PORT` → the socket address.
pub fn parse_url(url: &str) -> anyhow::Result<SocketAddr> {
    let rest = url.strip_prefix("ws://").with_context(|| format!("not a ws:// url: {url}"))?;
    rest.trim_end_matches('/').parse().with_context(|| format!("not IP:PORT: {rest}"))
}

/// Small buffers: the default 128 KiB read buffer per connection would make
/// the load generator, not the server, the memory hog.
fn ws_config() -> WebSocketConfig {
    WebSocketConfig::default().read_buffer_size(4096).write_buffer_size(0)
}

/// A hello for an anonymous session (or `principal`/`password`) proposing
/// `properties`.
pub fn hello(credentials: Option<(&str, &str)>, properties: BTreeMap<String, String>) -> Vec<u8> {
    encode(&ClientMessage::Hello(Hello {
        version: PROTOCOL_VERSION,
        client_type: ClientType::Other,
        environment: "BENCH".to_owned(),
        principal: credentials.map(|(p, _)| p.to_owned()),
        password: credentials.map(|(_, pw)| pw.to_owned()),
        properties,
    }))
}

/// Connects from `source` (port chosen at connect time, so ports in
/// TIME_WAIT towards earlier servers do not block it), upgrades, sends the
/// encoded `hello` and waits for the welcome. `recv_buffer` sets SO_RCVBUF
/// before connecting (a small one makes a stalled consumer stall early).
pub async fn connect(
    server: SocketAddr,
    source: Option<Ipv4Addr>,
    recv_buffer: Option<u32>,
    hello: Vec<u8>,
) -> anyhow::Result<(Ws, Welcome)> {
    let tcp = tcp_connect(server, source, recv_buffer).await?;
    let url = format!("ws://{server}/");
    let (mut ws, _) = tokio_tungstenite::client_async_with_config(url, tcp, Some(ws_config()))
        .await
        .context("WebSocket upgrade")?;
    ws.send(Message::Binary(Bytes::from(hello))).await.context("sending the hello")?;
    loop {
        match ws.next().await {
            Some(Ok(Message::Binary(b))) => match decode::<ServerMessage>(&b) {
                Ok(ServerMessage::Welcome(w)) => return Ok((ws, w)),
                Ok(ServerMessage::Reject(r)) => bail!("rejected: {} ({})", r.error.message, r.reason),
                Ok(_) => bail!("a message before the welcome"),
                Err(e) => bail!("undecodable welcome: {e}"),
            },
            Some(Ok(_)) => continue,
            Some(Err(e)) => bail!("before the welcome: {e}"),
            None => bail!("closed before the welcome"),
        }
    }
}

/// A TCP connection to `server` from `source` (port chosen at connect
/// time), with TCP_NODELAY, and SO_RCVBUF set to `recv_buffer` if given.
pub async fn tcp_connect(
    server: SocketAddr,
    source: Option<Ipv4Addr>,
    recv_buffer: Option<u32>,
) -> anyhow::Result<TcpStream> {
    let socket = TcpSocket::new_v4()?;
    if let Some(bytes) = recv_buffer {
        socket.set_recv_buffer_size(bytes)?;
    }
    if let Some(ip) = source {
        set_bind_no_port(&socket)?;
        socket.bind(SocketAddr::new(ip.into(), 0))?;
    }
    let tcp = socket.connect(server).await.context("TCP connect")?;
    tcp.set_nodelay(true)?;
    Ok(tcp)
}

/// IP_BIND_ADDRESS_NO_PORT: `bind` to an address only, the port is picked
/// by `connect` per destination (so 28k ports per source address and
/// server port, and none blocked by TIME_WAIT towards an earlier server).
fn set_bind_no_port(socket: &TcpSocket) -> anyhow::Result<()> {
    let one: libc::c_int = 1;
    // SAFETY: a valid socket fd, a pointer to a live c_int and its size.
    let rc = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::IPPROTO_IP,
            libc::IP_BIND_ADDRESS_NO_PORT,
            (&one as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc != 0 {
        return Err(std::io::Error::last_os_error()).context("IP_BIND_ADDRESS_NO_PORT");
    }
    Ok(())
}
