//! `usher-conformance fake-server`: a peer that breaks the protocol on
//! purpose, standing in for a broken server (tests/conformance/README.md,
//! "Peers"). Nothing a user runs is replaced by it: it is the only way to
//! have a server that answers a hello with garbage or a request with a
//! server bug (`INTERNAL`), which the real server never does.
//!
//! It listens on 127.0.0.1 port 0, prints the peer line (its URL as `fake`),
//! and serves every connection by the mode its URL path names, with real
//! WebSocket frames of the real protocol types (`usher_core::protocol`):
//!
//! | path | after the client's hello |
//! |---|---|
//! | `/garbage-welcome` | a frame that is no message at all |
//! | `/unexpected-welcome` | a well-formed message that is not a welcome (a response) |
//! | `/garbage-after-welcome` | a valid welcome; the first request is answered with garbage |
//! | `/internal` | a valid welcome; every request is answered with a wire error of kind `INTERNAL` |
//!
//! It exits when stdin closes (it takes no commands).

use futures_util::{SinkExt, StreamExt};
use serde_json::json;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::handshake::server::{Request, Response};
use usher_core::ErrorKind;
use usher_core::SessionId;
use usher_core::error::ErrorDetails;
use usher_core::protocol::{
    self, ClientMessage, QueuePolicy, Reply, ServerMessage, SessionLimits, Welcome, WireError,
};

use crate::peers::PeerLine;

/// 0xc1 is the one byte MessagePack never uses: no decoder reads a message here.
const GARBAGE: &[u8] = b"\xc1 not a message";

type Ws = WebSocketStream<TcpStream>;

async fn send(ws: &mut Ws, message: &ServerMessage) -> anyhow::Result<()> {
    ws.send(Message::Binary(protocol::encode(message).into())).await?;
    Ok(())
}

/// The next protocol message from the client; `None` once it has gone.
async fn receive(ws: &mut Ws) -> Option<ClientMessage> {
    while let Some(Ok(frame)) = ws.next().await {
        match frame {
            Message::Binary(bytes) => return protocol::decode(&bytes).ok(),
            Message::Close(_) => return None,
            _ => {}
        }
    }
    None
}

fn welcome() -> ServerMessage {
    let now = std::time::UNIX_EPOCH.elapsed().unwrap_or_default();
    ServerMessage::Welcome(Welcome {
        session_id: SessionId::new(u64::from(std::process::id()), u64::from(now.subsec_nanos())),
        server_name: "fake".into(),
        roles: vec!["CLIENT".into()],
        queue_policy: QueuePolicy::default(),
        limits: SessionLimits::default(),
        start_time: now.as_millis() as u64,
    })
}

fn internal(id: u64) -> ServerMessage {
    ServerMessage::Response(protocol::Response {
        id,
        result: Err(WireError {
            kind: ErrorKind::Internal,
            message: "the fake server's stand-in for a server bug".into(),
            details: ErrorDetails::None,
        }),
    })
}

/// One connection, served by the mode its path names.
// The handshake callback's `Result` (with an HTTP response as its error) is
// tungstenite's type, not ours to shrink.
#[allow(clippy::result_large_err)]
async fn serve(tcp: TcpStream) -> anyhow::Result<()> {
    let mut path = String::new();
    let mut ws = tokio_tungstenite::accept_hdr_async(tcp, |request: &Request, response: Response| {
        path = request.uri().path().to_owned();
        Ok(response)
    })
    .await?;
    let Some(ClientMessage::Hello(_)) = receive(&mut ws).await else { return Ok(()) };
    match path.as_str() {
        "/garbage-welcome" => ws.send(Message::Binary(GARBAGE.into())).await?,
        "/unexpected-welcome" => {
            send(&mut ws, &ServerMessage::Response(protocol::Response { id: 0, result: Ok(Reply::Done) }))
                .await?
        }
        "/garbage-after-welcome" => {
            send(&mut ws, &welcome()).await?;
            if let Some(ClientMessage::Request { .. }) = receive(&mut ws).await {
                ws.send(Message::Binary(GARBAGE.into())).await?;
            }
        }
        "/internal" => {
            send(&mut ws, &welcome()).await?;
            while let Some(message) = receive(&mut ws).await {
                match message {
                    ClientMessage::Request { id, .. } => send(&mut ws, &internal(id)).await?,
                    ClientMessage::Bye | ClientMessage::Hello(_) => break,
                }
            }
            let _ = ws.close(None).await;
            return Ok(());
        }
        _ => {
            let _ = ws.close(None).await;
            return Ok(());
        }
    }
    // Whatever the client does next (it should hang up), until it goes.
    while receive(&mut ws).await.is_some() {}
    Ok(())
}

/// The subcommand; returns when stdin closes.
pub async fn main() -> anyhow::Result<()> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("ws://{}", listener.local_addr()?);
    let line =
        PeerLine { url: url.clone(), urls: [("fake".to_owned(), url)].into(), passwords: Default::default() };
    println!("{}", json!(line.to_json()));
    let accept = async {
        while let Ok((tcp, _)) = listener.accept().await {
            tokio::spawn(async move {
                if let Err(e) = serve(tcp).await {
                    eprintln!("fake-server: {e:#}");
                }
            });
        }
    };
    let mut stdin = BufReader::new(tokio::io::stdin()).lines();
    let commands = async {
        while let Ok(Some(command)) = stdin.next_line().await {
            println!("error unknown command {command:?} (the fake server takes none)");
        }
    };
    tokio::select! {
        _ = accept => {}
        _ = commands => {}
    }
    Ok(())
}
