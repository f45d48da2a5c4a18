//! User accounts and subjects in SQLite.

use super::SqliteStore;
use crate::users::{DirectoryStudent, NewUser, User, UserFilter, fold_name};
use crate::{StoreError, now_ms};
use konsult_protocol::model::Role;
use konsult_protocol::{SchoolId, UserId};
use sqlx::{Row, Sqlite, Transaction};

/// `SELECT` of every user column, followed by a constant condition.
macro_rules! select_user {
    ($condition:literal) => {
        concat!(
            "SELECT id, school_id, login, name, role, class, password_hash, active, token_version, anonymous, ",
            "(SELECT group_concat(subject, ',') FROM user_subjects WHERE user_id = users.id) ",
            "AS subjects FROM users ",
            $condition
        )
    };
}

fn user_from_row(row: &sqlx::sqlite::SqliteRow) -> Result<User, StoreError> {
    let role: String = row.try_get("role")?;
    let subjects: Option<String> = row.try_get("subjects")?;
    let mut subjects: Vec<String> = subjects
        .unwrap_or_default()
        .split(',')
        .filter(|s| !s.is_empty())
        .map(String::from)
        .collect();
    subjects.sort();
    Ok(User {
        id: UserId(row.try_get("id")?),
        school: SchoolId(row.try_get("school_id")?),
        login: row.try_get("login")?,
        name: row.try_get("name")?,
        role: Role::parse(&role)
            .ok_or_else(|| StoreError::Invalid(format!("unknown role {role:?} in users")))?,
        class: row.try_get("class")?,
        subjects,
        password_hash: row.try_get("password_hash")?,
        active: row.try_get::<i64, _>("active")? != 0,
        token_version: row.try_get("token_version")?,
        anonymous: row.try_get::<i64, _>("anonymous")? != 0,
    })
}

impl SqliteStore {
    pub(crate) async fn user_by_login(
        &self,
        school: SchoolId,
        login: &str,
    ) -> Result<Option<User>, StoreError> {
        let row = sqlx::query(select_user!("WHERE school_id = ? AND login = ?"))
            .bind(school.0)
            .bind(login)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(user_from_row).transpose()
    }

    pub(crate) async fn user_by_id(&self, id: UserId) -> Result<Option<User>, StoreError> {
        let row = sqlx::query(select_user!("WHERE id = ?"))
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
        let row = sqlx::query(select_user!("WHERE school_id = ? AND external_id = ?"))
            .bind(school.0)
            .bind(external)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(user_from_row).transpose()
    }

    /// Every active user, for the hub's directory of people.
    pub(crate) async fn active_users(&self, school: SchoolId) -> Result<Vec<User>, StoreError> {
        let rows = sqlx::query(select_user!(
            "WHERE school_id = ? AND active = 1 ORDER BY id"
        ))
        .bind(school.0)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(user_from_row).collect()
    }

