//! Where a plain connection's incoming bytes stand relative to WebSocket
//! frames: the one fact parking needs that tungstenite does not expose.
//!
//! A session may be parked ([`crate::park`]) only when tungstenite holds no
//! bytes it has read but not yet turned into a message (half a frame, or the
//! first fragments of a fragmented message): parking drops tungstenite's
//! state and a fresh one starts at the next byte. Tungstenite keeps its read
//! buffer private, so the plain stream watches the bytes it hands over
//! instead: it skips the HTTP upgrade request (up to its blank line), then
//! follows frame headers and skips payloads. When the read side of the
//! connection is idle (tungstenite asked for more and got `Pending`), every
//! complete frame has been taken out of the buffer, so "the bytes read end on
//! a frame boundary outside a fragmented message" means the buffer is empty.
//!
//! Cost: a few instructions per frame header byte; payload bytes are skipped
//! in one step. Anything it does not understand (a reserved opcode) makes it
//! give up for the rest of the connection's life in this task: such a
//! connection is simply never parked ([`Boundary::at_rest`] stays false).

/// The tracker of one plain connection's read side.
#[derive(Debug, Clone)]
pub(crate) struct Boundary {
    phase: Phase,
    /// The current frame header's bytes so far (at most 2 + 8 + 4).
    head: [u8; 14],
    head_len: u8,
    /// A data frame without FIN was seen and its final fragment was not.
    fragmented: bool,
    /// Payload bytes of the current frame still to come.
    remaining: u64,
    /// A Close frame's header was seen.
    close_seen: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// In the HTTP upgrade request; how much of `\r\n\r\n` matched.
    Http(u8),
    /// In frames.
    Frames,
    /// Lost track (a reserved opcode): never at rest again.
    Lost,
}

impl Boundary {
    /// A connection fresh from `accept`: the HTTP upgrade request comes first.
    pub(crate) fn http() -> Self {
        Self::with(Phase::Http(0))
    }

    /// A connection resumed from parking: the next byte starts a frame.
    pub(crate) fn frames() -> Self {
        Self::with(Phase::Frames)
    }

    fn with(phase: Phase) -> Self {
        Self { phase, head: [0; 14], head_len: 0, fragmented: false, remaining: 0, close_seen: false }
    }

    /// True when the bytes seen end exactly on a frame boundary, outside a
    /// fragmented message.
    pub(crate) fn at_rest(&self) -> bool {
        self.phase == Phase::Frames && self.head_len == 0 && self.remaining == 0 && !self.fragmented
    }

    /// True once a Close frame's header was read (the peer's last frame).
    pub(crate) fn close_seen(&self) -> bool {
        self.close_seen
    }

    /// Follows the bytes just read from the socket.
    pub(crate) fn feed(&mut self, mut bytes: &[u8]) {
        while let Some((&b, rest)) = bytes.split_first() {
            match self.phase {
                Phase::Lost => return,
                Phase::Http(matched) => {
                    bytes = rest;
                    self.phase = match (matched, b) {
                        (3, b'\n') => Phase::Frames,
                        (0 | 2, b'\r') | (1, b'\n') => Phase::Http(matched + 1),
                        (_, b'\r') => Phase::Http(1),
                        _ => Phase::Http(0),
                    };
                }
                Phase::Frames if self.remaining > 0 => {
                    let skip = self.remaining.min(bytes.len() as u64);
                    self.remaining -= skip;
                    bytes = &bytes[skip as usize..];
                }
                Phase::Frames => {
                    bytes = rest;
                    self.head[usize::from(self.head_len)] = b;
                    self.head_len += 1;
                    self.header_byte();
                }
            }
        }
    }

    /// Called after each header byte: completes the header once it is whole.
    fn header_byte(&mut self) {
        let len = usize::from(self.head_len);
        if len < 2 {
            return;
        }
        let ext = match self.head[1] & 0x7f {
            126 => 2,
            127 => 8,
            _ => 0,
        };
        let mask = if self.head[1] & 0x80 != 0 { 4 } else { 0 };
        if len < 2 + ext + mask {
            return;
        }
        self.remaining = match ext {
            0 => u64::from(self.head[1] & 0x7f),
            2 => u64::from(u16::from_be_bytes([self.head[2], self.head[3]])),
            _ => {
                let mut be = [0u8; 8];
                be.copy_from_slice(&self.head[2..10]);
                u64::from_be_bytes(be)
            }
        };
        self.head_len = 0;
        let fin = self.head[0] & 0x80 != 0;
        match self.head[0] & 0x0f {
            // Continuation, text, binary: a data frame without FIN leaves a
            // message incomplete (control frames may come in between).
            0..=2 => self.fragmented = !fin,
            8 => self.close_seen = true,
            9 | 10 => {}
            _ => self.phase = Phase::Lost,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A masked client frame with this first byte and payload length.
    fn frame(first: u8, len: usize) -> Vec<u8> {
        let mut f = Vec::new();
        usher_core::protocol::push_frame_header(&mut f, first, len, Some([1, 2, 3, 4]));
        f.extend(std::iter::repeat_n(7u8, len));
        f
    }

    #[test]
    fn follows_the_upgrade_then_frames_in_any_split() {
        let mut bytes = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n".to_vec();
        bytes.extend(frame(0x82, 5));
        bytes.extend(frame(0x82, 300));
        bytes.extend(frame(0x89, 0));
        bytes.extend(frame(0x82, 70_000));
        for chunk in [1, 2, 3, 7, 256, bytes.len()] {
            let mut b = Boundary::http();
            let mut rests = 0;
            for part in bytes.chunks(chunk) {
                b.feed(part);
                rests += usize::from(b.at_rest());
            }
            assert!(b.at_rest(), "chunk {chunk}");
            assert!(rests >= 1);
        }
    }

    #[test]
    fn a_partial_frame_or_header_is_not_at_rest() {
        let f = frame(0x82, 300);
        for cut in 1..f.len() {
            let mut b = Boundary::frames();
            b.feed(&f[..cut]);
            assert!(!b.at_rest(), "cut {cut}");
            b.feed(&f[cut..]);
            assert!(b.at_rest(), "cut {cut}");
        }
    }

    #[test]
    fn a_fragmented_message_is_not_at_rest_until_its_final_fragment() {
        let mut b = Boundary::frames();
        b.feed(&frame(0x02, 10)); // binary, no FIN
        assert!(!b.at_rest());
        b.feed(&frame(0x89, 1)); // a ping in between
        assert!(!b.at_rest());
        b.feed(&frame(0x80, 10)); // continuation with FIN
        assert!(b.at_rest());
    }

    #[test]
    fn a_close_frame_is_seen_after_data_and_pings() {
        let mut b = Boundary::frames();
        b.feed(&frame(0x82, 300));
        b.feed(&frame(0x89, 0));
        assert!(!b.close_seen());
        let close = frame(0x88, 2);
        b.feed(&close[..1]);
        assert!(!b.close_seen(), "half a header");
        b.feed(&close[1..]);
        assert!(b.close_seen());
    }

    #[test]
    fn the_http_request_is_not_at_rest_and_a_reserved_opcode_gives_up() {
        let mut b = Boundary::http();
        b.feed(b"GET / HTTP/1.1\r\n\r");
        assert!(!b.at_rest());
        b.feed(b"\r\n\r\n");
        assert!(b.at_rest());
        b.feed(&frame(0x83, 0));
        assert!(!b.at_rest());
        b.feed(&frame(0x82, 0));
        assert!(!b.at_rest());
    }
}
