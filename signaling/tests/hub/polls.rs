//! Co-hosts and polls in group and frontal sessions: who may name co-hosts and what co-hosts
//! may do, asking, voting, the live counts (coalesced), closing, the result kept in the thread,
//! and every refusal.

use crate::*;
use konsult_protocol::SessionId;
use konsult_protocol::model::{PollKind, PollVote};
use konsult_signaling::OpeningText;

const HOST: UserId = UserId(1);
/// A second teacher, invited to the lesson.
const TEACHER: UserId = UserId(2);

/// A group session of teacher 1 with teacher 2 and students 11, 12 and 13 invited and in it;
/// students 14 and 15 are not invited.
fn lesson(sim: &mut Sim, form: Form) -> SessionId {
    sim.send(
        HOST,
        ToHub::CreateSession {
            form,
            subject: "math".into(),
            title: "Уравнения".into(),
            invite: vec![TEACHER, UserId(11), UserId(12), UserId(13)],
            class: None,
            from_requests: vec![],
        },
    );
    let Some(ServerMessage::SessionStarted { session }) = sim.last(HOST, "session_started") else {
        panic!("the host's session did not start");
    };
    for user in [TEACHER, UserId(11), UserId(12), UserId(13)] {
        sim.send(
            user,
            ToHub::JoinSession {
                session: session.id,
            },
        );
    }
    for user in [HOST, TEACHER, UserId(11), UserId(12), UserId(13)] {
        sim.take(user);
    }
    session.id
}

fn set_cohost(session: SessionId, user: UserId, cohost: bool) -> ToHub {
    ToHub::SetCohost {
        session,
        user,
        cohost,
    }
}

fn single(session: SessionId, options: &[&str], anonymous: bool) -> ToHub {
    ToHub::CreatePoll {
        session,
        question: "Какой ответ верный?".into(),
        kind: PollKind::Single,
        options: options.iter().map(|o| o.to_string()).collect(),
        anonymous,
    }
}

fn vote(session: SessionId, poll: u32, choices: &[u32]) -> ToHub {
    ToHub::Vote {
        session,
        poll,
        choices: choices.to_vec(),
    }
}

fn close(session: SessionId, poll: u32, publish: bool) -> ToHub {
    ToHub::ClosePoll {
        session,
        poll,
        publish,
    }
}

/// The error the user's last answer carried, or `None` for `ok`.
fn refusal(sim: &mut Sim, user: UserId) -> Option<ErrorCode> {
    let messages = sim.take(user);
    let answer = messages
        .iter()
        .rev()
        .find(|m| matches!(m, ServerMessage::Ok {} | ServerMessage::Error { .. }))
        .unwrap_or_else(|| panic!("user {user} got no answer"));
    error_code(std::slice::from_ref(answer))
}

fn cohosts(sim: &mut Sim, user: UserId) -> Vec<UserId> {
    match sim.last(user, "session_state") {
        Some(ServerMessage::SessionState { cohosts, .. }) => cohosts,
        other => panic!("no session_state: {other:?}"),
    }
}

/// The last `poll_counts` the user got: counts, voters, named votes.
fn counts(sim: &mut Sim, user: UserId) -> Option<(Vec<u32>, u32, Option<Vec<PollVote>>)> {
    match sim.last(user, "poll_counts")? {
        ServerMessage::PollCounts {
            counts,
            voters,
            votes,
            ..
        } => Some((counts, voters, votes)),
        _ => unreachable!(),
    }
}

