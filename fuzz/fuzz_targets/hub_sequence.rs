//! The hub fed arbitrary sequences of messages from every kind of user, raw frames,
//! disconnects and time passing: it never panics and its invariants hold after every step.

#![no_main]

#[path = "../../signaling/tests/sim/mod.rs"]
mod sim;

#[path = "../../signaling/tests/drive/mod.rs"]
mod drive;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    drive::run(data);
});
