//! User accounts and subjects in PostgreSQL. Logins compare by `lower()`, which the unique
//! index `users_login` keys on; the directory's search folds names in Rust, as SQLite's does,
//! so both backends find the same people.

use super::PgStore;
use crate::users::{DirectoryStudent, NewUser, User, UserFilter, fold_name};
use crate::{StoreError, now_ms};
use konsult_protocol::model::Role;
use konsult_protocol::{SchoolId, UserId};
use sqlx::{PgConnection, Row};

/// `SELECT` of every user column, followed by a constant condition.
macro_rules! select_user {
    ($condition:literal) => {
        concat!(
            "SELECT id, school_id, login, name, role, class, password_hash, active, token_version, anonymous, ",
            "(SELECT array_agg(subject ORDER BY subject) FROM user_subjects ",
            "WHERE user_id = users.id) AS subjects FROM users ",
            $condition
        )
    };
}

fn user_from_row(row: &sqlx::postgres::PgRow) -> Result<User, StoreError> {
    let role: String = row.try_get("role")?;
    let subjects: Option<Vec<String>> = row.try_get("subjects")?;
    Ok(User {
        id: UserId(row.try_get("id")?),
        school: SchoolId(row.try_get("school_id")?),
        login: row.try_get("login")?,
        name: row.try_get("name")?,
        role: Role::parse(&role)
            .ok_or_else(|| StoreError::Invalid(format!("unknown role {role:?} in users")))?,
        class: row.try_get("class")?,
        subjects: subjects.unwrap_or_default(),
        password_hash: row.try_get("password_hash")?,
        active: row.try_get("active")?,
        token_version: row.try_get("token_version")?,
        anonymous: row.try_get("anonymous")?,
    })
}

impl PgStore {
    pub(crate) async fn user_by_login(
        &self,
        school: SchoolId,
        login: &str,
    ) -> Result<Option<User>, StoreError> {
        let row = sqlx::query(select_user!(
            "WHERE school_id = $1 AND lower(login) = lower($2)"
        ))
        .bind(school.0)
        .bind(login)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(user_from_row).transpose()
    }

    pub(crate) async fn user_by_id(&self, id: UserId) -> Result<Option<User>, StoreError> {
        let row = sqlx::query(select_user!("WHERE id = $1"))
            .bind(id.0)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(user_from_row).transpose()
    }

    pub(crate) async fn user_by_external_id(
        &self,
        school: SchoolId,
        external: &str,
    ) -> Result<Option<User>, StoreError> {
        let row = sqlx::query(select_user!("WHERE school_id = $1 AND external_id = $2"))
            .bind(school.0)
            .bind(external)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(user_from_row).transpose()
    }

    pub(crate) async fn active_users(&self, school: SchoolId) -> Result<Vec<User>, StoreError> {
        let rows = sqlx::query(select_user!("WHERE school_id = $1 AND active ORDER BY id"))
            .bind(school.0)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(user_from_row).collect()
    }

