//! The server's side of the SFU (`konsult-media`): starts it on the bound sockets, hands it
//! the hub's media work in its own terms, and carries what it produces to members'
//! connections (through the directory) and to the hub.

use crate::directory::Directory;
use crate::drain::Drain;
use crate::hub_handle::{HubHandle, MediaSink};
use crate::wire;
use konsult_config::MediaConfig;
use konsult_media::{Command, MediaSockets, MemberPolicy, Outlet, SessionPolicy, SfuHandle};
use konsult_protocol::model::MediaState;
use konsult_protocol::{ErrorCode, ServerMessage, SessionId, SignalData, SignalPeer, UserId};
use konsult_signaling::{ConnId, Input, MediaCommand};
use std::net::IpAddr;
use std::sync::Arc;

/// Starts the SFU on its bound sockets with the few things it needs of the server (where
/// members' connections are, the hub, the drain signal, its config) and returns the handle for
/// `App.media`; it stops when shutdown begins.
pub fn start(
    config: &MediaConfig,
    directory: Arc<Directory>,
    hub: HubHandle,
    drain: &Drain,
    sockets: MediaSockets,
) -> anyhow::Result<Arc<dyn MediaSink>> {
    let announce = announced_ip(config.announce.as_deref())
        .map_err(|e| anyhow::anyhow!("config key `media.announce`: {e}"))?;
    let outlet = Arc::new(ServerOutlet { directory, hub });
    let mut stopping = drain.watch();
    let shutdown = async move { crate::drain::stopped(&mut stopping).await };
    let sfu = konsult_media::start(sockets, announce, outlet, shutdown)?;
    Ok(Arc::new(sfu))
}

/// `media.announce` as an address; empty or absent: none, and the SFU announces the address
/// it listens on.
fn announced_ip(setting: Option<&str>) -> Result<Option<IpAddr>, std::net::AddrParseError> {
    setting
        .filter(|text| !text.is_empty())
        .map(str::parse)
        .transpose()
}

impl MediaSink for SfuHandle<ServerOutlet> {
    fn command(&self, command: MediaCommand) {
        SfuHandle::command(self, sfu_command(command));
    }
}

/// The hub's media work as the SFU's command.
fn sfu_command(command: MediaCommand) -> Command {
    match command {
        MediaCommand::Signal {
            session,
            user,
            conn,
            data,
        } => Command::Signal {
            session,
            user,
            conn: konsult_media::ConnId(conn.0),
            data,
        },
        MediaCommand::SetPolicy { session, policy } => Command::SetPolicy {
            session,
            policy: SessionPolicy {
                members: policy
                    .members
                    .into_iter()
                    .map(|member| MemberPolicy {
                        user: member.user,
                        may_publish: member.may_publish,
                        muted: member.muted,
                    })
                    .collect(),
            },
        },
        MediaCommand::RemoveMember { session, user } => Command::RemoveMember { session, user },
        MediaCommand::EndSession { session } => Command::EndSession { session },
    }
}

/// Where the SFU's output goes: frames into members' outboxes, media states to the hub.
#[derive(Debug)]
struct ServerOutlet {
    directory: Arc<Directory>,
    hub: HubHandle,
}

impl ServerOutlet {
    fn send(&self, conn: konsult_media::ConnId, msg: &ServerMessage) {
        self.directory
            .send_to_conn(ConnId(conn.0), &wire::encode(msg, None));
    }
}

impl Outlet for ServerOutlet {
    fn signal(&self, conn: konsult_media::ConnId, session: SessionId, data: SignalData) {
        let msg = ServerMessage::Signal {
            session,
            from: SignalPeer::Sfu,
            data,
        };
        self.send(conn, &msg);
    }

    fn error(&self, conn: konsult_media::ConnId, code: ErrorCode, message: String) {
        self.send(conn, &ServerMessage::error(code, message));
    }

    async fn media_state(&self, session: SessionId, user: UserId, state: MediaState) {
        self.hub
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
