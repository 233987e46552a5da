//! The little of WebSocket (RFC 6455) the load generator's workers speak
//! by hand: the client's upgrade request, its masked frames, and reading
//! the server's unmasked ones. The workers hold thousands of sessions, so
//! they keep a socket and nothing else per session ([`crate::hold`]) rather
//! than a tungstenite stream and a task each.

use std::net::{Ipv4Addr, SocketAddr};
use std::ops::Range;

use anyhow::{Context, bail};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use usher_core::protocol::{ServerMessage, Welcome, decode, push_frame_header};

/// Binary data frame.
pub const BINARY: u8 = 0x2;
/// Close frame.
pub const CLOSE: u8 = 0x8;
/// Ping frame.
pub const PING: u8 = 0x9;
/// Pong frame.
pub const PONG: u8 = 0xA;

/// The masking key of every frame this client sends (RFC 6455 §5.3: any
/// value; the server unmasks whatever it is).
const MASK: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

/// Most bytes of one server frame's payload this client accepts: the
/// workers see welcomes, pings, `Closing` pushes and Close frames, all small.
pub const MAX_PAYLOAD: u64 = 1 << 20;

/// One complete frame at the start of a buffer.
#[derive(Debug, PartialEq, Eq)]
pub struct Frame {
    /// The opcode (low 4 bits of the first byte).
    pub opcode: u8,
    /// Where its payload is in the buffer.
    pub payload: Range<usize>,
}

impl Frame {
    /// Bytes the whole frame takes.
    pub fn end(&self) -> usize {
        self.payload.end
    }
}

/// The server frame at the start of `buf`: `Ok(None)` until it is all there;
/// an error for a masked frame (a server never masks) or a payload over
/// [`MAX_PAYLOAD`].
pub fn parse(buf: &[u8]) -> anyhow::Result<Option<Frame>> {
    let [b0, b1, ..] = *buf else { return Ok(None) };
    if b1 & 0x80 != 0 {
        bail!("a masked frame from the server");
    }
    let (len, header) = match b1 & 0x7f {
        126 if buf.len() >= 4 => (u64::from(u16::from_be_bytes([buf[2], buf[3]])), 4),
        127 if buf.len() >= 10 => (u64::from_be_bytes(buf[2..10].try_into().expect("8 bytes")), 10),
        126 | 127 => return Ok(None),
        n => (u64::from(n), 2),
    };
    if len > MAX_PAYLOAD {
        bail!("a server frame of {len} bytes");
    }
    let end = header + len as usize;
    Ok((buf.len() >= end).then_some(Frame { opcode: b0 & 0x0f, payload: header..end }))
}

/// A final, masked client frame carrying `payload`.
pub fn client_frame(opcode: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload.len() + 14);
    push_frame_header(&mut out, 0x80 | opcode, payload.len(), Some(MASK));
    out.extend(payload.iter().enumerate().map(|(i, b)| b ^ MASK[i % 4]));
    out
}

/// Connects from `source` to `server`, upgrades, sends the encoded `hello`
/// and reads the welcome. Returns the socket (non-blocking, out of tokio's
/// reactor) and any bytes read after the welcome.
pub async fn connect(
    server: SocketAddr,
    source: Ipv4Addr,
    hello: &[u8],
) -> anyhow::Result<(std::net::TcpStream, Welcome, Vec<u8>)> {
    let mut tcp = crate::raw::tcp_connect(server, Some(source), None).await?;
    let request = format!(
        "GET / HTTP/1.1\r\nHost: {server}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    );
    tcp.write_all(request.as_bytes()).await.context("sending the upgrade")?;
    let mut buf = Vec::with_capacity(1024);
    let head = loop {
        if let Some(at) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
        if buf.len() > 8192 || tcp.read_buf(&mut buf).await.context("reading the upgrade")? == 0 {
            bail!("no upgrade response");
        }
    };
    if !buf.starts_with(b"HTTP/1.1 101") {
        bail!("upgrade refused: {}", String::from_utf8_lossy(&buf[..head]).lines().next().unwrap_or(""));
    }
    buf.drain(..head);
    tcp.write_all(&client_frame(BINARY, hello)).await.context("sending the hello")?;
    loop {
        if let Some(f) = parse(&buf)? {
            let welcome = match (f.opcode, decode::<ServerMessage>(&buf[f.payload.clone()])) {
                (BINARY, Ok(ServerMessage::Welcome(w))) => w,
                (BINARY, Ok(ServerMessage::Reject(r))) => {
                    bail!("rejected: {} ({})", r.error.message, r.reason)
                }
                (CLOSE, _) => bail!("closed before the welcome"),
                (BINARY, Ok(_)) => bail!("a message before the welcome"),
                (BINARY, Err(e)) => bail!("undecodable welcome: {e}"),
                _ => {
                    buf.drain(..f.end());
                    continue;
                }
            };
            buf.drain(..f.end());
            return Ok((tcp.into_std().context("leaving the reactor")?, welcome, buf));
        }
        if tcp.read_buf(&mut buf).await.context("before the welcome")? == 0 {
            bail!("closed before the welcome");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_short_medium_and_partial_frames() {
        assert_eq!(parse(&[0x82]).expect("a frame or none"), None);
        assert_eq!(parse(&[0x82, 3, 1, 2]).expect("a frame or none"), None);
        assert_eq!(
            parse(&[0x82, 3, 1, 2, 3, 9]).expect("a frame or none"),
            Some(Frame { opcode: BINARY, payload: 2..5 })
        );
        assert_eq!(parse(&[0x89, 0]).expect("a frame or none"), Some(Frame { opcode: PING, payload: 2..2 }));
        let mut medium = vec![0x82, 126, 0x01, 0x00];
        assert_eq!(parse(&medium).expect("a frame or none"), None);
        medium.resize(4 + 256, 7);
        assert_eq!(parse(&medium).expect("a frame or none"), Some(Frame { opcode: BINARY, payload: 4..260 }));
        assert!(parse(&[0x82, 0x81, 0, 0, 0, 0, 1]).is_err(), "masked");
        let huge = [0x82, 127, 0, 0, 0, 0, 0x10, 0, 0, 0];
        assert!(parse(&huge).is_err(), "over the bound");
    }

    #[test]
    fn client_frames_are_masked_and_sized() {
        let f = client_frame(PONG, &[]);
        assert_eq!(f, [0x8A, 0x80, MASK[0], MASK[1], MASK[2], MASK[3]]);
        let f = client_frame(BINARY, &[1, 2, 3, 4, 5]);
        assert_eq!(&f[..2], &[0x82, 0x85]);
        let unmasked: Vec<u8> = f[6..].iter().enumerate().map(|(i, b)| b ^ MASK[i % 4]).collect();
        assert_eq!(unmasked, [1, 2, 3, 4, 5]);
        let f = client_frame(BINARY, &[0; 300]);
        assert_eq!(&f[..4], &[0x82, 0x80 | 126, 0x01, 0x2c]);
        assert_eq!(f.len(), 4 + 4 + 300);
    }
}
