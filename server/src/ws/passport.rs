//! An edge node's word for a bridged connection (`bridge.rs`): the client's address and the
//! account its `hello` proved, sealed with the cluster's shared secret (`auth.jwt_secret`), so
//! that the school's owner runs the connection without asking the store about the token a
//! second time. A passport that is not sealed right, names another connection, edge or school,
//! or is older than [`VALID_FOR`] (an older node's plain address, a forgery or a replay on the
//! bus) vouches for nothing: the owner then checks the `hello` itself, as for any client.

use crate::seal::Seal;
use crate::store::users::User;
use bytes::Bytes;
use konsult_cluster::{NodeId, SchoolId as SchoolCode};
use konsult_protocol::model::Role;
use konsult_protocol::{SchoolId, UserId};
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;

/// Seconds a passport vouches for its connection after the edge issued it, either way of the
/// owner's clock.
pub const VALID_FOR: u64 = 60;
const SEAL_LEN: usize = 32;

/// What the edge vouches for, bound to one connection of one edge to one school.
#[derive(Serialize, Deserialize)]
struct Body {
    edge: String,
    connection: u64,
    school: String,
    /// Unix seconds.
    issued: u64,
    peer: SocketAddr,
    user: Account,
}

/// The account as a connection uses it: never its password's hash. Only active accounts are
/// vouched for.
#[derive(Serialize, Deserialize)]
struct Account {
    id: UserId,
    school: SchoolId,
    login: String,
    name: String,
    role: Role,
    class: Option<String>,
    subjects: Vec<String>,
    token_version: i64,
    anonymous: bool,
}

/// A bridged connection as its owner learns of it.
#[derive(Debug)]
pub struct Arrival {
    /// The client's address, as the edge saw it.
    pub peer: SocketAddr,
    /// The account the edge vouches for; `None`: the owner checks the `hello` itself.
    pub user: Option<User>,
}

/// Where the connection goes and who vouches.
#[derive(Debug, Clone, Copy)]
pub struct Route<'a> {
    pub edge: &'a NodeId,
    pub connection: u64,
    pub school: &'a SchoolCode,
}

