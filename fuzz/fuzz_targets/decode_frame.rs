//! Any bytes a client can send as a text frame: decoding never panics, and what decodes
//! encodes back to the same message.

#![no_main]

use konsult_protocol::decode_client_frame;
use konsult_protocol::frame::encode_client_frame;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(envelope) = decode_client_frame(text) {
        let again = encode_client_frame(&envelope.msg, envelope.rid.as_ref());
        let back = decode_client_frame(&again).expect("a re-encoded frame decodes");
        assert_eq!(back.msg, envelope.msg);
    }
});
