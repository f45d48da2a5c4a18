//! Changes made on one node that the node running the school must apply: an account or its
//! consultation hours changed (the school's hub hears of it), a user's connections are to
//! close (they run on the school's owner, whichever node holds their socket), a token was
//! revoked (every node refuses it). One node alone applies them at once (`app.rs`); a node of
//! a cluster sends them over the bus (`node.rs`) and applies those it receives
//! (`bus_inbox.rs`). A notice lost while a school moves costs nothing: the new owner's hub
//! reads accounts and hours from the database when it starts.

use serde::{Deserialize, Serialize};

/// One change to apply.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "notice", rename_all = "snake_case")]
pub enum Notice {
    /// The account was created or changed: the hub reads it again.
    UserChanged { user: i64 },
    /// The account's consultation hours changed: the hub reads them again.
    HoursChanged { user: i64 },
    /// The user's connections close with `code`.
    CloseUser { user: i64, code: u16 },
    /// A token was revoked (`POST /api/logout`) until `expires` (unix seconds).
    Revoked { id: String, expires: u64 },
}

#[cfg(test)]
mod tests {
    use super::*;
    use konsult_protocol::CloseCode;

    #[test]
    fn a_notice_survives_its_bus_form() {
        let notices = [
            Notice::UserChanged { user: 7 },
            Notice::HoursChanged { user: 8 },
            Notice::CloseUser {
                user: 9,
                code: CloseCode::AccountDisabled.code(),
            },
            Notice::Revoked {
                id: "abc".into(),
                expires: 1_800_000_000,
            },
        ];
        for notice in notices {
            let json = serde_json::to_vec(&notice).expect("encodes");
            let back: Notice = serde_json::from_slice(&json).expect("decodes");
            assert_eq!(back, notice);
        }
        assert!(serde_json::from_slice::<Notice>(br#"{"notice":"reboot"}"#).is_err());
    }
}