#[test]
fn only_the_host_names_co_hosts_and_only_present_members() {
    let mut sim = school();
    let id = lesson(&mut sim, Form::Group);
    sim.send(UserId(11), set_cohost(id, UserId(12), true));
    assert_eq!(refusal(&mut sim, UserId(11)), Some(ErrorCode::Forbidden));
    sim.send(HOST, set_cohost(id, HOST, true));
    assert_eq!(refusal(&mut sim, HOST), Some(ErrorCode::BadRequest));
    sim.send(HOST, set_cohost(id, UserId(14), true));
    assert_eq!(refusal(&mut sim, HOST), Some(ErrorCode::NotFound));
    sim.send(UserId(14), set_cohost(id, UserId(11), true));
    assert_eq!(refusal(&mut sim, UserId(14)), Some(ErrorCode::NotFound));

    sim.send(HOST, set_cohost(id, UserId(11), true));
    assert_eq!(refusal(&mut sim, HOST), None);
    assert_eq!(cohosts(&mut sim, UserId(12)), vec![UserId(11)]);
    // A co-host does not name co-hosts, nor end the session.
    sim.send(UserId(11), set_cohost(id, UserId(12), true));
    assert_eq!(refusal(&mut sim, UserId(11)), Some(ErrorCode::Forbidden));
    sim.send(UserId(11), ToHub::EndSession { session: id });
    assert_eq!(refusal(&mut sim, UserId(11)), Some(ErrorCode::Forbidden));
    assert!(sim.last(UserId(12), "session_ended").is_none());
}

#[test]
fn a_co_host_moderates_as_the_host_does_until_the_host_takes_it_back() {
    let mut sim = school();
    let id = lesson(&mut sim, Form::Frontal);
    let mute = |user| ToHub::Mute {
        session: id,
        user,
        kind: TrackKind::Audio,
    };
    // A member who is not a co-host may not.
    sim.send(UserId(11), mute(UserId(12)));
    assert_eq!(refusal(&mut sim, UserId(11)), Some(ErrorCode::Forbidden));

    sim.send(HOST, set_cohost(id, UserId(11), true));
    sim.send(UserId(12), ToHub::RaiseHand { session: id });
    sim.send(
        UserId(11),
        ToHub::LowerHand {
            session: id,
            user: Some(UserId(12)),
        },
    );
    assert_eq!(refusal(&mut sim, UserId(11)), None);
    let Some(ServerMessage::SessionState { hands, .. }) = sim.last(HOST, "session_state") else {
        panic!("no state")
    };
    assert!(hands.is_empty(), "the co-host lowered the hand");
    sim.send(
        UserId(11),
        ToHub::GrantFloor {
            session: id,
            user: UserId(12),
        },
    );
    assert_eq!(refusal(&mut sim, UserId(11)), None);
    sim.send(UserId(11), ToHub::RevokeFloor { session: id });
    assert_eq!(refusal(&mut sim, UserId(11)), None);
    sim.send(UserId(11), mute(UserId(12)));
    assert_eq!(refusal(&mut sim, UserId(11)), None);
    let MediaCommand::SetPolicy { policy, .. } = sim.media.last().expect("policy").clone() else {
        panic!("expected a policy")
    };
    let m12 = policy.members.iter().find(|m| m.user == UserId(12));
    assert_eq!(m12.expect("member").muted, vec![TrackKind::Audio]);
    // Nobody but the host mutes the host, and nobody removes the host.
    sim.send(UserId(11), mute(HOST));
    assert_eq!(refusal(&mut sim, UserId(11)), Some(ErrorCode::Forbidden));
    sim.send(
        UserId(11),
        ToHub::RemoveMember {
            session: id,
            user: HOST,
        },
    );
    assert_eq!(refusal(&mut sim, UserId(11)), Some(ErrorCode::BadRequest));
    sim.send(
        UserId(11),
        ToHub::RemoveMember {
            session: id,
            user: UserId(13),
        },
    );
    assert_eq!(refusal(&mut sim, UserId(11)), None);
    assert!(matches!(
        sim.last(UserId(13), "session_ended"),
        Some(ServerMessage::SessionEnded {
            reason: EndReason::Removed,
            ..
        })
    ));

    // A co-host who leaves and comes back is one still.
    sim.send(UserId(11), ToHub::LeaveSession { session: id });
    assert_eq!(cohosts(&mut sim, HOST), vec![UserId(11)]);
    sim.send(UserId(11), ToHub::JoinSession { session: id });
    sim.send(
        UserId(11),
        ToHub::Unmute {
            session: id,
            user: UserId(12),
            kind: TrackKind::Audio,
        },
    );
    assert_eq!(refusal(&mut sim, UserId(11)), None);

    // The host takes it back.
    sim.send(HOST, set_cohost(id, UserId(11), false));
    assert_eq!(refusal(&mut sim, HOST), None);
    assert_eq!(cohosts(&mut sim, UserId(12)), Vec::<UserId>::new());
    sim.send(UserId(11), mute(UserId(12)));
    assert_eq!(refusal(&mut sim, UserId(11)), Some(ErrorCode::Forbidden));
}

