//! Anonymous identities and their blocks in PostgreSQL.

use super::PgStore;
use crate::anonymous::NewAnonymous;
use crate::users::User;
use crate::{StoreError, now_ms};
use konsult_protocol::{SchoolId, UserId};

impl PgStore {
    pub(crate) async fn anonymous_identity(
        &self,
        school: SchoolId,
        owner_digest: &str,
    ) -> Result<Option<User>, StoreError> {
        let id: Option<i64> = sqlx::query_scalar(
            "SELECT a.user_id FROM anonymous_identities a JOIN users u ON u.id = a.user_id \
             WHERE a.school_id = $1 AND a.owner_digest = $2 AND a.revealed_at IS NULL \
             AND u.active ORDER BY a.user_id DESC LIMIT 1",
        )
        .bind(school.0)
        .bind(owner_digest)
        .fetch_optional(&self.pool)
        .await?;
        match id {
            Some(id) => self.user_by_id(UserId(id)).await,
            None => Ok(None),
        }
    }

    pub(crate) async fn create_anonymous_identity(
        &self,
        school: SchoolId,
        new: &NewAnonymous<'_>,
    ) -> Result<User, StoreError> {
        let mut tx = self.pool.begin().await?;
        let now = now_ms();
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO users (school_id, login, name, role, class, anonymous, created_at) \
             VALUES ($1, $2, $3, 'student', $4, TRUE, $5) RETURNING id",
        )
        .bind(school.0)
        .bind(new.login)
        .bind(new.name)
        .bind(new.class)
        .bind(now)
        .fetch_one(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO anonymous_identities (user_id, school_id, owner_digest, created_at) \
             VALUES ($1, $2, $3, $4)",
        )
        .bind(id)
        .bind(school.0)
        .bind(new.owner_digest)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        self.user_by_id(UserId(id))
            .await?
            .ok_or_else(|| StoreError::Invalid(format!("identity {id} vanished")))
    }

    pub(crate) async fn set_anonymous_class(
        &self,
        user: UserId,
        class: Option<&str>,
    ) -> Result<(), StoreError> {
        sqlx::query("UPDATE users SET class = $1 WHERE id = $2 AND anonymous")
            .bind(class)
            .bind(user.0)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub(crate) async fn anonymous_owner(&self, user: UserId) -> Result<Option<String>, StoreError> {
        Ok(
            sqlx::query_scalar("SELECT owner_digest FROM anonymous_identities WHERE user_id = $1")
                .bind(user.0)
                .fetch_optional(&self.pool)
                .await?,
        )
    }

    pub(crate) async fn reveal_anonymous_identity(
        &self,
        user: UserId,
        at_ms: i64,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE anonymous_identities SET revealed_at = coalesce(revealed_at, $1) \
             WHERE user_id = $2",
        )
        .bind(at_ms)
        .bind(user.0)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub(crate) async fn block_anonymous(
        &self,
        school: SchoolId,
        owner_digest: &str,
        until_ms: i64,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO anonymous_blocks (school_id, owner_digest, until_ms) VALUES ($1, $2, $3) \
             ON CONFLICT (school_id, owner_digest) \
             DO UPDATE SET until_ms = greatest(anonymous_blocks.until_ms, excluded.until_ms)",
        )
        .bind(school.0)
        .bind(owner_digest)
        .bind(until_ms)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub(crate) async fn anonymous_blocked_until(
        &self,
        school: SchoolId,
        owner_digest: &str,
        now_ms: i64,
    ) -> Result<Option<i64>, StoreError> {
        Ok(sqlx::query_scalar(
            "SELECT until_ms FROM anonymous_blocks \
             WHERE school_id = $1 AND owner_digest = $2 AND until_ms > $3",
        )
        .bind(school.0)
        .bind(owner_digest)
        .bind(now_ms)
        .fetch_optional(&self.pool)
        .await?)
    }
}
