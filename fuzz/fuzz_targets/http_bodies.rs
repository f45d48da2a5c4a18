//! Any bytes as the JSON body of an HTTP call: decoding each body type the API takes never
//! panics, and what decodes encodes back and decodes to the same value.

#![no_main]

use konsult_protocol::http::{HelpLink, LoginRequest, NewUserBody, SubjectBody};
use konsult_protocol::model::HoursSlot;
use libfuzzer_sys::fuzz_target;
use serde::Serialize;
use serde::de::DeserializeOwned;

/// Decodes `data` as `T` as the server's `Json` extractor does; a value that decodes must
/// survive a round trip.
fn round_trip<T>(data: &[u8])
where
    T: DeserializeOwned + Serialize + PartialEq + std::fmt::Debug,
{
    if let Ok(value) = serde_json::from_slice::<T>(data) {
        let again = serde_json::to_vec(&value).expect("a decoded body encodes");
        let back: T = serde_json::from_slice(&again).expect("a re-encoded body decodes");
        assert_eq!(back, value);
    }
}

fuzz_target!(|data: &[u8]| {
    round_trip::<LoginRequest>(data);
    round_trip::<NewUserBody>(data);
    round_trip::<SubjectBody>(data);
    round_trip::<Vec<HelpLink>>(data);
    round_trip::<Vec<HoursSlot>>(data);
});
