//! Consultation hours, the links on the public help page, and the append-only audit log in
//! SQLite.

use super::SqliteStore;
use crate::school::{AuditEntry, HelpLink};
use crate::{StoreError, now_ms};
use konsult_protocol::model::{HoursSlot, Mode};
use konsult_protocol::{SchoolId, UserId};

/// `id, ts, actor, actor login, action, target, details` of an audit entry.
type AuditRow = (
    i64,
    i64,
    Option<i64>,
    Option<String>,
    String,
    Option<String>,
    String,
);

impl SqliteStore {
    /// A staff member's weekly hours.
    pub(crate) async fn hours_of(&self, user: UserId) -> Result<Vec<HoursSlot>, StoreError> {
        let rows: Vec<(String, i64, String, String, String)> = sqlx::query_as(
            "SELECT subject, weekday, start, \"end\", mode FROM hours WHERE user_id = ? \
             ORDER BY weekday, start",
        )
        .bind(user.0)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().map(slot_from_row).collect())
    }

    /// Everyone's hours, for the hub at start and the help page.
    pub(crate) async fn all_hours(
        &self,
        school: SchoolId,
    ) -> Result<Vec<(UserId, Vec<HoursSlot>)>, StoreError> {
        let rows: Vec<(i64, String, i64, String, String, String)> = sqlx::query_as(
            "SELECT user_id, subject, weekday, start, \"end\", mode FROM hours \
             WHERE school_id = ? ORDER BY user_id, weekday, start",
        )
        .bind(school.0)
        .fetch_all(&self.pool)
        .await?;
        let mut out: Vec<(UserId, Vec<HoursSlot>)> = Vec::new();
        for (user, subject, weekday, start, end, mode) in rows {
            let slot = slot_from_row((subject, weekday, start, end, mode));
            match out.last_mut() {
                Some((u, slots)) if u.0 == user => slots.push(slot),
                _ => out.push((UserId(user), vec![slot])),
            }
        }
        Ok(out)
    }

    /// Replaces a staff member's hours.
    pub(crate) async fn set_hours(
        &self,
        user: UserId,
        hours: &[HoursSlot],
    ) -> Result<(), StoreError> {
        let mut tx = self.write_tx().await?;
        sqlx::query("DELETE FROM hours WHERE user_id = ?")
            .bind(user.0)
            .execute(&mut *tx)
            .await?;
        for slot in hours {
            sqlx::query(
                "INSERT INTO hours (school_id, user_id, subject, weekday, start, \"end\", mode) \
                 SELECT school_id, id, ?, ?, ?, ?, ? FROM users WHERE id = ?",
            )
            .bind(&slot.subject)
            .bind(i64::from(slot.weekday))
            .bind(&slot.start)
            .bind(&slot.end)
            .bind(slot.mode.as_str())
            .bind(user.0)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    pub(crate) async fn help_links(&self, school: SchoolId) -> Result<Vec<HelpLink>, StoreError> {
        let rows: Vec<(String, String)> = sqlx::query_as(
            "SELECT title, url FROM help_links WHERE school_id = ? ORDER BY position, id",
        )
        .bind(school.0)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|(title, url)| HelpLink { title, url })
            .collect())
    }

    pub(crate) async fn set_help_links(
        &self,
        school: SchoolId,
        links: &[HelpLink],
    ) -> Result<(), StoreError> {
        let mut tx = self.write_tx().await?;
        sqlx::query("DELETE FROM help_links WHERE school_id = ?")
            .bind(school.0)
            .execute(&mut *tx)
            .await?;
        for (i, link) in links.iter().enumerate() {
            sqlx::query(
                "INSERT INTO help_links (school_id, title, url, position) VALUES (?, ?, ?, ?)",
            )
            .bind(school.0)
            .bind(&link.title)
            .bind(&link.url)
            .bind(i as i64)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Appends to the audit log.
    pub(crate) async fn audit(
        &self,
        school: SchoolId,
        actor: Option<UserId>,
        action: &str,
        target: Option<&str>,
        details: serde_json::Value,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO audit_log (school_id, ts, actor, action, target, details) \
             VALUES (?, ?, ?, ?, ?, ?)",
        )
        .bind(school.0)
        .bind(now_ms())
        .bind(actor.map(|a| a.0))
        .bind(action)
        .bind(target)
        .bind(details.to_string())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The newest audit entries, before `before` (an id) when given.
    pub(crate) async fn audit_log(
        &self,
        school: SchoolId,
        before: Option<i64>,
        limit: i64,
    ) -> Result<Vec<AuditEntry>, StoreError> {
        let rows: Vec<AuditRow> = sqlx::query_as(
            "SELECT a.id, a.ts, a.actor, u.login, a.action, a.target, a.details \
                 FROM audit_log a LEFT JOIN users u ON u.id = a.actor \
                 WHERE (?1 IS NULL OR a.id < ?1) AND a.school_id = ?3 \
                 ORDER BY a.id DESC LIMIT ?2",
        )
        .bind(before)
        .bind(limit)
        .bind(school.0)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(
                |(id, ts, actor, actor_login, action, target, details)| AuditEntry {
                    id,
                    ts,
                    actor,
                    actor_login,
                    action,
                    target,
                    details: serde_json::from_str(&details).unwrap_or(serde_json::Value::Null),
                },
            )
            .collect())
    }
}

fn slot_from_row(
    (subject, weekday, start, end, mode): (String, i64, String, String, String),
) -> HoursSlot {
    HoursSlot {
        subject,
        weekday: weekday.clamp(1, 7) as u8,
        start,
        end,
        mode: if mode == "offline" {
            Mode::Offline
        } else {
            Mode::Online
        },
    }
}
