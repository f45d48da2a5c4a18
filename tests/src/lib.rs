//! Konsult's black-box tests: the suites in `tests/` start the real `konsult` binary and drive
//! it as clients do, with the harness of `konsult-testkit`; this library adds the WebRTC
//! client peer (on the `webrtc` crate) the media suites use.

pub mod rtc;
