//! Polls in group and frontal sessions: asking one (the host or a teacher co-host), votes (a
//! new vote replaces the member's earlier one), the live counts for the host and teacher
//! co-hosts (at most twice a second however many vote), closing, and the result kept in the
//! session's thread as a message.

use super::{Session, Sessions};
use crate::ctx::Ctx;
use crate::io::{ConnId, OpeningMessage, OpeningText, Output};
use crate::people::People;
use crate::poll_state::{Poll, PollsState};
use crate::refusal::{Asker, Handled, Refusal};
use crate::timers::Timer;
use konsult_protocol::model::{Form, PollInfo, PollKind, PollVote, Role};
use konsult_protocol::{ServerMessage, SessionId, UserId};
use std::time::{Duration, Instant};

/// Least time between two `poll_counts` of a session.
const COUNTS_INTERVAL: Duration = Duration::from_millis(500);
/// Longest question, in characters.
pub const MAX_QUESTION_CHARS: usize = 300;
/// Longest option, in characters.
pub const MAX_OPTION_CHARS: usize = 100;
/// Fewest and most options of a `single` or `multiple` poll.
pub const MIN_OPTIONS: usize = 2;
pub const MAX_OPTIONS: usize = 10;
/// Most polls one session may ask.
pub const MAX_POLLS: usize = 100;

impl Poll {
    /// How many options there are to choose from.
    fn choices(&self) -> usize {
        match self.kind {
            PollKind::YesNo => 2,
            _ => self.options.len(),
        }
    }

    fn counts(&self) -> Vec<u32> {
        let mut counts = vec![0u32; self.choices()];
        for (_, choices) in &self.votes {
            for c in choices {
                if let Some(n) = counts.get_mut(*c as usize) {
                    *n += 1;
                }
            }
        }
        counts
    }

    fn voters(&self) -> u32 {
        self.votes.len() as u32
    }

    fn info(&self) -> PollInfo {
        PollInfo {
            id: self.id,
            question: self.question.clone(),
            kind: self.kind,
            options: self.options.clone(),
            anonymous: self.anonymous,
            open: self.open,
            by: self.by,
        }
    }

    fn counts_message(&self, session: SessionId) -> ServerMessage {
        ServerMessage::PollCounts {
            session,
            poll: self.id,
            counts: self.counts(),
            voters: self.voters(),
            votes: (!self.anonymous).then(|| {
                self.votes
                    .iter()
                    .map(|(user, choices)| PollVote {
                        user: *user,
                        choices: choices.clone(),
                    })
                    .collect()
            }),
        }
    }
}

/// A session's polls.
#[derive(Debug, Default)]
pub(crate) struct Polls {
    /// In the order they were asked; ids are their place from 1.
    list: Vec<Poll>,
    /// Votes changed since `poll_counts` was last sent.
    counts_owed: bool,
    /// A [`Timer::PollCounts`] is set.
    counts_scheduled: bool,
    /// When `poll_counts` was last sent (not kept across a move: the first counts after one
    /// go at once).
    counts_sent: Option<Instant>,
}

impl Polls {
    pub fn save(&self) -> PollsState {
        PollsState {
            polls: self.list.clone(),
            counts_owed: self.counts_owed,
            counts_scheduled: self.counts_scheduled,
        }
    }

    pub fn load(state: PollsState) -> Polls {
        Polls {
            list: state.polls,
            counts_owed: state.counts_owed,
            counts_scheduled: state.counts_scheduled,
            counts_sent: None,
        }
    }

    fn open(&self) -> Option<&Poll> {
        self.list.iter().find(|p| p.open)
    }

    /// Poll `id`, still open: `not_found` when the session has none, `conflict` when closed.
    fn still_open(&self, id: u32) -> Result<&Poll, Refusal> {
        let poll = self
            .list
            .iter()
            .find(|p| p.id == id)
            .ok_or_else(|| Refusal::not_found(format!("no poll {id} in this session")))?;
        if !poll.open {
            return Err(Refusal::conflict(format!("poll {id} is closed")));
        }
        Ok(poll)
    }
}

