//! Changes made on one node that the node running the school must apply: an account or its
//! consultation hours changed (the school's hub hears of it), a user's connections are to
//! close (they run on the school's owner, whichever node holds their socket), a token was
//! revoked (every node refuses it). One node alone applies them at once; a node of a cluster
//! sends them over the bus (`node.rs`). A notice lost while a school moves costs nothing: the
//! new owner's hub reads accounts and hours from the database when it starts.

use crate::app::App;
use konsult_protocol::{CloseCode, SchoolId, UserId};
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

impl App {
    /// Tells the hub of the user's school that an account was created or changed (a school
    /// whose hub has not started reads its accounts when it starts).
    pub async fn user_changed(&self, user: &crate::store::users::User) {
        match self.schools.get(user.school) {
            Some(school) => {
                school
                    .hub
                    .send(konsult_signaling::Input::UserChanged {
                        user: user.info(),
                        active: user.active,
                    })
                    .await;
            }
            None => {
                self.tell_owner(user.school, Notice::UserChanged { user: user.id.0 })
                    .await
            }
        }
    }

    /// Tells the hub of the user's school that their consultation hours are now `hours`.
    pub async fn hours_changed(
        &self,
        user: &crate::store::users::User,
        hours: Vec<konsult_protocol::model::HoursSlot>,
    ) {
        match self.schools.get(user.school) {
            Some(school) => {
                school
                    .hub
                    .send(konsult_signaling::Input::HoursChanged {
                        user: user.id,
                        hours,
                    })
                    .await;
            }
            None => {
                self.tell_owner(user.school, Notice::HoursChanged { user: user.id.0 })
                    .await
            }
        }
    }

    /// Closes every connection of `user` with `code`, wherever it runs.
    pub async fn close_user(&self, user: &crate::store::users::User, code: CloseCode) {
        self.directory.close_user(user.id, code);
        if self.schools.get(user.school).is_none() {
            let notice = Notice::CloseUser {
                user: user.id.0,
                code: code.code(),
            };
            self.tell_owner(user.school, notice).await;
        }
    }

    /// Refuses token `id` until `expires` on this node and on every other.
    pub async fn revoke(&self, id: String, expires: u64, now: u64) {
        self.revoked.revoke(id.clone(), expires, now);
        if let Some(node) = self.node.get() {
            node.tell_all(&Notice::Revoked { id, expires }).await;
        }
    }

    async fn tell_owner(&self, school: SchoolId, notice: Notice) {
        if let Some(node) = self.node.get() {
            node.tell_owner(self, school, &notice).await;
        }
    }
}

/// Applies a notice another node sent.
pub async fn apply(app: &App, notice: Notice) {
    let user_by_id = |id| async move {
        match app.store.user_by_id(UserId(id)).await {
            Ok(user) => user,
            Err(e) => {
                tracing::error!(error = %e, "cannot read the account a notice names");
                None
            }
        }
    };
    match notice {
        Notice::UserChanged { user } => {
            if let Some(user) = user_by_id(user).await
                && app.schools.get(user.school).is_some()
            {
                app.user_changed(&user).await;
            }
        }
        Notice::HoursChanged { user } => {
            if let Some(user) = user_by_id(user).await
                && app.schools.get(user.school).is_some()
            {
                match app.store.hours_of(user.id).await {
                    Ok(hours) => app.hours_changed(&user, hours).await,
                    Err(e) => tracing::error!(error = %e, "cannot read the hours a notice names"),
                }
            }
        }
        Notice::CloseUser { user, code } => {
            if let Some(code) = CloseCode::ALL.into_iter().find(|c| c.code() == code) {
                app.directory.close_user(UserId(user), code);
            }
        }
        Notice::Revoked { id, expires } => {
            app.revoked.revoke(id, expires, crate::auth::unix_now());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
