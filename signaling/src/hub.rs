//! The hub: the parts it is made of (`People`, `Requests`, `Sessions`), the entry points, the
//! routing of each input to the part that owns it, and the steps that cross parts: a request
//! becoming a session, a user coming and going, presence reaching the queues, what follows the
//! end of a session.

use crate::bookings::Bookings;
use crate::config::{HubConfig, IdSeeds};
use crate::ctx::Ctx;
use crate::hours;
use crate::io::{BookedSlot, ConnId, Input, Now, Output, Recipients, ThreadPurpose};
use crate::outputs::Outputs;
use crate::people::People;
use crate::refusal::{Asker, Handled};
use crate::requests::{HelpAsked, Requests};
use crate::sessions::{NewPoll, NewSession, Sessions};
use crate::snapshot::{HubSnapshot, Rebase, TimerState};
use crate::timers::{Timer, Timers};
use konsult_protocol::model::{Form, HoursSlot, MediaState, SetStatus, Status, UserInfo};
use konsult_protocol::{
    ErrorCode, RequestId, Rid, ServerMessage, SessionId, ThreadId, ToHub, UserId,
};
use std::time::Instant;

/// One school's hub.
#[derive(Debug)]
pub struct Hub {
    /// The time, limits, deadlines and outbox the parts work with.
    cx: Ctx,
    /// Everyone the hub knows, their connections and presence.
    people: People,
    /// Open help requests and their queues.
    requests: Requests,
    /// Live sessions.
    sessions: Sessions,
    /// Booked slots ahead and under way.
    bookings: Bookings,
    /// Grows with every input or deadline that may have changed what a snapshot keeps.
    changes: u64,
}

impl Hub {
    /// A hub that knows no one yet; `start` is the time it starts at.
    pub fn new(config: HubConfig, seeds: IdSeeds, start: Now) -> Hub {
        Hub {
            cx: Ctx {
                now: start,
                config,
                timers: Timers::default(),
                out: Outputs::default(),
            },
            people: People::default(),
            requests: Requests::new(seeds.next_request),
            sessions: Sessions::new(seeds.next_session),
            bookings: Bookings::default(),
            changes: 0,
        }
    }

    /// The school's live state as a value to keep durably: see [`HubSnapshot`].
    pub fn snapshot(&self) -> HubSnapshot {
        let at = Rebase(self.cx.now.mono);
        let mut timers: Vec<TimerState> = self
            .cx
            .timers
            .entries()
            .map(|(deadline, timer)| TimerState {
                at: at.offset(*deadline),
                timer: timer.clone(),
            })
            .collect();
        timers.sort_by(|a, b| (a.at, &a.timer).cmp(&(b.at, &b.timer)));
        HubSnapshot::new(
            self.cx.now.unix_ms,
            self.people.save(at),
            self.requests.save(at),
            self.sessions.save(at),
            self.bookings.save(),
            timers,
        )
    }

    /// Rebuilds a school's hub from its snapshot on another node (or after a restart), at
    /// `now`: every deadline is rebased on `now` with the time it had left, and everyone who
    /// was online is held as disconnected now, within their grace period, until they connect
    /// again. Drain [`Hub::poll_output`] at once: the new owner's SFU gets each session's
    /// rules, and threads still being created when the snapshot was taken are asked for again.
    pub fn restore(config: HubConfig, snapshot: HubSnapshot, now: Now) -> Hub {
        let at = Rebase(now.mono);
        let HubSnapshot {
            people,
            requests,
            sessions,
            bookings,
            timers,
            ..
        } = snapshot;
        let (people, dropped) = People::load(people, at);
        let mut hub = Hub {
            cx: Ctx {
                now,
                config,
                timers: Timers::default(),
                out: Outputs::default(),
            },
            people,
            requests: Requests::load(requests, at),
            sessions: Sessions::load(sessions, at),
            bookings: Bookings::load(bookings),
            changes: 0,
        };
        for TimerState { at: left, timer } in timers {
            hub.cx.timers.set(at.instant(left), timer);
        }
        for user in dropped {
            hub.cx.after(hub.cx.config.grace, Timer::Grace(user));
        }
        let Hub {
            cx,
            people,
            requests,
            sessions,
            ..
        } = &mut hub;
        requests.resume_deferrals(people, cx);
        sessions.resume_after_move(people, cx);
        hub
    }