#[test]
fn an_individual_session_has_no_co_hosts_and_no_polls() {
    let mut sim = school();
    sim.send(UserId(11), help("math", "x"));
    let offer = sim.offer_of(HOST).expect("offer");
    sim.send(HOST, ToHub::Accept { request: offer });
    let Some(ServerMessage::SessionStarted { session }) = sim.last(UserId(11), "session_started")
    else {
        panic!("no session")
    };
    sim.take(HOST);
    sim.send(HOST, set_cohost(session.id, UserId(11), true));
    assert_eq!(refusal(&mut sim, HOST), Some(ErrorCode::BadRequest));
    sim.send(HOST, single(session.id, &["a", "b"], false));
    assert_eq!(refusal(&mut sim, HOST), Some(ErrorCode::BadRequest));
}

#[test]
fn students_never_create_or_close_polls_even_as_co_hosts() {
    let mut sim = school();
    let id = lesson(&mut sim, Form::Group);
    sim.send(UserId(11), single(id, &["a", "b"], false));
    assert_eq!(refusal(&mut sim, UserId(11)), Some(ErrorCode::Forbidden));
    sim.send(HOST, set_cohost(id, UserId(11), true));
    sim.send(UserId(11), single(id, &["a", "b"], false));
    assert_eq!(refusal(&mut sim, UserId(11)), Some(ErrorCode::Forbidden));
    assert!(sim.last(UserId(12), "poll").is_none());

    sim.send(HOST, single(id, &["a", "b"], false));
    assert_eq!(refusal(&mut sim, HOST), None);
    sim.send(UserId(12), vote(id, 1, &[0]));
    sim.advance(Duration::from_secs(1));
    // The student co-host sees no counts, let alone named votes.
    assert!(counts(&mut sim, UserId(11)).is_none());
    sim.send(UserId(11), close(id, 1, true));
    assert_eq!(refusal(&mut sim, UserId(11)), Some(ErrorCode::Forbidden));
    sim.send(UserId(12), close(id, 1, true));
    assert_eq!(refusal(&mut sim, UserId(12)), Some(ErrorCode::Forbidden));
}