/// A poll as `create_poll` asks it.
#[derive(Debug)]
pub(crate) struct NewPoll {
    pub question: String,
    pub kind: PollKind,
    pub options: Vec<String>,
    pub anonymous: bool,
}

impl NewPoll {
    /// The poll's question and options, trimmed, or why they are refused.
    fn checked(self) -> Result<NewPoll, Refusal> {
        let question = self.question.trim().to_string();
        if question.is_empty() {
            return Err(Refusal::bad_request("the question is empty"));
        }
        if question.chars().count() > MAX_QUESTION_CHARS {
            return Err(Refusal::too_large(format!(
                "the question is longer than {MAX_QUESTION_CHARS} characters"
            )));
        }
        let options: Vec<String> = self.options.iter().map(|o| o.trim().to_string()).collect();
        if self.kind == PollKind::YesNo {
            if !options.is_empty() {
                return Err(Refusal::bad_request("a yes_no poll takes no options"));
            }
        } else {
            if !(MIN_OPTIONS..=MAX_OPTIONS).contains(&options.len()) {
                return Err(Refusal::bad_request(format!(
                    "a poll has {MIN_OPTIONS} to {MAX_OPTIONS} options"
                )));
            }
            if options.iter().any(|o| o.is_empty()) {
                return Err(Refusal::bad_request("an option is empty"));
            }
            if options.iter().any(|o| o.chars().count() > MAX_OPTION_CHARS) {
                return Err(Refusal::too_large(format!(
                    "an option is longer than {MAX_OPTION_CHARS} characters"
                )));
            }
        }
        Ok(NewPoll {
            question,
            options,
            ..self
        })
    }
}

impl Session {
    /// Whether the user steers polls here: the host, or a co-host who is not a student.
    fn steers_polls(&self, user: UserId, people: &People) -> bool {
        self.may_moderate(user) && people.role_of(user) != Some(Role::Student)
    }

    /// Who gets the counts: the present host and teacher co-hosts.
    fn poll_steerers(&self, people: &People) -> Vec<UserId> {
        self.moderators_present()
            .into_iter()
            .filter(|u| people.role_of(*u) != Some(Role::Student))
            .collect()
    }
}

impl Sessions {
    /// A session the user may steer polls in: a group or frontal one whose present host or
    /// teacher co-host they are.
    fn poll_session(
        &self,
        user: UserId,
        id: SessionId,
        people: &People,
    ) -> Result<&Session, Refusal> {
        let s = self.moderated_session(user, id)?;
        if !s.steers_polls(user, people) {
            return Err(Refusal::forbidden("students cannot create or close polls"));
        }
        if s.form == Form::Individual {
            return Err(Refusal::bad_request(
                "polls are for group and frontal sessions",
            ));
        }
        Ok(s)
    }

    /// Answers `create_poll`: every present member hears of it.
    pub fn create_poll(
        &mut self,
        asker: &Asker,
        id: SessionId,
        new: NewPoll,
        people: &People,
        cx: &mut Ctx,
    ) -> Handled {
        let s = self.poll_session(asker.user, id, people)?;
        if s.thread.is_none() {
            return Err(Refusal::conflict("the session is still starting"));
        }
        if let Some(open) = s.polls.open() {
            return Err(Refusal::conflict(format!(
                "poll {} is still open; close it first",
                open.id
            )));
        }
        if s.polls.list.len() >= MAX_POLLS {
            return Err(Refusal::too_large(format!(
                "at most {MAX_POLLS} polls in a session"
            )));
        }
        let new = new.checked()?;
        let s = self.sessions.get_mut(&id).expect("checked");
        let poll = Poll {
            id: s.polls.list.len() as u32 + 1,
            question: new.question,
            kind: new.kind,
            options: new.options,
            anonymous: new.anonymous,
            open: true,
            by: asker.user,
            votes: Vec::new(),
        };
        let msg = ServerMessage::Poll {
            session: id,
            poll: poll.info(),
        };
        s.polls.list.push(poll);
        s.polls.counts_owed = false;
        cx.out.ok(asker);
        cx.out.send_users(s.present().collect(), msg);
        Ok(())
    }

