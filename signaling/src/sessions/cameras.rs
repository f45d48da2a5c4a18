//! Who sees the students' cameras in a frontal session: the host's (or a co-host's)
//! `show_cameras`. The
//! forwarding that follows from it is in the session's media policy (see `media.rs`).

use super::Sessions;
use crate::ctx::Ctx;
use crate::refusal::{Asker, Handled, Refusal};
use konsult_protocol::SessionId;
use konsult_protocol::model::{Cameras, Form};

impl Sessions {
    /// The host or a co-host shows the students' cameras to the class, or keeps them to the
    /// host and co-hosts again.
    pub fn show_cameras(
        &mut self,
        asker: &Asker,
        id: SessionId,
        to: Cameras,
        cx: &mut Ctx,
    ) -> Handled {
        let s = self.moderated_session(asker.user, id)?;
        if s.form != Form::Frontal {
            return Err(Refusal::conflict(
                "only a frontal session keeps the students' cameras to the host",
            ));
        }
        let s = self.sessions.get_mut(&id).expect("checked");
        let class = to == Cameras::Class;
        if s.class_sees_cameras != class {
            s.class_sees_cameras = class;
            s.dirty = true;
        }
        cx.out.ok(asker);
        self.update_media_policy(id, cx);
        Ok(())
    }
}