    /// Grows whenever something a snapshot keeps may have changed (and sometimes when nothing
    /// did): the owner writes a new snapshot when it moved since the last one written.
    pub fn changes(&self) -> u64 {
        self.changes
    }

    /// The user a resume token the hub kept was issued to: after the school moved, a client
    /// that comes back with it (and authenticates as that user) resumes, and the hub tells it
    /// where it stands.
    pub fn resume_of(&self, token: &str) -> Option<UserId> {
        self.people.resume_of(token)
    }

    /// Every resume token the hub keeps (the latest few of each user), with its user: what a
    /// restored hub's server honours for clients that come back.
    pub fn resume_tokens(&self) -> impl Iterator<Item = (&str, UserId)> + '_ {
        self.people.resume_tokens()
    }

    /// Hands out no request or session id below `seeds`: a restored hub's counters may lag
    /// behind the ids storage already holds when its snapshot is older than the last records.
    pub fn ids_at_least(&mut self, seeds: IdSeeds) {
        self.requests.ids_from(seeds.next_request);
        self.sessions.ids_from(seeds.next_session);
    }

    /// Skips the ids and `session_state` versions that [`Hub::restore`] skips, so that a test
    /// can compare a hub with its restored copy message for message.
    #[cfg(feature = "testing")]
    pub fn skip_ids_as_restore_does(&mut self) {
        self.requests.skip_ids();
        self.sessions.skip_ids();
    }

    /// Handles one input at time `now`.
    pub fn handle_input(&mut self, now: Now, input: Input) {
        self.cx.now = now;
        if changes_state(&input) {
            self.changes += 1;
        }
        match input {
            Input::Connected {
                conn,
                user,
                resumed,
            } => self.on_connected(conn, user, resumed),
            Input::Disconnected { conn } => self.on_disconnected(conn),
            Input::Message { conn, rid, msg } => self.on_message(conn, rid, msg),
            Input::ThreadReady { purpose, thread } => self.on_thread_ready(purpose, thread),
            Input::Media {
                session,
                user,
                state,
            } => self.on_media_event(session, user, state),
            Input::UserChanged { user, active } => self.on_user_changed(user, active),
            Input::HoursChanged { user, hours } => self.on_hours_changed(user, hours),
            Input::BookingsChanged { teacher, slots } => {
                self.bookings.replace(teacher, slots, &mut self.cx)
            }
            Input::ResumeIssued { conn, token } => self.people.issue_resume(conn, token),
        }
        self.settle();
    }

    /// Handles every deadline that has passed at `now`.
    pub fn handle_timeout(&mut self, now: Now) {
        self.cx.now = now;
        while let Some((at, timer)) = self.cx.timers.pop_due(now.mono) {
            self.changes += 1;
            self.on_timer(at, timer);
        }
        self.settle();
    }

    /// When the hub next needs [`Hub::handle_timeout`].
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.cx.timers.next()
    }

    /// The next thing to do, until `None`.
    pub fn poll_output(&mut self) -> Option<Output> {
        self.cx.out.pop()
    }

    /// Open help requests.
    pub fn open_requests(&self) -> usize {
        self.requests.len()
    }

    /// The requests queued for `subject`, head first.
    pub fn queued(&self, subject: &str) -> Vec<RequestId> {
        self.requests.queued(subject)
    }

    /// How many sessions are live: a node of a cluster that drains hands a school with none
    /// over at once, one with some once they end.
    pub fn live_sessions(&self) -> usize {
        self.sessions.live()
    }

    /// The sessions a user is a member of.
    pub fn sessions_of(&self, user: UserId) -> Vec<SessionId> {
        self.people.sessions_of(user)
    }

    /// The form of a live session.
    pub fn session_form(&self, id: SessionId) -> Option<Form> {
        self.sessions.form(id)
    }

    /// After every input: offer waiting requests to free teachers, then tell students whose
    /// place changed, then send the sessions' snapshots owed.
    fn settle(&mut self) {
        let Hub {
            cx,
            people,
            requests,
            sessions,
            bookings,
            ..
        } = self;
        requests.match_requests(people, &|staff| bookings.holds(staff), cx);
        requests.flush_positions(people, cx);
        sessions.flush_snapshots(people, cx);
    }

    fn on_timer(&mut self, at: Instant, timer: Timer) {
        let Hub {
            cx,
            people,
            requests,
            sessions,
            ..
        } = self;
        match timer {
            Timer::Offer(request, teacher) => self.on_offer_expired(request, teacher, at),
            Timer::WaitLimit(request) => requests.on_wait_limit(request, people, cx),
            Timer::Grace(user) => self.on_grace_over(user),
            Timer::P2p(session) => sessions.on_p2p_timeout(session, cx),
            Timer::QueueBroadcast(subject) => requests.push_queue_snapshot(&subject, people, cx),
            Timer::Positions(subject) => requests.positions_due(subject),
            Timer::Snapshot(session) => sessions.on_snapshot_timer(session, people, cx),
            Timer::Hours(user) => self.on_hours_timer(user),
            Timer::BookedSlot(teacher, starts_ms) => self.on_booked_slot(teacher, starts_ms),
            Timer::BookedSlotEnd(session) => self.on_booked_slot_end(session),
            Timer::PollCounts(session) => sessions.on_poll_counts_timer(session, people, cx),
        }
    }

    fn on_message(&mut self, conn: ConnId, rid: Option<Rid>, msg: ToHub) {
        let Some(user) = self.people.user_of(conn) else {
            self.cx.out.push(Output::Send {
                to: Recipients::Conn(conn),
                msg: ServerMessage::error(ErrorCode::Unauthorized, "not connected to the hub"),
                re: rid,
            });
            return;
        };
        let asker = Asker { user, conn, rid };
        if let Err(refusal) = self.route(&asker, msg) {
            self.cx.out.refuse(asker, refusal);
        }
        self.settle_ended();
    }

    /// Hands a client message to the part that owns what it is about.
    fn route(&mut self, asker: &Asker, msg: ToHub) -> Handled {
        let Hub {
            cx,
            people,
            requests,
            sessions,
            ..
        } = self;
        match msg {
            ToHub::SetStatus { status } => self.set_status(asker, status),
            ToHub::ListTeachers { subject } => {
                people.list_teachers(asker, subject, &mut cx.out);
                Ok(())
            }
            ToHub::RequestHelp {
                subject,
                form,
                mode,
                topic,
                teacher,
                anonymous,
            } => {
                let asked = HelpAsked {
                    subject,
                    form,
                    mode,
                    topic,
                    teacher,
                    anonymous,
                };
                requests.request_help(asker, asked, people, cx)
            }
            ToHub::CancelRequest { request } => requests.cancel(asker, request, people, cx),
            ToHub::Accept { request } => {
                requests.check_offered(asker, request, people)?;
                self.start_from_request(asker, request);
                Ok(())
            }
            ToHub::Decline { request } => requests.decline(asker, request, people, cx),
            ToHub::TakeNext { subject } => {
                let request = requests.next_for(asker, subject, people)?;
                self.start_from_request(asker, request);
                Ok(())
            }
            ToHub::ListQueue { subject } => requests.list_queue(asker, subject, people, cx),
            ToHub::CreateSession {
                form,
                subject,
                title,
                invite,
                class,
                from_requests,
            } => self.create_session(
                asker,
                NewSession {
                    form,
                    subject,
                    title,
                    invite,
                    class,
                    from_requests,
                },
            ),
            ToHub::JoinSession { session } => sessions.join(asker, session, people, cx),
            ToHub::LeaveSession { session } => sessions.leave(asker, session, people, cx),
            ToHub::EndSession { session } => sessions.end_by_host(asker, session, people, cx),
            ToHub::RaiseHand { session } => sessions.raise_hand(asker, session, cx),
            ToHub::LowerHand {
                session,
                user: target,
            } => sessions.lower_hand(asker, session, target, cx),
            ToHub::GrantFloor {
                session,
                user: target,
            } => sessions.grant_floor(asker, session, target, cx),
            ToHub::RevokeFloor { session } => sessions.revoke_floor(asker, session, cx),
            ToHub::Mute {
                session,
                user: target,
                kind,
            } => sessions.set_mute(asker, session, target, kind, true, cx),
            ToHub::Unmute {
                session,
                user: target,
                kind,
            } => sessions.set_mute(asker, session, target, kind, false, cx),
            ToHub::RemoveMember {
                session,
                user: target,
            } => sessions.remove_member(asker, session, target, people, cx),
            ToHub::Signal { session, to, data } => sessions.signal(asker, session, to, data, cx),
            ToHub::MediaState {
                session,
                state,
                off,
            } => sessions.media_state(asker, session, state, off, cx),
            ToHub::MediaFailed { session } => sessions.media_failed(asker, session, cx),
            ToHub::MediaView { session, video } => sessions.media_view(asker, session, video, cx),
            // Co-hosts and polls.
            ToHub::SetCohost {
                session,
                user: target,
                cohost,
            } => sessions.set_cohost(asker, session, target, cohost, people, cx),
            ToHub::CreatePoll {
                session,
                question,
                kind,
                options,
                anonymous,
            } => {
                let new = NewPoll {
                    question,
                    kind,
                    options,
                    anonymous,
                };
                sessions.create_poll(asker, session, new, people, cx)
            }
            ToHub::Vote {
                session,
                poll,
                choices,
            } => sessions.vote(asker, session, poll, choices, people, cx),
            ToHub::ClosePoll {
                session,
                poll,
                publish,
            } => sessions.close_poll(asker, session, poll, publish, people, cx),
            ToHub::ShowCameras { session, to } => sessions.show_cameras(asker, session, to, cx),
        }
    }

    /// After sessions ended: their hosts are free again (their subjects' queues may move, and
    /// their presence changed), and a consultation's length counts for the estimates.
    fn settle_ended(&mut self) {
        for ended in self.sessions.take_ended() {
            if self.bookings.over(ended.session).is_some() {
                self.booked_slot_over(ended.host);
            }
            if let Some((subject, took)) = ended.handled {
                self.requests.record_handling(&subject, took);
            }
            for subject in self.people.subjects_of(ended.host) {
                self.requests.mark_dirty(&subject);
            }
            self.presence_changed(ended.host, ended.host_before);
        }
    }

    /// Pushes `presence` when a staff member's visible status changed: to their own devices,
    /// to students waiting on their subjects, and to connections watching the teacher list.
    fn presence_changed(&mut self, user: UserId, before: Status) {
        let after = self.people.status_of(user);
        if after == before || !self.people.is_staff(user) {
            return;
        }
        let subjects = self.people.subjects_of(user);
        // The staff member and the students waiting on their subjects.
        let mut told = vec![user];
        for subject in &subjects {
            told.extend(self.requests.students_waiting(subject));
        }
        self.people
            .tell_presence(user, after, told, &mut self.cx.out);
        if after == Status::Available {
            for subject in &subjects {
                self.requests.mark_dirty(subject);
            }
        }
    }

    fn on_connected(&mut self, conn: ConnId, info: UserInfo, resumed: bool) {
        let id = info.id;
        let before = self.people.status_of(id);
        let moved = self.people.connect(conn, info, self.cx.now.mono);
        self.presence_changed(id, before);
        // A client that resumed got every message it missed, unless those were lost with the
        // node the school moved from.
        if !resumed || moved {
            self.tell_place(conn, id);
        }
    }

    /// Tells a (re)connecting user where they stand: their sessions, invitations, request and
    /// pending offer.
    fn tell_place(&mut self, conn: ConnId, user: UserId) {
        let Hub {
            cx,
            people,
            requests,
            sessions,
            ..
        } = self;
        for session in people.sessions_of(user) {
            sessions.restore_session(conn, user, session, people, cx);
        }
        sessions.restore_invites(conn, user, people, cx);
        if let Some(request) = people.request_of(user) {
            requests.restore_request(conn, request, people, cx);
        }
        if let Some(request) = people.offer_of(user) {
            requests.restore_offer(conn, user, request, people, cx);
        }
    }

    fn on_disconnected(&mut self, conn: ConnId) {
        let Some(dropped) = self.people.disconnect(conn, self.cx.now.mono) else {
            return;
        };
        let Hub {
            cx,
            people,
            requests,
            sessions,
            ..
        } = self;
        let user = dropped.user;
        if !dropped.last {
            sessions.media_conn_closed(user, conn, people);
            return;
        }
        cx.after(cx.config.grace, Timer::Grace(user));
        if let Some(request) = dropped.offer {
            // A teacher who dropped cannot answer: the request goes to someone else.
            requests.withdraw_offer(request, user, false, people, cx);
        }
        sessions.member_dropped(user, people);
        requests.student_gone(user, people, cx);
        self.presence_changed(user, dropped.before);
    }

    fn on_user_changed(&mut self, info: UserInfo, active: bool) {
        let id = info.id;
        let before = self.people.status_of(id);
        self.people.upsert(info, active, self.cx.now.mono);
        if !active {
            // A deactivated account loses its place: requests are cancelled, offers withdrawn.
            self.forget_user_work(id);
        }
        self.presence_changed(id, before);
    }

    /// The grace period of a user who dropped is over: if they did not come back, their
    /// request is cancelled and the sessions they hosted end.
    fn on_grace_over(&mut self, user: UserId) {
        if !self
            .people
            .grace_over(user, self.cx.now.mono, self.cx.config.grace)
        {
            return;
        }
        self.forget_user_work(user);
        self.people.grace_settled(user);
    }

    /// Cancels the user's request and ends or leaves their sessions.
    fn forget_user_work(&mut self, user: UserId) {
        let request = self.people.request_of(user);
        let offer = self.people.take_offer(user);
        let sessions = self.people.sessions_of(user);
        if let Some(request) = request {
            self.requests
                .finish_cancelled(request, &mut self.people, &mut self.cx);
        }
        if let Some(request) = offer {
            self.requests
                .withdraw_offer(request, user, false, &mut self.people, &mut self.cx);
        }
        for session in sessions {
            self.sessions
                .member_gone_for_good(session, user, &mut self.people, &mut self.cx);
            self.settle_ended();
        }
    }

    fn set_status(&mut self, asker: &Asker, status: SetStatus) -> Handled {
        let before = self.people.status_of(asker.user);
        self.people
            .set_status(asker.user, status, self.cx.now.mono)?;
        self.cx.out.ok(asker);
        self.presence_changed(asker.user, before);
        Ok(())
    }

    /// A teacher takes a request: it leaves its queue and a session starts.
    fn start_from_request(&mut self, asker: &Asker, id: RequestId) {
        let Hub {
            cx,
            people,
            requests,
            sessions,
            ..
        } = self;
        let teacher = asker.user;
        let before = people.status_of(teacher);
        let Some(request) = requests.take(teacher, id, people, cx) else {
            return;
        };
        let session = sessions.start_for_request(asker, &request, people, cx);
        let confidential = people.confidential(&request.subject, Some(teacher));
        let record = request.started_record(teacher, session, confidential, cx);
        cx.out.push(Output::Record(record));
        // In an individual consultation the teacher is busy: students watching the list (or
        // waiting on the teacher's subjects) hear it now, not only those who list them later.
        self.presence_changed(teacher, before);
    }

    /// A teacher creates a group or frontal session, perhaps taking queued requests in.
    fn create_session(&mut self, asker: &Asker, new: NewSession) -> Handled {
        let Hub {
            cx,
            people,
            requests,
            sessions,
            ..
        } = self;
        let plan = sessions.check_new(asker.user, new, people)?;
        let from_requests = plan.pulled_requests().to_vec();
        let students = requests.pullable(&from_requests, plan.subject(), asker.user, people)?;
        let id = sessions.open_group(asker, plan, students, people, cx)?;
        let pulled = requests.pull(&from_requests, people, cx);
        sessions.group_opened(id, &pulled, people, cx);
        Ok(())
    }

    /// A teacher let an offer lapse: probably away from the screen, so they get no more offers
    /// until they say they are available again.
    fn on_offer_expired(&mut self, id: RequestId, teacher: UserId, at: Instant) {
        if !self.requests.offer_stands(id, teacher, at) {
            return;
        }
        let before = self.people.status_of(teacher);
        self.people.set_away(teacher);
        self.requests
            .withdraw_offer(id, teacher, true, &mut self.people, &mut self.cx);
        self.presence_changed(teacher, before);
    }

    fn on_thread_ready(&mut self, purpose: ThreadPurpose, thread: Result<ThreadId, String>) {
        let Hub {
            cx,
            people,
            requests,
            sessions,
            ..
        } = self;
        match purpose {
            ThreadPurpose::Request(id) => requests.thread_ready(id, thread, people, cx),
            ThreadPurpose::Session(id) => sessions.thread_ready(id, thread, people, cx),
        }
        self.settle_ended();
    }

    fn on_media_event(&mut self, id: SessionId, user: UserId, state: MediaState) {
        self.sessions.on_media_event(id, user, state);
    }

    /// A booked slot begins: its session opens, the staff member and its students are invited,
    /// and the queues offer the staff member nothing until it is over.
    fn on_booked_slot(&mut self, teacher: UserId, starts_ms: i64) {
        let Some(slot) = self.bookings.begin(teacher, starts_ms) else {
            return;
        };
        self.open_booked_session(teacher, &slot);
    }

    fn open_booked_session(&mut self, teacher: UserId, slot: &BookedSlot) {
        let Hub {
            cx,
            people,
            sessions,
            bookings,
            ..
        } = self;
        if let Some(session) = sessions.open_booked(teacher, slot, people, cx) {
            bookings.began(session, teacher, slot, cx);
        }
    }

    /// A booked slot's time ran out: a session the staff member and a student never met in
    /// ends as missed (its thread keeps the topic); one they met in goes on.
    fn on_booked_slot_end(&mut self, session: SessionId) {
        let Some(slot) = self.bookings.over(session) else {
            return;
        };
        if self.sessions.met(session) == Some(false) {
            self.sessions
                .end_missed(session, &mut self.people, &mut self.cx);
        }
        self.booked_slot_over(slot.teacher);
    }

    /// A booked slot of `teacher` is over: the queues may offer them requests again.
    fn booked_slot_over(&mut self, teacher: UserId) {
        if !self.bookings.holds(teacher) {
            for subject in self.people.subjects_of(teacher) {
                self.requests.mark_dirty(&subject);
            }
        }
    }

    fn on_hours_changed(&mut self, user: UserId, hours: Vec<HoursSlot>) {
        self.people.set_hours(user, hours);
        self.arm_hours_reminder(user, self.cx.now);
    }

    /// Sets the reminder for the user's next slot after `from`.
    fn arm_hours_reminder(&mut self, user: UserId, from: Now) {
        let next = self
            .people
            .hours_of(user)
            .and_then(|slots| hours::next_start(slots, None, &from));
        if let Some((_, wait)) = next {
            self.cx
                .timers
                .set(hours::reminder_at(&from, wait), Timer::Hours(user));
        }
    }

    /// A slot may have begun: remind the staff member if they are online and not available.
    fn on_hours_timer(&mut self, user: UserId) {
        let Some(slots) = self.people.hours_of(user) else {
            return;
        };
        let begun = hours::beginning(slots, &self.cx.now).cloned();
        let status = self.people.status_of(user);
        if let Some(slot) = begun
            && status != Status::Offline
            && status != Status::Available
        {
            self.cx
                .out
                .send_user(user, ServerMessage::HoursReminder { slot });
        }
        // Re-arm from a minute on, so that this slot is not found again.
        self.arm_hours_reminder(user, hours::a_minute_after(&self.cx.now));
    }
}

/// Whether an input may change what a snapshot keeps: reads and the `signal` relay do not.
fn changes_state(input: &Input) -> bool {
    !matches!(
        input,
        Input::Message {
            msg: ToHub::ListTeachers { .. } | ToHub::ListQueue { .. } | ToHub::Signal { .. },
            ..
        }
    )
}
