//! One session on the SFU: its members' peers and media policy, and the forwarding between
//! them: who receives which track, when a keyframe is needed, what a mute or a revoked floor
//! stops.

use crate::command::{ConnId, MemberPolicy, SessionPolicy};
use crate::peer::{Endpoint, Forwarded, NegotiationError, OutState, Peer, PeerEvent, Transport};
use konsult_protocol::model::{MediaState, TrackKind};
use konsult_protocol::{ErrorCode, SdpType, SessionId, SignalData, UserId};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Instant;
use str0m::media::{MediaData, Mid};

/// What a room wants done outside the SFU task.
#[derive(Debug, Default)]
pub struct Effects {
    /// `signal` from the SFU to a member's connection.
    pub signals: Vec<(ConnId, SessionId, SignalData)>,
    /// Members' media states, for the sessions' owner.
    pub states: Vec<(SessionId, UserId, MediaState)>,
    /// Errors for a member's connection.
    pub errors: Vec<(ConnId, ErrorCode, String)>,
}

/// A session's peers and rules.
#[derive(Debug)]
pub struct Room {
    pub session: SessionId,
    /// The latest rules by member; until the first, nothing is forwarded.
    policy: HashMap<UserId, MemberPolicy>,
    /// Whose video each member receives, when it said (`media_view`); the others' tracks stay
    /// negotiated but carry nothing until shown again, from a keyframe.
    views: HashMap<UserId, HashSet<UserId>>,
    pub peers: BTreeMap<UserId, Peer>,
}

impl Room {
    pub fn new(session: SessionId) -> Room {
        Room {
            session,
            policy: HashMap::new(),
            views: HashMap::new(),
            peers: BTreeMap::new(),
        }
    }

    /// A member's negotiation message.
    pub fn signal(
        &mut self,
        user: UserId,
        conn: ConnId,
        data: SignalData,
        endpoint: Endpoint,
        now: Instant,
        fx: &mut Effects,
    ) {
        let result = match data {
            SignalData::Description {
                kind: SdpType::Offer,
                sdp,
            } => {
                let fresh = match self.peers.get(&user) {
                    Some(peer) => peer.conn != conn || !peer.rtc.is_alive(),
                    None => true,
                };
                if fresh {
                    // A new device, or a member coming back after a failure, starts over.
                    self.peers
                        .insert(user, Peer::new(user, conn, endpoint, now));
                    self.sync(now);
                }
                let peer = self
                    .peers
                    .get_mut(&user)
                    .expect("inserted above when missing");
                match peer.accept_offer(&sdp) {
                    Ok(answer) => {
                        fx.signals.push((
                            conn,
                            self.session,
                            SignalData::Description {
                                kind: SdpType::Answer,
                                sdp: answer,
                            },
                        ));
                        Ok(())
                    }
                    Err(e) => {
                        if fresh {
                            self.peers.remove(&user);
                        }
                        Err(e)
                    }
                }
            }
            SignalData::Description {
                kind: SdpType::Answer,
                sdp,
            } => match self.peers.get_mut(&user).filter(|p| p.conn == conn) {
                Some(peer) => match peer.accept_answer(&sdp) {
                    // A member not settled yet is served when it settles (see `drive`): a
                    // keyframe asked for now would pass before it can receive it.
                    Ok(()) if peer.receives(now) => {
                        let sources = peer.awaiting_keyframes();
                        self.ask_keyframes(&sources, now);
                        Ok(())
                    }
                    other => other,
                },
                None => Err(NegotiationError::NoPendingOffer),
            },
            SignalData::Candidate { candidate, .. } => {
                match self.peers.get_mut(&user).filter(|p| p.conn == conn) {
                    Some(peer) => peer.add_candidate(&candidate),
                    None => {
                        fx.errors.push((
                            conn,
                            ErrorCode::Conflict,
                            "send an offer to the media server before candidates".into(),
                        ));
                        return;
                    }
                }
            }
        };
        if let Err(e) = result {
            let code = match e {
                NegotiationError::NoPendingOffer => ErrorCode::Conflict,
                _ => ErrorCode::BadRequest,
            };
            fx.errors.push((conn, code, e.to_string()));
        }
    }

    /// The session's new rules.
    pub fn set_policy(&mut self, policy: SessionPolicy, now: Instant) {
        self.policy = policy.members.into_iter().map(|m| (m.user, m)).collect();
        self.sync(now);
    }

    /// Member `user` receives only the video of `video` from now on (`None`: everyone's).
    pub fn set_view(&mut self, user: UserId, video: Option<Vec<UserId>>, now: Instant) {
        match video {
            Some(shown) => self.views.insert(user, shown.into_iter().collect()),
            None => self.views.remove(&user),
        };
        self.sync(now);
    }

    /// A member left: its peer closes and its tracks stop for everyone.
    pub fn remove(&mut self, user: UserId, now: Instant) {
        if let Some(mut peer) = self.peers.remove(&user) {
            peer.rtc.disconnect();
        }
        self.policy.remove(&user);
        self.views.remove(&user);
        self.sync(now);
    }