#[test]
fn a_poll_is_refused_when_malformed() {
    let mut sim = school();
    let id = lesson(&mut sim, Form::Frontal);
    let create = |question: String, kind, options: Vec<String>| ToHub::CreatePoll {
        session: id,
        question,
        kind,
        options,
        anonymous: false,
    };
    let opts = |n: usize, len: usize| {
        (0..n)
            .map(|i| format!("{i}{}", "x".repeat(len - 1)))
            .collect()
    };
    let cases = [
        (
            create("Q".into(), PollKind::Single, opts(1, 5)),
            ErrorCode::BadRequest,
        ),
        (
            create("Q".into(), PollKind::Multiple, opts(11, 5)),
            ErrorCode::BadRequest,
        ),
        (
            create("Q".into(), PollKind::YesNo, opts(2, 5)),
            ErrorCode::BadRequest,
        ),
        (
            create("  ".into(), PollKind::YesNo, vec![]),
            ErrorCode::BadRequest,
        ),
        (
            create("Q".into(), PollKind::Single, vec!["a".into(), " ".into()]),
            ErrorCode::BadRequest,
        ),
        (
            create("й".repeat(301), PollKind::YesNo, vec![]),
            ErrorCode::TooLarge,
        ),
        (
            create("Q".into(), PollKind::Single, opts(2, 101)),
            ErrorCode::TooLarge,
        ),
    ];
    for (msg, code) in cases {
        sim.send(HOST, msg.clone());
        assert_eq!(refusal(&mut sim, HOST), Some(code), "{msg:?}");
    }
    assert!(sim.last(UserId(11), "poll").is_none(), "no poll was asked");
    // The limits themselves are allowed.
    sim.send(
        HOST,
        create("й".repeat(300), PollKind::Multiple, opts(10, 100)),
    );
    assert_eq!(refusal(&mut sim, HOST), None);
    // One open poll at a time.
    sim.send(HOST, create("Q".into(), PollKind::YesNo, vec![]));
    assert_eq!(refusal(&mut sim, HOST), Some(ErrorCode::Conflict));
    sim.send(HOST, close(id, 1, false));
    sim.send(HOST, create("Q".into(), PollKind::YesNo, vec![]));
    assert_eq!(refusal(&mut sim, HOST), None);
    let Some(ServerMessage::Poll { poll, .. }) = sim.last(UserId(12), "poll") else {
        panic!("no poll")
    };
    assert_eq!(
        (poll.id, poll.kind, poll.options.len()),
        (2, PollKind::YesNo, 0)
    );
}

#[test]
fn votes_are_checked_and_a_new_vote_replaces_the_earlier_one() {
    let mut sim = school();
    let id = lesson(&mut sim, Form::Group);
    sim.send(HOST, set_cohost(id, TEACHER, true));
    // A teacher co-host asks.
    sim.send(TEACHER, single(id, &["2", "3", "4"], false));
    assert_eq!(refusal(&mut sim, TEACHER), None);
    for user in [HOST, UserId(11), UserId(12), UserId(13)] {
        let Some(ServerMessage::Poll { session, poll }) = sim.last(user, "poll") else {
            panic!("user {user} did not get the poll")
        };
        assert_eq!(
            (session, poll.id, poll.open, poll.by),
            (id, 1, true, TEACHER)
        );
        assert_eq!(poll.options, vec!["2", "3", "4"]);
    }
    let refused = [
        (vote(id, 1, &[3]), ErrorCode::BadRequest),
        (vote(id, 1, &[0, 1]), ErrorCode::BadRequest),
        (vote(id, 1, &[]), ErrorCode::BadRequest),
        (vote(id, 7, &[0]), ErrorCode::NotFound),
    ];
    for (msg, code) in refused {
        sim.send(UserId(11), msg.clone());
        assert_eq!(refusal(&mut sim, UserId(11)), Some(code), "{msg:?}");
    }
    // Not a member: the session is not even known.
    sim.send(UserId(14), vote(id, 1, &[0]));
    assert_eq!(refusal(&mut sim, UserId(14)), Some(ErrorCode::NotFound));
    assert!(counts(&mut sim, HOST).is_none(), "no refused vote counted");

    sim.send(UserId(11), vote(id, 1, &[0]));
    assert_eq!(refusal(&mut sim, UserId(11)), None);
    sim.advance(Duration::from_secs(1));
    sim.send(UserId(11), vote(id, 1, &[1]));
    sim.send(UserId(12), vote(id, 1, &[1]));
    sim.send(UserId(11), vote(id, 1, &[1]));
    sim.advance(Duration::from_secs(1));
    let (c, voters, votes) = counts(&mut sim, HOST).expect("counts");
    assert_eq!(
        (c, voters),
        (vec![0, 2, 0], 2),
        "voting twice changes the vote"
    );
    let votes = votes.expect("a named poll shows who voted");
    assert_eq!(
        votes,
        vec![
            PollVote {
                user: UserId(11),
                choices: vec![1]
            },
            PollVote {
                user: UserId(12),
                choices: vec![1]
            },
        ]
    );
    assert_eq!(
        counts(&mut sim, TEACHER).expect("co-host counts").0,
        vec![0, 2, 0]
    );
    assert!(
        counts(&mut sim, UserId(13)).is_none(),
        "students get no counts"
    );
}