    pub(crate) async fn has_admin(&self, school: SchoolId) -> Result<bool, StoreError> {
        Ok(sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM users WHERE school_id = $1 AND role = 'admin' \
             AND active)",
        )
        .bind(school.0)
        .fetch_one(&self.pool)
        .await?)
    }

    pub(crate) async fn existing_logins(
        &self,
        school: SchoolId,
        logins: &[String],
    ) -> Result<Vec<String>, StoreError> {
        let folded: Vec<String> = logins.iter().map(|l| l.to_lowercase()).collect();
        Ok(sqlx::query_scalar(
            "SELECT login FROM users WHERE school_id = $1 AND lower(login) = ANY($2)",
        )
        .bind(school.0)
        .bind(&folded)
        .fetch_all(&self.pool)
        .await?)
    }

    pub(crate) async fn insert_users(
        &self,
        school: SchoolId,
        users: &[NewUser],
    ) -> Result<Vec<UserId>, StoreError> {
        let mut tx = self.pool.begin().await?;
        let mut ids = Vec::with_capacity(users.len());
        for user in users {
            ids.push(insert_user(&mut tx, school, user).await?);
        }
        tx.commit().await?;
        Ok(ids)
    }

    pub(crate) async fn insert_users_if_missing(
        &self,
        school: SchoolId,
        users: &[NewUser],
    ) -> Result<usize, StoreError> {
        let mut tx = self.pool.begin().await?;
        let mut created = 0;
        for user in users {
            let exists: Option<i64> = sqlx::query_scalar(
                "SELECT id FROM users WHERE school_id = $1 AND lower(login) = lower($2)",
            )
            .bind(school.0)
            .bind(&user.login)
            .fetch_optional(&mut *tx)
            .await?;
            if exists.is_none() {
                insert_user(&mut tx, school, user).await?;
                created += 1;
            }
        }
        tx.commit().await?;
        Ok(created)
    }

    pub(crate) async fn ensure_subjects(
        &self,
        school: SchoolId,
        subjects: &[(&str, &str)],
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        for (code, name) in subjects {
            sqlx::query(
                "INSERT INTO subjects (school_id, code, name) VALUES ($1, $2, $3) \
                 ON CONFLICT DO NOTHING",
            )
            .bind(school.0)
            .bind(code)
            .bind(name)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    pub(crate) async fn subjects(
        &self,
        school: SchoolId,
    ) -> Result<Vec<(String, String)>, StoreError> {
        Ok(
            sqlx::query_as("SELECT code, name FROM subjects WHERE school_id = $1 ORDER BY code")
                .bind(school.0)
                .fetch_all(&self.pool)
                .await?,
        )
    }

    pub(crate) async fn update_portal_user(
        &self,
        id: UserId,
        user: &NewUser,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("UPDATE users SET name = $1, role = $2, class = $3 WHERE id = $4")
            .bind(&user.name)
            .bind(user.role.as_str())
            .bind(&user.class)
            .bind(id.0)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM user_subjects WHERE user_id = $1")
            .bind(id.0)
            .execute(&mut *tx)
            .await?;
        insert_subjects(&mut tx, id, &user.subjects).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Users matching a filter, by name; the text search is done in Rust, as on SQLite.
    pub(crate) async fn list_users(
        &self,
        school: SchoolId,
        filter: &UserFilter,
        limit: usize,
    ) -> Result<Vec<User>, StoreError> {
        let rows = sqlx::query(select_user!(
            "WHERE school_id = $1 AND ($2::TEXT IS NULL OR role = $2) \
             AND ($3::TEXT IS NULL OR class = $3) AND ($4::BOOLEAN IS NULL OR active = $4) \
             AND NOT anonymous ORDER BY name, id"
        ))
        .bind(school.0)
        .bind(filter.role.map(Role::as_str))
        .bind(&filter.class)
        .bind(filter.active)
        .fetch_all(&self.pool)
        .await?;
        let q = filter.q.as_ref().map(|q| q.trim().to_lowercase());
        let mut users = Vec::new();
        for row in &rows {
            let user = user_from_row(row)?;
            let hit = q.as_ref().is_none_or(|q| {
                user.login.to_lowercase().contains(q.as_str())
                    || user.name.to_lowercase().contains(q.as_str())
            });
            if hit {
                users.push(user);
                if users.len() >= limit {
                    break;
                }
            }
        }
        Ok(users)
    }

    pub(crate) async fn set_active(&self, id: UserId, active: bool) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE users SET active = $1, token_version = token_version + 1 WHERE id = $2",
        )
        .bind(active)
        .bind(id.0)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    pub(crate) async fn set_password(&self, id: UserId, hash: &str) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE users SET password_hash = $1, token_version = token_version + 1 \
             WHERE id = $2",
        )
        .bind(hash)
        .bind(id.0)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Active students for the staff's directory; the name search folds case beyond ASCII
    /// and ё as е with [`fold_name`], the same function SQLite's search uses.
    pub(crate) async fn student_directory(
        &self,
        school: SchoolId,
        class: Option<&str>,
        q: Option<&str>,
        limit: usize,
    ) -> Result<(Vec<DirectoryStudent>, bool), StoreError> {
        let rows: Vec<(i64, String, Option<String>)> = sqlx::query_as(
            "SELECT id, name, class FROM users WHERE school_id = $1 AND role = 'student' \
             AND active AND NOT anonymous AND ($2::TEXT IS NULL OR class = $2) \
             ORDER BY class IS NULL, class, name, id",
        )
        .bind(school.0)
        .bind(class)
        .fetch_all(&self.pool)
        .await?;
        let q = q.map(fold_name).filter(|q| !q.is_empty());
        let mut hits = rows
            .into_iter()
            .filter(|(_, name, _)| {
                q.as_ref()
                    .is_none_or(|q| fold_name(name).contains(q.as_str()))
            })
            .map(|(id, name, class)| DirectoryStudent {
                id: UserId(id),
                name,
                class,
            });
        let students: Vec<DirectoryStudent> = hits.by_ref().take(limit).collect();
        let more = hits.next().is_some();
        Ok((students, more))
    }

    pub(crate) async fn classes(&self, school: SchoolId) -> Result<Vec<(String, i64)>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT class, count(*) FROM users WHERE school_id = $1 AND class IS NOT NULL \
             AND active AND role = 'student' AND NOT anonymous GROUP BY class ORDER BY class",
        )
        .bind(school.0)
        .fetch_all(&self.pool)
        .await?)
    }

    pub(crate) async fn class_students(
        &self,
        school: SchoolId,
        class: &str,
    ) -> Result<Vec<UserId>, StoreError> {
        let ids: Vec<i64> = sqlx::query_scalar(
            "SELECT id FROM users WHERE school_id = $1 AND class = $2 AND role = 'student' \
             AND active AND NOT anonymous ORDER BY id",
        )
        .bind(school.0)
        .bind(class)
        .fetch_all(&self.pool)
        .await?;
        Ok(ids.into_iter().map(UserId).collect())
    }

    pub(crate) async fn subjects_with_staff(
        &self,
        school: SchoolId,
    ) -> Result<Vec<(String, String, i64)>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT s.code, s.name, (SELECT count(*) FROM user_subjects us JOIN users u \
             ON u.id = us.user_id WHERE us.subject = s.code AND u.school_id = s.school_id \
             AND u.active) FROM subjects s WHERE s.school_id = $1 ORDER BY s.name",
        )
        .bind(school.0)
        .fetch_all(&self.pool)
        .await?)
    }

    pub(crate) async fn upsert_subject(
        &self,
        school: SchoolId,
        code: &str,
        name: &str,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO subjects (school_id, code, name) VALUES ($1, $2, $3) \
             ON CONFLICT (school_id, code) DO UPDATE SET name = excluded.name",
        )
        .bind(school.0)
        .bind(code)
        .bind(name)
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}