    /// Answers `vote` from a present member.
    pub fn vote(
        &mut self,
        asker: &Asker,
        id: SessionId,
        poll: u32,
        mut choices: Vec<u32>,
        people: &People,
        cx: &mut Ctx,
    ) -> Handled {
        let s = self.member_session(asker.user, id)?;
        let p = s.polls.still_open(poll)?;
        if choices.is_empty() {
            return Err(Refusal::bad_request("choose at least one option"));
        }
        if p.kind != PollKind::Multiple && choices.len() > 1 {
            return Err(Refusal::bad_request("this poll takes one choice"));
        }
        if let Some(c) = choices.iter().find(|c| **c as usize >= p.choices()) {
            return Err(Refusal::bad_request(format!(
                "option {c} is out of range: the poll has {} options",
                p.choices()
            )));
        }
        choices.sort_unstable();
        let before = choices.len();
        choices.dedup();
        if choices.len() != before {
            return Err(Refusal::bad_request("an option is chosen twice"));
        }
        let s = self.sessions.get_mut(&id).expect("checked");
        let p = s
            .polls
            .list
            .iter_mut()
            .find(|p| p.id == poll)
            .expect("checked");
        let changed = match p.votes.iter_mut().find(|(u, _)| *u == asker.user) {
            Some((_, earlier)) if *earlier == choices => false,
            Some((_, earlier)) => {
                *earlier = choices;
                true
            }
            None => {
                p.votes.push((asker.user, choices));
                true
            }
        };
        cx.out.ok(asker);
        if changed {
            self.counts_changed(id, people, cx);
        }
        Ok(())
    }

    /// Votes changed: the counts go at once if none went within the last interval, else when
    /// it is over (one timer however many vote meanwhile).
    fn counts_changed(&mut self, id: SessionId, people: &People, cx: &mut Ctx) {
        let Some(s) = self.sessions.get_mut(&id) else {
            return;
        };
        s.polls.counts_owed = true;
        if s.polls.counts_scheduled {
            return;
        }
        match s.polls.counts_sent.map(|t| t + COUNTS_INTERVAL) {
            Some(due) if due > cx.now.mono => {
                s.polls.counts_scheduled = true;
                cx.timers.set(due, Timer::PollCounts(id));
            }
            _ => self.send_counts(id, people, cx),
        }
    }

    /// The counts' interval is over: send them if votes changed meanwhile.
    pub fn on_poll_counts_timer(&mut self, id: SessionId, people: &People, cx: &mut Ctx) {
        let Some(s) = self.sessions.get_mut(&id) else {
            return;
        };
        s.polls.counts_scheduled = false;
        if s.polls.counts_owed {
            self.send_counts(id, people, cx);
        }
    }

    fn send_counts(&mut self, id: SessionId, people: &People, cx: &mut Ctx) {
        let Some(s) = self.sessions.get_mut(&id) else {
            return;
        };
        s.polls.counts_owed = false;
        s.polls.counts_sent = Some(cx.now.mono);
        let s = &self.sessions[&id];
        if let Some(p) = s.polls.open() {
            cx.out
                .send_users(s.poll_steerers(people), p.counts_message(id));
        }
    }

    /// Answers `close_poll`: members get the result if `publish`, the host and teacher
    /// co-hosts always; the thread keeps it.
    pub fn close_poll(
        &mut self,
        asker: &Asker,
        id: SessionId,
        poll: u32,
        publish: bool,
        people: &People,
        cx: &mut Ctx,
    ) -> Handled {
        let s = self.poll_session(asker.user, id, people)?;
        s.polls.still_open(poll)?;
        cx.out.ok(asker);
        self.finish_poll(id, poll, publish, people, cx);
        Ok(())
    }

