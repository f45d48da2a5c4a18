//! The hub fed arbitrary sequences of messages from every kind of user, raw frames,
//! disconnects and time passing: it never panics and its invariants hold after every step.

#![no_main]

use konsult_signaling::testing::drive;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    drive::run(data);
});
