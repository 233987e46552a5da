//! The WebSocket frame header (RFC 6455 §5.2), for the few places that
//! write frames without tungstenite: the server's parking component (its
//! closing frames) and the load generator's hand-written client.

/// Appends a frame header: `first` (FIN, RSV and opcode bits, e.g. `0x82`
/// for a final binary frame), the payload length `len` in its shortest
/// form, and, for a client's frame, the mask bit and `mask` key. The
/// payload (masked by the caller, for a client) follows.
pub fn push_frame_header(out: &mut Vec<u8>, first: u8, len: usize, mask: Option<[u8; 4]>) {
    let mask_bit = if mask.is_some() { 0x80 } else { 0 };
    out.push(first);
    match len {
        0..=125 => out.push(mask_bit | len as u8),
        126..=65535 => {
            out.push(mask_bit | 126);
            out.extend_from_slice(&(len as u16).to_be_bytes());
        }
        _ => {
            out.push(mask_bit | 127);
            out.extend_from_slice(&(len as u64).to_be_bytes());
        }
    }
    if let Some(key) = mask {
        out.extend_from_slice(&key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths_take_their_shortest_form() {
        let header = |len, mask| {
            let mut out = Vec::new();
            push_frame_header(&mut out, 0x82, len, mask);
            out
        };
        assert_eq!(header(0, None), [0x82, 0]);
        assert_eq!(header(125, None), [0x82, 125]);
        assert_eq!(header(126, None), [0x82, 126, 0, 126]);
        assert_eq!(header(65535, None), [0x82, 126, 0xff, 0xff]);
        assert_eq!(header(65536, None), [0x82, 127, 0, 0, 0, 0, 0, 1, 0, 0]);
        assert_eq!(header(5, Some([1, 2, 3, 4])), [0x82, 0x85, 1, 2, 3, 4]);
        assert_eq!(header(300, Some([9; 4])), [0x82, 0x80 | 126, 0x01, 0x2c, 9, 9, 9, 9]);
    }
}