async fn insert_user(
    tx: &mut PgConnection,
    school: SchoolId,
    user: &NewUser,
) -> Result<UserId, StoreError> {
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO users (school_id, login, name, role, class, password_hash, external_id, \
         created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
    )
    .bind(school.0)
    .bind(&user.login)
    .bind(&user.name)
    .bind(user.role.as_str())
    .bind(&user.class)
    .bind(&user.password_hash)
    .bind(&user.external_id)
    .bind(now_ms())
    .fetch_one(&mut *tx)
    .await?;
    insert_subjects(tx, UserId(id), &user.subjects).await?;
    Ok(UserId(id))
}

async fn insert_subjects(
    tx: &mut PgConnection,
    id: UserId,
    subjects: &[String],
) -> Result<(), StoreError> {
    for subject in subjects {
        sqlx::query(
            "INSERT INTO subjects (school_id, code, name) \
             SELECT school_id, $2, $2 FROM users WHERE id = $1 ON CONFLICT DO NOTHING",
        )
        .bind(id.0)
        .bind(subject)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO user_subjects (user_id, subject) VALUES ($1, $2) \
             ON CONFLICT DO NOTHING",
        )
        .bind(id.0)
        .bind(subject)
        .execute(&mut *tx)
        .await?;
    }
    Ok(())
}
