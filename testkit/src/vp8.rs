//! The VP8 framing of the synthetic video: the RTP payload descriptor in front of each packet
//! (RFC 7741 section 4.2), and the frame tag and keyframe header at the start of each frame
//! (RFC 6386 section 9.1), written by publishers and read by subscribers.

/// Bytes of a keyframe's header: the 3-byte frame tag, the start code and the size.
pub const KEYFRAME_HEADER: usize = 10;

/// Bytes of a delta frame's header: the frame tag alone.
pub const DELTA_HEADER: usize = 3;

/// The largest first partition size the frame tag's 19 bits hold.
const MAX_FIRST_PARTITION: u32 = 0x7_ffff;

/// A keyframe's start code.
const START_CODE: [u8; 3] = [0x9d, 0x01, 0x2a];

/// Bytes of the header a frame starts with.
pub fn header_len(key: bool) -> usize {
    if key { KEYFRAME_HEADER } else { DELTA_HEADER }
}

/// Appends a frame header: the frame tag (shown, version 0, `size` as the first partition's
/// size) and, for a keyframe, the start code and `width` x `height` with no scaling.
pub fn write_header(frame: &mut Vec<u8>, key: bool, size: usize, width: u16, height: u16) {
    let first_partition =
        u32::try_from(size).map_or(MAX_FIRST_PARTITION, |s| s.min(MAX_FIRST_PARTITION));
    // Bit 0 is set on an inter (delta) frame, bit 4 is show_frame.
    let inter = u32::from(!key);
    let tag = inter | (1 << 4) | (first_partition << 5);
    frame.extend_from_slice(&tag.to_le_bytes()[..3]);
    if key {
        frame.extend_from_slice(&START_CODE);
        frame.extend_from_slice(&width.to_le_bytes());
        frame.extend_from_slice(&height.to_le_bytes());
    }
}

/// Whether a frame (its first byte, the frame tag's) is a keyframe; `None` when empty.
pub fn is_keyframe(frame: &[u8]) -> Option<bool> {
    Some(*frame.first()? & 1 == 0)
}

/// Whether an RTP payload starts a frame: the descriptor's S bit with partition index 0.
pub fn starts_frame(payload: &[u8]) -> bool {
    payload
        .first()
        .is_some_and(|first| first & 0x10 != 0 && first & 0x07 == 0)
}

/// The VP8 data of an RTP payload, after its payload descriptor; `None` when truncated.
pub fn frame_data(payload: &[u8]) -> Option<&[u8]> {
    let first = *payload.first()?;
    let mut at = 1;
    if first & 0x80 != 0 {
        let ext = *payload.get(at)?;
        at += 1;
        if ext & 0x80 != 0 {
            // The picture id: 7 bits, or 15 with the M bit.
            let pid = *payload.get(at)?;
            at += if pid & 0x80 != 0 { 2 } else { 1 };
        }
        if ext & 0x40 != 0 {
            at += 1;
        }
        if ext & 0x30 != 0 {
            at += 1;
        }
    }
    payload.get(at..)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_read_back() {
        let mut key = Vec::new();
        write_header(&mut key, true, 600, 640, 480);
        assert_eq!(
            key,
            [0x10, 0x4b, 0x00, 0x9d, 0x01, 0x2a, 0x80, 0x02, 0xe0, 0x01]
        );
        assert_eq!(key.len(), header_len(true));
        assert_eq!(is_keyframe(&key), Some(true));
        let mut delta = Vec::new();
        write_header(&mut delta, false, 600, 640, 360);
        assert_eq!(delta.len(), header_len(false));
        assert_eq!(is_keyframe(&delta), Some(false));
        assert_eq!(is_keyframe(&[]), None);
    }

    #[test]
    fn descriptors_are_skipped() {
        // X, S, PID 0; then I with a 15-bit picture id.
        let packet = [0x90, 0x80, 0x81, 0x23, 0xaa];
        assert!(starts_frame(&packet));
        assert_eq!(frame_data(&packet), Some(&[0xaa][..]));
        // A later packet of a frame: no S bit, no extensions.
        assert!(!starts_frame(&[0x00, 1]));
        assert_eq!(frame_data(&[0x00, 1]), Some(&[1][..]));
        // Truncated in the extension.
        assert_eq!(frame_data(&[0x90, 0x80]), None);
    }
}