#[test]
fn a_multiple_choice_poll_takes_distinct_choices_and_an_anonymous_one_names_nobody() {
    let mut sim = school();
    let id = lesson(&mut sim, Form::Group);
    sim.send(
        HOST,
        ToHub::CreatePoll {
            session: id,
            question: "Что повторить?".into(),
            kind: PollKind::Multiple,
            options: vec!["a".into(), "b".into(), "c".into()],
            anonymous: true,
        },
    );
    sim.send(UserId(11), vote(id, 1, &[2, 2]));
    assert_eq!(refusal(&mut sim, UserId(11)), Some(ErrorCode::BadRequest));
    sim.send(UserId(11), vote(id, 1, &[2, 0]));
    assert_eq!(refusal(&mut sim, UserId(11)), None);
    sim.send(UserId(12), vote(id, 1, &[2]));
    sim.advance(Duration::from_secs(1));
    let (c, voters, votes) = counts(&mut sim, HOST).expect("counts");
    assert_eq!((c, voters, votes), (vec![1, 0, 2], 2, None));
}

#[test]
fn yes_no_takes_one_of_two() {
    let mut sim = school();
    let id = lesson(&mut sim, Form::Frontal);
    sim.send(
        HOST,
        ToHub::CreatePoll {
            session: id,
            question: "Понятно?".into(),
            kind: PollKind::YesNo,
            options: vec![],
            anonymous: false,
        },
    );
    sim.send(UserId(11), vote(id, 1, &[2]));
    assert_eq!(refusal(&mut sim, UserId(11)), Some(ErrorCode::BadRequest));
    sim.send(UserId(11), vote(id, 1, &[0, 1]));
    assert_eq!(refusal(&mut sim, UserId(11)), Some(ErrorCode::BadRequest));
    sim.send(UserId(11), vote(id, 1, &[1]));
    assert_eq!(refusal(&mut sim, UserId(11)), None);
    assert_eq!(counts(&mut sim, HOST).expect("counts").0, vec![0, 1]);
}

#[test]
fn a_member_who_joins_or_comes_back_gets_the_open_poll() {
    let mut sim = school();
    sim.send(
        HOST,
        ToHub::CreateSession {
            form: Form::Group,
            subject: "math".into(),
            title: "t".into(),
            invite: vec![UserId(11), UserId(12)],
            class: None,
            from_requests: vec![],
        },
    );
    let Some(ServerMessage::SessionStarted { session }) = sim.last(HOST, "session_started") else {
        panic!()
    };
    let id = session.id;
    sim.send(UserId(11), ToHub::JoinSession { session: id });
    sim.send(HOST, single(id, &["a", "b"], false));
    sim.send(UserId(12), vote(id, 1, &[0]));
    assert_eq!(
        refusal(&mut sim, UserId(12)),
        Some(ErrorCode::Forbidden),
        "join first"
    );
    sim.send(UserId(12), ToHub::JoinSession { session: id });
    let Some(ServerMessage::Poll { poll, .. }) = sim.last(UserId(12), "poll") else {
        panic!("a late joiner gets the open poll")
    };
    assert!(poll.open);
    sim.send(UserId(12), vote(id, 1, &[0]));
    assert_eq!(refusal(&mut sim, UserId(12)), None);

    // A reconnect that did not resume is told where it stands, the poll included; the host
    // gets the counts with it.
    let conn = sim.conn_of[&UserId(11)];
    sim.disconnect(conn);
    sim.connect(konsult_signaling::testing::sim::student(11, "9A"));
    assert!(sim.last(UserId(11), "poll").is_some());
    let conn = sim.conn_of[&HOST];
    sim.disconnect(conn);
    sim.connect(konsult_signaling::testing::sim::teacher(
        1,
        &["math", "physics"],
    ));
    let messages = sim.take(HOST);
    assert!(messages.iter().any(|m| m.type_name() == "poll"));
    assert!(messages.iter().any(|m| matches!(
        m,
        ServerMessage::PollCounts { counts, .. } if *counts == vec![1, 0]
    )));

    // A member who becomes a co-host does not get counts as a student; a teacher would.
    sim.send(HOST, set_cohost(id, UserId(11), true));
    assert!(counts(&mut sim, UserId(11)).is_none());
}

