//! WebRTC negotiation payloads relayed by `signal`: the browser's own
//! `RTCSessionDescriptionInit` and `RTCIceCandidateInit` shapes, so a browser sends what its
//! peer connection produced without translating it.

use crate::ids::UserId;
use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};
use std::fmt;

/// Whether an SDP is an offer or an answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SdpType {
    Offer,
    Answer,
}

/// The `data` of a `signal`: a session description or an ICE candidate.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum SignalData {
    /// An offer or answer (`RTCSessionDescriptionInit`).
    Description {
        #[serde(rename = "type")]
        kind: SdpType,
        sdp: String,
    },
    /// A trickled ICE candidate (`RTCIceCandidateInit`); an empty `candidate` ends the
    /// candidates of a generation.
    Candidate {
        candidate: String,
        #[serde(rename = "sdpMid", default, skip_serializing_if = "Option::is_none")]
        sdp_mid: Option<String>,
        #[serde(
            rename = "sdpMLineIndex",
            default,
            skip_serializing_if = "Option::is_none"
        )]
        sdp_mline_index: Option<u16>,
        #[serde(
            rename = "usernameFragment",
            default,
            skip_serializing_if = "Option::is_none"
        )]
        username_fragment: Option<String>,
    },
}

impl SignalData {
    /// Bytes of text carried, for the size limit.
    pub fn payload_len(&self) -> usize {
        match self {
            SignalData::Description { sdp, .. } => sdp.len(),
            SignalData::Candidate {
                candidate,
                sdp_mid,
                username_fragment,
                ..
            } => {
                candidate.len()
                    + sdp_mid.as_ref().map_or(0, String::len)
                    + username_fragment.as_ref().map_or(0, String::len)
            }
        }
    }
}

/// Who a `signal` is for or from: another member (peer to peer) or the server's SFU.
/// On the wire a user id is a number and the SFU is the string `"sfu"`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SignalPeer {
    User(UserId),
    Sfu,
}

impl Serialize for SignalPeer {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            SignalPeer::User(id) => s.serialize_i64(id.0),
            SignalPeer::Sfu => s.serialize_str("sfu"),
        }
    }
}

impl<'de> Deserialize<'de> for SignalPeer {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct PeerVisitor;
        impl Visitor<'_> for PeerVisitor {
            type Value = SignalPeer;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a user id or \"sfu\"")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<SignalPeer, E> {
                Ok(SignalPeer::User(UserId(v)))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<SignalPeer, E> {
                i64::try_from(v)
                    .map(|v| SignalPeer::User(UserId(v)))
                    .map_err(|_| E::custom("user id out of range"))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<SignalPeer, E> {
                if v == "sfu" {
                    Ok(SignalPeer::Sfu)
                } else {
                    Err(E::invalid_value(de::Unexpected::Str(v), &self))
                }
            }
        }
        d.deserialize_any(PeerVisitor)
    }
}
