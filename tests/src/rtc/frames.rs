//! The synthetic codec of the test peers: numbered frames with a checksum and a pattern, so
//! that every received payload is checked, VP8-framed on video.

use konsult_testkit::vp8;

/// Largest synthetic frame: one RTP packet each, so a packet's payload is a whole frame.
const MAX_FRAME: usize = 900;

/// The picture size a keyframe header announces.
const WIDTH: u16 = 640;
const HEIGHT: u16 = 480;

/// A frame of the synthetic codec: `[header][number: u32][pattern...][fnv32 of all before]`.
/// The header is a VP8 one on video (`video_key` says whether a keyframe's, 640x480), none on
/// audio.
pub fn make_frame(number: u32, size: usize, video_key: Option<bool>) -> Vec<u8> {
    let size = size.clamp(24, MAX_FRAME);
    let mut frame = Vec::with_capacity(size);
    if let Some(key) = video_key {
        vp8::write_header(&mut frame, key, size, WIDTH, HEIGHT);
    }
    frame.extend_from_slice(&number.to_be_bytes());
    let mut i = 0u32;
    while frame.len() < size - 4 {
        frame.push((number.wrapping_mul(31).wrapping_add(i) % 251) as u8);
        i += 1;
    }
    let sum = fnv32(&frame);
    frame.extend_from_slice(&sum.to_be_bytes());
    frame
}

fn fnv32(bytes: &[u8]) -> u32 {
    bytes.iter().fold(0x811c_9dc5u32, |h, b| {
        (h ^ u32::from(*b)).wrapping_mul(0x0100_0193)
    })
}

/// Checks a frame; returns its number and whether it is a VP8 keyframe.
pub fn check_frame(frame: &[u8], video: bool) -> Option<(u32, bool)> {
    if frame.len() < 8 {
        return None;
    }
    let (body, sum) = frame.split_at(frame.len() - 4);
    if fnv32(body).to_be_bytes() != sum {
        return None;
    }
    let (key, header) = match video {
        true => {
            let key = vp8::is_keyframe(body)?;
            (key, vp8::header_len(key))
        }
        false => (false, 0),
    };
    let number = u32::from_be_bytes(body.get(header..header + 4)?.try_into().ok()?);
    let pattern = (0u32..).map(|i| (number.wrapping_mul(31).wrapping_add(i) % 251) as u8);
    if !body[header + 4..]
        .iter()
        .copied()
        .eq(pattern.take(body.len() - header - 4))
    {
        return None;
    }
    Some((number, key))
}
