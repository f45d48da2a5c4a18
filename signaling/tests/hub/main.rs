//! The hub's behaviour, scenario by scenario, without sockets: help requests and queues
//! (`requests`), live sessions (`sessions`), students' cameras in a frontal session
//! (`cameras`), consultation hours (`hours`), booked slots (`bookings`), co-hosts and polls
//! (`polls`).

mod bookings;
mod cameras;
mod hours;
mod polls;
mod requests;
mod sessions;

use konsult_signaling::testing::sim;

use konsult_protocol::model::{
    DeferReason, EndReason, Form, MediaPath, MediaState, Mode, SetStatus, Status, TrackKind,
};
use konsult_protocol::{
    ErrorCode, RequestId, ServerMessage, SignalData, SignalPeer, ToHub, UserId,
};
use konsult_signaling::{Audience, HubConfig, MediaCommand, Outcome, RecordKey};
use sim::{Sim, error_code, student, support, teacher};
use std::time::Duration;

pub(crate) fn help(subject: &str, topic: &str) -> ToHub {
    ToHub::RequestHelp {
        subject: subject.into(),
        form: Form::Individual,
        mode: Mode::Online,
        topic: topic.into(),
        teacher: None,
        anonymous: false,
    }
}

pub(crate) fn available() -> ToHub {
    ToHub::SetStatus {
        status: SetStatus::Available,
    }
}

/// Teachers 1 (math, physics) and 2 (math), both available; students 11.. in 9A.
pub(crate) fn school() -> Sim {
    let mut sim = Sim::new(HubConfig::default());
    sim.connect(teacher(1, &["math", "physics"]));
    sim.connect(teacher(2, &["math"]));
    sim.send(UserId(1), available());
    sim.advance(Duration::from_secs(1));
    sim.send(UserId(2), available());
    for id in 11..=15 {
        sim.connect(student(id, "9A"));
    }
    for id in [1, 2, 11, 12, 13, 14, 15] {
        sim.take(UserId(id));
    }
    sim
}

pub(crate) fn queued_position(messages: &[ServerMessage]) -> Option<u32> {
    messages.iter().rev().find_map(|m| match m {
        ServerMessage::RequestQueued { request } | ServerMessage::QueuePosition { request } => {
            Some(request.position)
        }
        _ => None,
    })
}
