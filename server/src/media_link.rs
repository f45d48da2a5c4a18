//! The server's side of the SFU (`konsult-media`): starts it on the bound sockets, hands it
//! the hubs' media work in its own terms, and carries what it produces to members'
//! connections (through the directory) and to the hub of the session's school.
//!
//! One SFU serves every school, and each school's hub counts its own session ids: the SFU's
//! rooms are keyed by [`MediaRoom`], which holds the school beside the session, so two
//! schools' sessions with the same id never share a room.

use crate::directory::Directory;
use crate::drain::Drain;
use crate::hub_handle::MediaSink;
use crate::schools::Schools;
use crate::wire;
use konsult_config::MediaConfig;
use konsult_media::{
    Audience, Command, MediaSockets, MemberPolicy, Outlet, SessionPolicy, SfuHandle,
};
use konsult_protocol::model::MediaState;
use konsult_protocol::{
    ErrorCode, SchoolId, ServerMessage, SessionId, SignalData, SignalPeer, UserId,
};
use konsult_signaling::{ConnId, Input, MediaCommand};
use std::net::IpAddr;
use std::sync::Arc;

/// The SFU's room of one school's session: the school in the high 31 bits of the id the SFU
/// keys its rooms by, the school's session id in the low 32.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MediaRoom {
    pub school: SchoolId,
    pub session: SessionId,
}

impl MediaRoom {
    /// The id the SFU knows the room by; `None` when either id does not fit its 32 bits.
    pub fn key(self) -> Option<SessionId> {
        // The school's 31 bits keep the key positive, as session ids are.
        let school_fits = (0..=i64::from(i32::MAX)).contains(&self.school.0);
        let session_fits = (0..=i64::from(u32::MAX)).contains(&self.session.0);
        (school_fits && session_fits).then_some(SessionId((self.school.0 << 32) | self.session.0))
    }

    /// The school and session of a room the SFU names.
    pub fn of_key(key: SessionId) -> MediaRoom {
        MediaRoom {
            school: SchoolId(key.0 >> 32),
            session: SessionId(key.0 & i64::from(u32::MAX)),
        }
    }
}

/// Starts the SFU on its bound sockets with the few things it needs of the server (where
/// members' connections are, the schools' hubs, the drain signal, its config) and returns the
/// handle for `App.media`; it stops when shutdown begins.
pub fn start(
    config: &MediaConfig,
    directory: Arc<Directory>,
    schools: Arc<Schools>,
    drain: &Drain,
    sockets: MediaSockets,
) -> anyhow::Result<Arc<dyn MediaSink>> {
    let announce = announced_ip(config.announce.as_deref())
        .map_err(|e| anyhow::anyhow!("config key `media.announce`: {e}"))?;
    let outlet = Arc::new(ServerOutlet {
        directory: directory.clone(),
        schools,
    });
    let mut stopping = drain.watch();
    let shutdown = async move { crate::drain::stopped(&mut stopping).await };
    let sfu = konsult_media::start(sockets, announce, outlet, shutdown)?;
    Ok(Arc::new(SchoolsSfu { sfu, directory }))
}

/// `media.announce` as an address; empty or absent: none, and the SFU announces the address
/// it listens on.
fn announced_ip(setting: Option<&str>) -> Result<Option<IpAddr>, std::net::AddrParseError> {
    setting
        .filter(|text| !text.is_empty())
        .map(str::parse)
        .transpose()
}

/// The SFU as the hubs see it: commands of a school's hub go to that school's rooms.
#[derive(Debug)]
struct SchoolsSfu {
    sfu: SfuHandle<ServerOutlet>,
    /// To answer a member whose `signal` cannot reach a room.
    directory: Arc<Directory>,
}

impl MediaSink for SchoolsSfu {
    fn command(&self, school: SchoolId, command: MediaCommand) {
        match sfu_command(school, command) {
            Ok(command) => self.sfu.command(command),
            Err(MediaCommand::Signal { session, conn, .. }) => {
                let msg = ServerMessage::error(
                    ErrorCode::Unavailable,
                    format!("session {session} cannot use the media server"),
                );
                self.directory.send_to_conn(conn, &wire::encode(&msg, None));
            }
            Err(command) => {
                tracing::error!(?command, %school, "a session id past the media server's rooms");
            }
        }
    }
}