#[test]
fn closing_tells_members_the_result_only_when_published_and_the_thread_keeps_it() {
    let mut sim = school();
    let id = lesson(&mut sim, Form::Group);
    sim.send(HOST, single(id, &["x = 2", "x = 3"], false));
    sim.send(UserId(11), vote(id, 1, &[1]));
    sim.send(UserId(12), vote(id, 1, &[1]));
    sim.send(UserId(13), vote(id, 1, &[0]));
    sim.send(HOST, close(id, 1, false));
    let closed = |sim: &mut Sim, user| match sim.last(user, "poll_closed") {
        Some(ServerMessage::PollClosed { counts, voters, .. }) => (counts, voters),
        other => panic!("no poll_closed: {other:?}"),
    };
    assert_eq!(closed(&mut sim, UserId(11)), (None, None));
    assert_eq!(closed(&mut sim, HOST), (Some(vec![1, 2]), Some(3)));
    let (thread, post) = sim.posts.last().expect("the result is kept").clone();
    assert_eq!(
        Some(thread),
        sim.threads
            .iter()
            .find(|(_, s)| s.session == Some(id))
            .map(|(t, _)| *t)
    );
    assert_eq!(post.author, HOST);
    assert_eq!(
        post.text,
        OpeningText::PollResult {
            question: "Какой ответ верный?".into(),
            kind: PollKind::Single,
            options: vec!["x = 2".into(), "x = 3".into()],
            counts: None,
            voters: 3,
        }
    );
    // Closed is closed.
    sim.send(UserId(11), vote(id, 1, &[0]));
    assert_eq!(refusal(&mut sim, UserId(11)), Some(ErrorCode::Conflict));
    sim.send(HOST, close(id, 1, true));
    assert_eq!(refusal(&mut sim, HOST), Some(ErrorCode::Conflict));
    sim.send(HOST, close(id, 9, true));
    assert_eq!(refusal(&mut sim, HOST), Some(ErrorCode::NotFound));

    sim.send(HOST, single(id, &["a", "b"], true));
    sim.send(UserId(11), vote(id, 2, &[0]));
    sim.send(HOST, close(id, 2, true));
    assert_eq!(closed(&mut sim, UserId(12)), (Some(vec![1, 0]), Some(1)));
    let (_, post) = sim.posts.last().expect("kept").clone();
    assert!(
        matches!(post.text, OpeningText::PollResult { counts: Some(ref c), .. } if *c == vec![1, 0])
    );
    assert_ne!(
        sim.posts[0].1.client_id, post.client_id,
        "one message per poll"
    );
}

#[test]
fn a_session_that_ends_closes_its_open_poll_and_keeps_it() {
    let mut sim = school();
    let id = lesson(&mut sim, Form::Frontal);
    sim.send(HOST, single(id, &["a", "b"], false));
    sim.send(UserId(11), vote(id, 1, &[0]));
    assert!(sim.posts.is_empty());
    sim.send(HOST, ToHub::EndSession { session: id });
    let (_, post) = sim
        .posts
        .last()
        .expect("the open poll's result is kept")
        .clone();
    assert!(matches!(
        post.text,
        OpeningText::PollResult {
            voters: 1,
            counts: None,
            ..
        }
    ));
}