    /// Closes a poll: tells the members in the session and keeps the result in the thread.
    fn finish_poll(
        &mut self,
        id: SessionId,
        poll: u32,
        publish: bool,
        people: &People,
        cx: &mut Ctx,
    ) {
        let Some(s) = self.sessions.get_mut(&id) else {
            return;
        };
        let Some(p) = s.polls.list.iter_mut().find(|p| p.id == poll) else {
            return;
        };
        p.open = false;
        s.polls.counts_owed = false;
        let p = p.clone();
        let s = &self.sessions[&id];
        let (counts, voters) = (p.counts(), p.voters());
        let steerers = s.poll_steerers(people);
        let others: Vec<UserId> = s.present().filter(|u| !steerers.contains(u)).collect();
        let closed = |shown: bool| ServerMessage::PollClosed {
            session: id,
            poll,
            counts: shown.then(|| counts.clone()),
            voters: shown.then_some(voters),
        };
        cx.out.send_users(steerers, closed(true));
        cx.out.send_users(others, closed(publish));
        if let Some(thread) = s.thread {
            cx.out.push(Output::Post {
                thread,
                message: OpeningMessage {
                    author: s.host,
                    text: OpeningText::PollResult {
                        question: p.question.clone(),
                        kind: p.kind,
                        options: p.options.clone(),
                        counts: publish.then_some(counts),
                        voters,
                    },
                    client_id: format!("poll:{}:{}", id.0, poll),
                },
            });
        }
    }

    /// The session ends: its open poll closes, its result kept in the thread as one the host
    /// did not publish.
    pub(super) fn close_open_polls(&mut self, id: SessionId, people: &People, cx: &mut Ctx) {
        let open: Vec<u32> = self
            .sessions
            .get(&id)
            .map(|s| {
                s.polls
                    .list
                    .iter()
                    .filter(|p| p.open)
                    .map(|p| p.id)
                    .collect()
            })
            .unwrap_or_default();
        for poll in open {
            self.finish_poll(id, poll, false, people, cx);
        }
    }

    /// A member joined or came back: the open poll reaches them, and its counts too if they
    /// steer polls.
    pub(super) fn send_open_poll(
        &self,
        conn: ConnId,
        user: UserId,
        id: SessionId,
        people: &People,
        cx: &mut Ctx,
    ) {
        let Some(s) = self.sessions.get(&id) else {
            return;
        };
        let Some(p) = s.polls.open() else {
            return;
        };
        cx.out.reply(
            conn,
            None,
            ServerMessage::Poll {
                session: id,
                poll: p.info(),
            },
        );
        if s.steers_polls(user, people) {
            cx.out.reply(conn, None, p.counts_message(id));
        }
    }

    /// A member became a co-host: a teacher gets the open poll's counts at once.
    pub(super) fn tell_new_moderator(
        &self,
        id: SessionId,
        user: UserId,
        people: &People,
        cx: &mut Ctx,
    ) {
        let Some(s) = self.sessions.get(&id) else {
            return;
        };
        if let Some(p) = s.polls.open()
            && s.steers_polls(user, people)
        {
            cx.out.send_user(user, p.counts_message(id));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn poll(kind: PollKind, options: usize, votes: &[(i64, &[u32])]) -> Poll {
        Poll {
            id: 1,
            question: "q".into(),
            kind,
            options: vec!["o".into(); options],
            anonymous: true,
            open: true,
            by: UserId(1),
            votes: votes
                .iter()
                .map(|(u, c)| (UserId(*u), c.to_vec()))
                .collect(),
        }
    }

    #[test]
    fn counts_add_every_choice_of_every_voter() {
        let multiple = poll(PollKind::Multiple, 3, &[(1, &[0, 2]), (2, &[2])]);
        assert_eq!(multiple.counts(), vec![1, 0, 2]);
        assert_eq!(multiple.voters(), 2);
        let yes_no = poll(PollKind::YesNo, 0, &[(3, &[1])]);
        assert_eq!(yes_no.counts(), vec![0, 1]);
    }
}