    /// Brings every member's forwarded tracks in line with the peers and the policy: a track
    /// is offered to a member only while its publisher is there and the publisher's audience
    /// for that kind includes the member (see [`MemberPolicy::reaches`]); one that leaves the
    /// audience is stopped by renegotiation, so not a packet of it reaches that member. A
    /// track offered but muted or out of the member's view stays negotiated and carries
    /// nothing; allowed again, video waits for a keyframe.
    fn sync(&mut self, now: Instant) {
        let sources: Vec<(UserId, Mid, TrackKind)> = self
            .peers
            .values()
            .filter(|p| p.rtc.is_alive())
            .flat_map(|p| {
                p.published
                    .iter()
                    .filter(|t| t.active)
                    .map(|t| (p.user, t.mid, t.kind))
            })
            .collect();
        let live: HashSet<(UserId, Mid)> = sources.iter().map(|&(u, m, _)| (u, m)).collect();
        let policy = &self.policy;
        let mut keyframes = Vec::new();
        for peer in self.peers.values_mut() {
            // A member not settled yet asks when it settles (see `drive`).
            let receives = peer.receives(now);
            let subscriber = peer.user;
            let view = self.views.get(&subscriber);
            let offered = |source: UserId, mid: Mid, kind: TrackKind| {
                live.contains(&(source, mid))
                    && policy.contains_key(&subscriber)
                    && policy
                        .get(&source)
                        .is_some_and(|p| p.reaches(kind, subscriber))
            };
            for track in &mut peer.forwarded {
                if let OutState::Open(mid) | OutState::Negotiating(mid) = track.state
                    && !offered(track.source, track.source_mid, track.kind)
                {
                    track.state = OutState::ToStop(mid);
                }
            }
            peer.forwarded
                .retain(|t| t.state != OutState::ToOpen || offered(t.source, t.source_mid, t.kind));
            for &(source, mid, kind) in &sources {
                if !offered(source, mid, kind) {
                    continue;
                }
                // A track being stopped is offered anew beside it.
                let known = peer.forwarded.iter().any(|t| {
                    t.source == source
                        && t.source_mid == mid
                        && !matches!(t.state, OutState::ToStop(_) | OutState::NegotiatingStop(_))
                });
                if !known {
                    peer.forwarded.push(Forwarded {
                        source,
                        source_mid: mid,
                        kind,
                        state: OutState::ToOpen,
                        needs_keyframe: kind != TrackKind::Audio,
                        allowed: false,
                    });
                }
            }
            for track in &mut peer.forwarded {
                let shown = track.kind == TrackKind::Audio
                    || view.is_none_or(|shown| shown.contains(&track.source));
                let stopping = matches!(
                    track.state,
                    OutState::ToStop(_) | OutState::NegotiatingStop(_)
                );
                let now_allowed = shown
                    && !stopping
                    && offered(track.source, track.source_mid, track.kind)
                    && policy
                        .get(&track.source)
                        .is_some_and(|p| !p.muted.contains(&track.kind));
                if now_allowed && !track.allowed && track.kind != TrackKind::Audio {
                    track.needs_keyframe = true;
                    if receives {
                        keyframes.push((track.source, track.source_mid));
                    }
                }
                track.allowed = now_allowed;
            }
        }
        self.ask_keyframes(&keyframes, now);
        // Tracks to offer or stop: every peer is polled at the next drive.
        self.wake_all();
    }

    /// Marks every peer to be polled at the next [`Room::drive`] (after a command: an offer,
    /// an answer, a new policy).
    pub fn wake_all(&mut self) {
        for peer in self.peers.values_mut() {
            peer.woken = true;
        }
    }

    /// Feeds due timeouts, then polls every woken peer (new input, a frame written to it, a
    /// keyframe asked through it) until none is: datagrams go out, frames are forwarded,
    /// offers and states are collected in `fx`. Peers with nothing new are left alone: with
    /// hundreds of members, polling every peer after each datagram cost more than forwarding.
    pub fn drive(&mut self, transport: Transport<'_>, now: Instant, fx: &mut Effects) {
        for peer in self.peers.values_mut() {
            if peer.timeout <= now && peer.rtc.is_alive() {
                peer.woken = true;
                if let Err(e) = peer.rtc.handle_input(str0m::Input::Timeout(now)) {
                    tracing::info!(user = %peer.user, error = %e, "SFU peer failed");
                    peer.rtc.disconnect();
                }
            }
        }
        let mut settled = Vec::new();
        for peer in self.peers.values_mut() {
            if let Some(sources) = peer.settle(now) {
                settled.extend(sources);
            }
        }
        self.ask_keyframes(&settled, now);
        loop {
            let users: Vec<UserId> = self
                .peers
                .values()
                .filter(|p| p.woken)
                .map(|p| p.user)
                .collect();
            if users.is_empty() {
                break;
            }
            for user in users {
                let mut events = Vec::new();
                let Some(peer) = self.peers.get_mut(&user) else {
                    continue;
                };
                peer.woken = false;
                if let Some(offer) = peer.offer_if_needed() {
                    fx.signals.push((
                        peer.conn,
                        self.session,
                        SignalData::Description {
                            kind: SdpType::Offer,
                            sdp: offer,
                        },
                    ));
                }
                peer.poll(transport, now, &mut events);
                for event in events {
                    self.on_event(user, event, now, fx);
                }
            }
            let dead: Vec<UserId> = self
                .peers
                .values()
                .filter(|p| !p.rtc.is_alive())
                .map(|p| p.user)
                .collect();
            for user in &dead {
                self.peers.remove(user);
            }
            if !dead.is_empty() {
                self.sync(now);
            }
        }
        self.report_states(now, fx);
    }