#[test]
fn co_hosts_and_polls_survive_a_move_to_another_node() {
    let mut sim = school();
    let id = lesson(&mut sim, Form::Group);
    sim.send(HOST, set_cohost(id, TEACHER, true));
    sim.send(HOST, single(id, &["a", "b"], false));
    sim.send(UserId(11), vote(id, 1, &[1]));
    let mut moved = sim.restored(HubConfig::default(), sim.hub.snapshot());
    moved.reconnect_all_replaying(false);
    moved.advance(Duration::from_secs(1));
    assert_eq!(cohosts(&mut moved, UserId(12)), vec![TEACHER]);
    moved.send(UserId(12), vote(id, 1, &[1]));
    moved.advance(Duration::from_secs(1));
    assert_eq!(counts(&mut moved, TEACHER).expect("counts").0, vec![0, 2]);
    moved.send(TEACHER, close(id, 1, true));
    assert_eq!(refusal(&mut moved, TEACHER), None);
}

/// A lesson of 1,000 students in class 9A, all in it.
fn crowd(config: HubConfig) -> (Sim, SessionId) {
    let mut sim = Sim::new(config);
    sim.connect(konsult_signaling::testing::sim::teacher(1, &["math"]));
    for n in 0..1_000 {
        sim.connect(student(1_000 + n, "9A"));
    }
    sim.send(
        HOST,
        ToHub::CreateSession {
            form: Form::Frontal,
            subject: "math".into(),
            title: "Лекция".into(),
            invite: vec![],
            class: Some("9A".into()),
            from_requests: vec![],
        },
    );
    let Some(ServerMessage::SessionStarted { session }) = sim.last(HOST, "session_started") else {
        panic!()
    };
    for n in 0..1_000 {
        sim.send(
            UserId(1_000 + n),
            ToHub::JoinSession {
                session: session.id,
            },
        );
    }
    sim.advance(Duration::from_secs(1));
    sim.send(HOST, single(session.id, &["a", "b", "c"], true));
    sim.take(HOST);
    (sim, session.id)
}

fn all_counts(sim: &mut Sim) -> Vec<Vec<u32>> {
    sim.of_type(HOST, "poll_counts")
        .into_iter()
        .map(|m| match m {
            ServerMessage::PollCounts { counts, .. } => counts,
            _ => unreachable!(),
        })
        .collect()
}

#[test]
fn a_thousand_votes_in_a_burst_reach_the_host_as_a_handful_of_counts() {
    let config = HubConfig {
        session_members: 2_000,
        ..HubConfig::default()
    };
    let (mut sim, id) = crowd(config);
    for n in 0..1_000 {
        sim.send(UserId(1_000 + n), vote(id, 1, &[(n % 3) as u32]));
    }
    sim.advance(Duration::from_secs(2));
    let sent = all_counts(&mut sim);
    assert!(
        (1..=3).contains(&sent.len()),
        "{} poll_counts for a burst of 1,000 votes",
        sent.len()
    );
    assert_eq!(sent.last().expect("counts"), &vec![334, 333, 333]);
}

#[test]
fn votes_spread_over_seconds_reach_the_host_at_most_twice_a_second() {
    let config = HubConfig {
        session_members: 2_000,
        ..HubConfig::default()
    };
    let (mut sim, id) = crowd(config);
    // 1,000 votes over 5 seconds.
    for n in 0..1_000 {
        sim.send(UserId(1_000 + n), vote(id, 1, &[(n % 2) as u32]));
        sim.advance(Duration::from_millis(5));
    }
    sim.advance(Duration::from_secs(1));
    let sent = all_counts(&mut sim);
    assert!(
        sent.len() <= 12,
        "{} poll_counts in 5 seconds: more than twice a second",
        sent.len()
    );
    assert!(sent.len() >= 5, "counts come live, not only at the end");
    assert_eq!(sent.last().expect("counts"), &vec![500, 500, 0]);
}