impl Route<'_> {
    /// The passport of the client at `peer` whose `hello` proved `user`, issued at `now` (unix
    /// seconds): the payload of the bridge's `Open`.
    pub fn issue(&self, seal: &Seal, peer: SocketAddr, user: &User, now: u64) -> Bytes {
        let body = Body {
            edge: self.edge.0.clone(),
            connection: self.connection,
            school: self.school.0.clone(),
            issued: now,
            peer,
            user: Account {
                id: user.id,
                school: user.school,
                login: user.login.clone(),
                name: user.name.clone(),
                role: user.role,
                class: user.class.clone(),
                subjects: user.subjects.clone(),
                token_version: user.token_version,
                anonymous: user.anonymous,
            },
        };
        let body = serde_json::to_vec(&body)
            .unwrap_or_else(|_| unreachable!("a passport's fields always serialize"));
        let mut payload = Vec::with_capacity(SEAL_LEN + body.len());
        payload.extend_from_slice(&seal.passport_seal(&body));
        payload.extend_from_slice(&body);
        Bytes::from(payload)
    }

    /// What an `Open` payload tells the owner at `now` (unix seconds).
    pub fn read(&self, seal: &Seal, payload: &[u8], now: u64) -> Arrival {
        let unknown = SocketAddr::from(([0, 0, 0, 0], 0));
        if let Some(arrival) = self.vouched(seal, payload, now) {
            return arrival;
        }
        // An older node's payload: the client's address alone.
        let peer = std::str::from_utf8(payload)
            .ok()
            .and_then(|p| p.parse().ok())
            .unwrap_or(unknown);
        Arrival { peer, user: None }
    }

    fn vouched(&self, seal: &Seal, payload: &[u8], now: u64) -> Option<Arrival> {
        if payload.len() <= SEAL_LEN {
            return None;
        }
        let (tag, body) = payload.split_at(SEAL_LEN);
        if !seal.passport_sealed(body, tag) {
            tracing::debug!(edge = %self.edge, "a passport not sealed with this cluster's secret");
            return None;
        }
        let body: Body = serde_json::from_slice(body).ok()?;
        let fresh = body.issued.abs_diff(now) <= VALID_FOR;
        let this = body.edge == self.edge.0
            && body.connection == self.connection
            && body.school == self.school.0;
        if !(fresh && this) {
            tracing::debug!(edge = %self.edge, fresh, "a passport for another connection or time");
            return None;
        }
        let a = body.user;
        Some(Arrival {
            peer: body.peer,
            user: Some(User {
                id: a.id,
                school: a.school,
                login: a.login,
                name: a.name,
                role: a.role,
                class: a.class,
                subjects: a.subjects,
                password_hash: None,
                active: true,
                token_version: a.token_version,
                anonymous: a.anonymous,
            }),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user() -> User {
        User {
            id: UserId(7),
            school: SchoolId(2),
            login: "ivanova".into(),
            name: "Анна Иванова".into(),
            role: Role::Student,
            class: Some("9Б".into()),
            subjects: vec![],
            password_hash: Some("$argon2id$…".into()),
            active: true,
            token_version: 3,
            anonymous: false,
        }
    }

    #[test]
    fn the_owner_reads_what_the_edge_vouched_for_and_nothing_else() {
        let seal = Seal::new(b"one secret of at least thirty-two bytes");
        let (edge, school) = (NodeId("n1".into()), SchoolCode("demo".into()));
        let route = Route {
            edge: &edge,
            connection: 41,
            school: &school,
        };
        let peer: SocketAddr = "10.1.2.3:5555".parse().unwrap();
        let payload = route.issue(&seal, peer, &user(), 1_000);
        assert!(!String::from_utf8_lossy(&payload).contains("argon2"));

        let arrival = route.read(&seal, &payload, 1_030);
        assert_eq!(arrival.peer, peer);
        let vouched = arrival.user.expect("vouched");
        assert_eq!((vouched.id, vouched.school), (UserId(7), SchoolId(2)));
        assert_eq!(vouched.class.as_deref(), Some("9Б"));
        assert_eq!((vouched.token_version, vouched.password_hash), (3, None));

        // Too old, another connection, another edge, another school, another secret, a
        // changed byte: the owner checks the hello itself.
        assert!(
            route
                .read(&seal, &payload, 1_000 + VALID_FOR + 1)
                .user
                .is_none()
        );
        let other_conn = Route {
            connection: 42,
            ..route
        };
        assert!(other_conn.read(&seal, &payload, 1_000).user.is_none());
        let n2 = NodeId("n2".into());
        let other_edge = Route { edge: &n2, ..route };
        assert!(other_edge.read(&seal, &payload, 1_000).user.is_none());
        let elsewhere = SchoolCode("other".into());
        let other_school = Route {
            school: &elsewhere,
            ..route
        };
        assert!(other_school.read(&seal, &payload, 1_000).user.is_none());
        let stranger = Seal::new(b"another secret of at least thirty-two b");
        assert!(route.read(&stranger, &payload, 1_000).user.is_none());
        let mut forged = payload.to_vec();
        let last = forged.len() - 3;
        forged[last] ^= 1;
        assert!(route.read(&seal, &forged, 1_000).user.is_none());
    }

    #[test]
    fn an_older_nodes_plain_address_is_read_as_before() {
        let seal = Seal::new(b"one secret of at least thirty-two bytes");
        let (edge, school) = (NodeId("n1".into()), SchoolCode("demo".into()));
        let route = Route {
            edge: &edge,
            connection: 1,
            school: &school,
        };
        let arrival = route.read(&seal, b"[::1]:4000", 0);
        assert_eq!(arrival.peer, "[::1]:4000".parse().unwrap());
        assert!(arrival.user.is_none());
        assert_eq!(route.read(&seal, b"junk", 0).peer.port(), 0);
    }
}