    /// Reports each connected member's media state when it changed (`connected`,
    /// `audio_only`).
    fn report_states(&mut self, now: Instant, fx: &mut Effects) {
        for peer in self.peers.values_mut() {
            if let Some(state) = peer.media_state(now)
                && peer.reported != Some(state)
            {
                peer.reported = Some(state);
                fx.states.push((self.session, peer.user, state));
            }
        }
    }

    fn on_event(&mut self, user: UserId, event: PeerEvent, now: Instant, fx: &mut Effects) {
        match event {
            // Reported with what the connection carries, once the peers are polled.
            PeerEvent::Connected => {}
            PeerEvent::Failed => {
                if let Some(peer) = self.peers.get_mut(&user) {
                    peer.reported = Some(MediaState::Failed);
                }
                fx.states.push((self.session, user, MediaState::Failed));
            }
            PeerEvent::Published => self.sync(now),
            PeerEvent::Media(data) => self.forward(user, &data, now),
            PeerEvent::KeyframeWanted(mid) => {
                let source = self.peers.get(&user).and_then(|p| {
                    p.forwarded
                        .iter()
                        .find(|t| t.open_mid() == Some(mid))
                        .map(|t| (t.source, t.source_mid))
                });
                if let Some((source, source_mid)) = source
                    && let Some(publisher) = self.peers.get_mut(&source)
                {
                    publisher.request_keyframe(source_mid, now);
                }
            }
        }
    }

    /// Sends a publisher's frame to every member allowed to receive it.
    fn forward(&mut self, source: UserId, data: &MediaData, now: Instant) {
        let keyframe = data.is_keyframe();
        let mut wants_keyframe = !data.contiguous;
        let mut frames = 0u64;
        for peer in self.peers.values_mut() {
            // What is written before the member's connection is up and settled is lost, while
            // the track would think its keyframe was sent. The first frame after that asks the
            // publisher for a keyframe.
            if peer.user == source || !peer.receives(now) {
                continue;
            }
            // Beside a track being stopped there may be its successor: the open one carries.
            let Some(track) = peer
                .forwarded
                .iter_mut()
                .find(|t| t.source == source && t.source_mid == data.mid && t.open_mid().is_some())
            else {
                continue;
            };
            let Some(mid) = track.open_mid().filter(|_| track.allowed) else {
                continue;
            };
            if track.needs_keyframe && !keyframe {
                wants_keyframe = true;
                continue;
            }
            // The gate opens only once a keyframe is really written: if it is not, the next
            // delta frame would reach a decoder that cannot start from it.
            let gated = track.needs_keyframe;
            if peer.write(mid, data) {
                frames += 1;
                if gated
                    && let Some(track) = peer.forwarded.iter_mut().find(|t| {
                        t.source == source && t.source_mid == data.mid && t.open_mid().is_some()
                    })
                {
                    track.needs_keyframe = false;
                }
            } else if gated {
                wants_keyframe = true;
            }
        }
        if frames > 0 {
            use crate::metrics::{FORWARDED_BYTES, FORWARDED_FRAMES};
            metrics::counter!(FORWARDED_FRAMES).increment(frames);
            metrics::counter!(FORWARDED_BYTES).increment(frames * data.data.len() as u64);
        }
        if wants_keyframe && let Some(publisher) = self.peers.get_mut(&source) {
            publisher.request_keyframe(data.mid, now);
        }
    }

    /// Asks each (publisher, track) for a keyframe, within the publisher's request limit.
    fn ask_keyframes(&mut self, sources: &[(UserId, Mid)], now: Instant) {
        for &(source, mid) in sources {
            if let Some(publisher) = self.peers.get_mut(&source) {
                publisher.request_keyframe(mid, now);
            }
        }
    }

    /// The earliest time a peer wants to be driven.
    pub fn next_timeout(&self) -> Option<Instant> {
        self.peers
            .values()
            .filter(|p| p.rtc.is_alive())
            .map(Peer::wake_at)
            .min()
    }
}