    /// Whether any active admin exists.
    pub(crate) async fn has_admin(&self, school: SchoolId) -> Result<bool, StoreError> {
        let n: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM users WHERE school_id = ? AND role = 'admin' AND active = 1",
        )
        .bind(school.0)
        .fetch_one(&self.pool)
        .await?;
        Ok(n > 0)
    }

    /// Logins among `logins` that already exist (case-insensitive).
    pub(crate) async fn existing_logins(
        &self,
        school: SchoolId,
        logins: &[String],
    ) -> Result<Vec<String>, StoreError> {
        let mut found = Vec::new();
        for chunk in logins.chunks(500) {
            let marks = vec!["?"; chunk.len()].join(",");
            // Only `?` placeholders are formatted in; the values are bound.
            let sql = format!("SELECT login FROM users WHERE school_id = ? AND login IN ({marks})");
            let mut q = sqlx::query_scalar(sqlx::AssertSqlSafe(sql)).bind(school.0);
            for login in chunk {
                q = q.bind(login);
            }
            found.extend(q.fetch_all(&self.pool).await?);
        }
        Ok(found)
    }

    /// Creates users in one transaction: all of them or none.
    pub(crate) async fn insert_users(
        &self,
        school: SchoolId,
        users: &[NewUser],
    ) -> Result<Vec<UserId>, StoreError> {
        let mut tx = self.write_tx().await?;
        let mut ids = Vec::with_capacity(users.len());
        for user in users {
            ids.push(insert_user(&mut tx, school, user).await?);
        }
        tx.commit().await?;
        Ok(ids)
    }

    /// Creates users whose login is free and leaves existing ones as they are; returns how
    /// many were created.
    pub(crate) async fn insert_users_if_missing(
        &self,
        school: SchoolId,
        users: &[NewUser],
    ) -> Result<usize, StoreError> {
        let mut tx = self.write_tx().await?;
        let mut created = 0;
        for user in users {
            let exists: Option<i64> =
                sqlx::query_scalar("SELECT id FROM users WHERE school_id = ? AND login = ?")
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

    /// Adds subjects with display names, keeping existing names.
    pub(crate) async fn ensure_subjects(
        &self,
        school: SchoolId,
        subjects: &[(&str, &str)],
    ) -> Result<(), StoreError> {
        let mut tx = self.write_tx().await?;
        for (code, name) in subjects {
            sqlx::query("INSERT OR IGNORE INTO subjects (school_id, code, name) VALUES (?, ?, ?)")
                .bind(school.0)
                .bind(code)
                .bind(name)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Every subject as `(code, name)`.
    pub(crate) async fn subjects(
        &self,
        school: SchoolId,
    ) -> Result<Vec<(String, String)>, StoreError> {
        Ok(
            sqlx::query_as("SELECT code, name FROM subjects WHERE school_id = ? ORDER BY code")
                .bind(school.0)
                .fetch_all(&self.pool)
                .await?,
        )
    }

    /// Replaces a portal user's name, role, class and subjects with the token's claims.
    pub(crate) async fn update_portal_user(
        &self,
        id: UserId,
        user: &NewUser,
    ) -> Result<(), StoreError> {
        let mut tx = self.write_tx().await?;
        sqlx::query("UPDATE users SET name = ?, role = ?, class = ? WHERE id = ?")
            .bind(&user.name)
            .bind(user.role.as_str())
            .bind(&user.class)
            .bind(id.0)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM user_subjects WHERE user_id = ?")
            .bind(id.0)
            .execute(&mut *tx)
            .await?;
        let school: i64 = sqlx::query_scalar("SELECT school_id FROM users WHERE id = ?")
            .bind(id.0)
            .fetch_one(&mut *tx)
            .await?;
        insert_subjects(&mut tx, SchoolId(school), id, &user.subjects).await?;
        tx.commit().await?;
        Ok(())
    }
}

async fn insert_user(
    tx: &mut Transaction<'_, Sqlite>,
    school: SchoolId,
    user: &NewUser,
) -> Result<UserId, StoreError> {
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO users (school_id, login, name, role, class, password_hash, external_id, \
         created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
    )
    .bind(school.0)
    .bind(&user.login)
    .bind(&user.name)
    .bind(user.role.as_str())
    .bind(&user.class)
    .bind(&user.password_hash)
    .bind(&user.external_id)
    .bind(now_ms())
    .fetch_one(&mut **tx)
    .await?;
    insert_subjects(tx, school, UserId(id), &user.subjects).await?;
    Ok(UserId(id))
}

async fn insert_subjects(
    tx: &mut Transaction<'_, Sqlite>,
    school: SchoolId,
    id: UserId,
    subjects: &[String],
) -> Result<(), StoreError> {
    for subject in subjects {
        sqlx::query("INSERT OR IGNORE INTO subjects (school_id, code, name) VALUES (?, ?, ?)")
            .bind(school.0)
            .bind(subject)
            .bind(subject)
            .execute(&mut **tx)
            .await?;
        sqlx::query("INSERT OR IGNORE INTO user_subjects (user_id, subject) VALUES (?, ?)")
            .bind(id.0)
            .bind(subject)
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

impl SqliteStore {
    /// Users matching a filter, by name. The text search is done here rather than in SQL:
    /// SQLite folds only ASCII case, and names are Cyrillic.
    pub(crate) async fn list_users(
        &self,
        school: SchoolId,
        filter: &UserFilter,
        limit: usize,
    ) -> Result<Vec<User>, StoreError> {
        let rows = sqlx::query(select_user!(
            "WHERE (?1 IS NULL OR role = ?1) AND (?2 IS NULL OR class = ?2) \
             AND (?3 IS NULL OR active = ?3) AND school_id = ?4 AND anonymous = 0 \
             ORDER BY name, id"
        ))
        .bind(filter.role.map(Role::as_str))
        .bind(&filter.class)
        .bind(filter.active)
        .bind(school.0)
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

    /// Activates or deactivates an account; older tokens stop working either way.
    pub(crate) async fn set_active(&self, id: UserId, active: bool) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE users SET active = ?, token_version = token_version + 1 WHERE id = ?",
        )
        .bind(active)
        .bind(id.0)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Sets a new password hash; older tokens stop working.
    pub(crate) async fn set_password(&self, id: UserId, hash: &str) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE users SET password_hash = ?, token_version = token_version + 1 WHERE id = ?",
        )
        .bind(hash)
        .bind(id.0)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Active students for the staff's directory, by class then name, optionally of one class
    /// and matching part of a name (case-insensitive and with ё as е, done here: SQLite folds
    /// only ASCII case).
    /// At most `limit` rows; the flag says whether more matched.
    pub(crate) async fn student_directory(
        &self,
        school: SchoolId,
        class: Option<&str>,
        q: Option<&str>,
        limit: usize,
    ) -> Result<(Vec<DirectoryStudent>, bool), StoreError> {
        let rows: Vec<(i64, String, Option<String>)> = sqlx::query_as(
            "SELECT id, name, class FROM users WHERE role = 'student' AND active = 1 AND anonymous = 0 \
             AND (?1 IS NULL OR class = ?1) AND school_id = ?2 \
             ORDER BY class IS NULL, class, name, id",
        )
        .bind(class)
        .bind(school.0)
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

    /// Classes with their number of active students.
    pub(crate) async fn classes(&self, school: SchoolId) -> Result<Vec<(String, i64)>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT class, count(*) FROM users WHERE school_id = ? AND class IS NOT NULL \
             AND active = 1 AND role = 'student' AND anonymous = 0 GROUP BY class ORDER BY class",
        )
        .bind(school.0)
        .fetch_all(&self.pool)
        .await?)
    }

    /// The active students of a class, by id.
    pub(crate) async fn class_students(
        &self,
        school: SchoolId,
        class: &str,
    ) -> Result<Vec<UserId>, StoreError> {
        let ids: Vec<i64> = sqlx::query_scalar(
            "SELECT id FROM users WHERE school_id = ? AND class = ? AND role = 'student' \
             AND active = 1 AND anonymous = 0 ORDER BY id",
        )
        .bind(school.0)
        .bind(class)
        .fetch_all(&self.pool)
        .await?;
        Ok(ids.into_iter().map(UserId).collect())
    }

    /// Subjects with their display names and how many active staff help with each.
    pub(crate) async fn subjects_with_staff(
        &self,
        school: SchoolId,
    ) -> Result<Vec<(String, String, i64)>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT s.code, s.name, (SELECT count(*) FROM user_subjects us JOIN users u \
             ON u.id = us.user_id WHERE us.subject = s.code AND u.active = 1 \
             AND u.school_id = s.school_id) \
             FROM subjects s WHERE s.school_id = ? ORDER BY s.name",
        )
        .bind(school.0)
        .fetch_all(&self.pool)
        .await?)
    }

    /// Adds a subject or renames it.
    pub(crate) async fn upsert_subject(
        &self,
        school: SchoolId,
        code: &str,
        name: &str,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO subjects (school_id, code, name) VALUES (?, ?, ?) \
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
