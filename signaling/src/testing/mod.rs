//! What tests and the fuzz target drive the hub with, compiled with the `testing` feature
//! only: a simulated school around one hub ([`sim`]), and a driver that turns arbitrary bytes
//! into sequences of inputs and checks the hub's invariants after each ([`drive`]).

pub mod drive;
pub mod sim;