/// A hub's media work as the SFU's command, in the room of the school's session; the command
/// back when its ids do not fit a room's key.
fn sfu_command(school: SchoolId, command: MediaCommand) -> Result<Command, MediaCommand> {
    let session = match &command {
        MediaCommand::Signal { session, .. }
        | MediaCommand::SetPolicy { session, .. }
        | MediaCommand::RemoveMember { session, .. }
        | MediaCommand::EndSession { session }
        | MediaCommand::View { session, .. } => *session,
    };
    let Some(room) = (MediaRoom { school, session }).key() else {
        return Err(command);
    };
    Ok(match command {
        MediaCommand::Signal {
            user, conn, data, ..
        } => Command::Signal {
            session: room,
            user,
            conn: konsult_media::ConnId(conn.0),
            data,
        },
        MediaCommand::SetPolicy { policy, .. } => Command::SetPolicy {
            session: room,
            policy: SessionPolicy {
                members: policy
                    .members
                    .into_iter()
                    .map(|member| MemberPolicy {
                        user: member.user,
                        audio_to: audience(member.audio_to),
                        video_to: audience(member.video_to),
                        muted: member.muted,
                    })
                    .collect(),
            },
        },
        MediaCommand::RemoveMember { user, .. } => Command::RemoveMember {
            session: room,
            user,
        },
        MediaCommand::EndSession { .. } => Command::EndSession { session: room },
        MediaCommand::View { user, video, .. } => Command::View {
            session: room,
            user,
            video,
        },
    })
}

/// The hub's audience as the SFU takes it.
fn audience(audience: konsult_signaling::Audience) -> Audience {
    match audience {
        konsult_signaling::Audience::Everyone => Audience::Everyone,
        konsult_signaling::Audience::Only(users) => Audience::Only(users),
    }
}

/// Where the SFU's output goes: frames into members' outboxes, media states to the hub of
/// the room's school.
#[derive(Debug)]
struct ServerOutlet {
    directory: Arc<Directory>,
    schools: Arc<Schools>,
}

impl ServerOutlet {
    fn send(&self, conn: konsult_media::ConnId, msg: &ServerMessage) {
        self.directory
            .send_to_conn(ConnId(conn.0), &wire::encode(msg, None));
    }
}

impl Outlet for ServerOutlet {
    fn signal(&self, conn: konsult_media::ConnId, room: SessionId, data: SignalData) {
        let msg = ServerMessage::Signal {
            session: MediaRoom::of_key(room).session,
            from: SignalPeer::Sfu,
            data,
        };
        self.send(conn, &msg);
    }

    fn error(&self, conn: konsult_media::ConnId, code: ErrorCode, message: String) {
        self.send(conn, &ServerMessage::error(code, message));
    }

    async fn media_state(&self, room: SessionId, user: UserId, state: MediaState) {
        let MediaRoom { school, session } = MediaRoom::of_key(room);
        let Some(school) = self.schools.get(school) else {
            return;
        };
        school
            .hub
            .send(Input::Media {
                session,
                user,
                state,
            })
            .await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_schools_sessions_of_the_same_id_have_rooms_of_their_own() {
        let a = MediaRoom {
            school: SchoolId(1),
            session: SessionId(7),
        };
        let b = MediaRoom {
            school: SchoolId(2),
            session: SessionId(7),
        };
        let (ka, kb) = (a.key().unwrap(), b.key().unwrap());
        assert_ne!(ka, kb);
        assert_eq!(MediaRoom::of_key(ka), a);
        assert_eq!(MediaRoom::of_key(kb), b);
        let last = MediaRoom {
            school: SchoolId(i64::from(i32::MAX)),
            session: SessionId(i64::from(u32::MAX)),
        };
        assert_eq!(MediaRoom::of_key(last.key().unwrap()), last);
        assert!(last.key().unwrap().0 > 0);
        let past = MediaRoom {
            school: SchoolId(1),
            session: SessionId(1 << 32),
        };
        assert_eq!(past.key(), None, "never folded onto another room");
        // The commands of both schools' hubs land in different rooms.
        let end = |school| match sfu_command(
            school,
            MediaCommand::EndSession {
                session: SessionId(7),
            },
        ) {
            Ok(Command::EndSession { session }) => session,
            other => panic!("{other:?}"),
        };
        assert_ne!(end(SchoolId(1)), end(SchoolId(2)));
    }

    #[test]
    fn an_empty_announce_setting_is_none_and_a_bad_one_an_error() {
        assert_eq!(announced_ip(None), Ok(None));
        assert_eq!(announced_ip(Some("")), Ok(None));
        assert_eq!(
            announced_ip(Some("192.0.2.7")),
            Ok(Some("192.0.2.7".parse().unwrap()))
        );
        assert!(announced_ip(Some("not an ip")).is_err());
    }
}
