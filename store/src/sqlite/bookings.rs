//! Bookings, booking rules, blocked slots and calendar feeds in SQLite. A booking's checks and
//! its insert run under SQLite's write lock (`write_tx`), so each booker sees every booking
//! committed before it.

use super::SqliteStore;
use crate::StoreError;
use crate::bookings::{
    BookOutcome, Booking, BookingLimits, BookingRow, BookingRules, NewBooking, active_from,
    booking_columns, bookings_from, rules_from, seat_for,
};
use konsult_protocol::{BookingId, SchoolId, UserId};
use sqlx::SqliteConnection;

/// The checks of a booking and its insert, on a connection inside a write transaction. The
/// caller commits only on [`BookOutcome::Booked`].
async fn book_in(
    conn: &mut SqliteConnection,
    school: SchoolId,
    new: &NewBooking<'_>,
    limits: BookingLimits,
) -> Result<BookOutcome, StoreError> {
    let blocked: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM blocked_slots WHERE user_id = ? AND starts_ms = ?)",
    )
    .bind(new.teacher.0)
    .bind(new.starts_ms)
    .fetch_one(&mut *conn)
    .await?;
    if blocked {
        return Ok(BookOutcome::SlotBlocked);
    }
    let open: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM bookings \
         WHERE student_id = ? AND cancelled_at IS NULL AND starts_ms > ?",
    )
    .bind(new.student.0)
    .bind(limits.now_ms)
    .fetch_one(&mut *conn)
    .await?;
    if open >= i64::from(limits.max_open) {
        return Ok(BookOutcome::TooMany);
    }
    let rows: Vec<(i64, String, i64)> = sqlx::query_as(
        "SELECT student_id, form, seat FROM bookings \
         WHERE teacher_id = ? AND starts_ms = ? AND cancelled_at IS NULL",
    )
    .bind(new.teacher.0)
    .bind(new.starts_ms)
    .fetch_all(&mut *conn)
    .await?;
    let active = active_from(rows)?;
    match seat_for(new, &active, limits.group_limit) {
        Ok(seat) => insert(conn, school, new, seat, limits.now_ms).await,
        Err(no_seat) => Ok(no_seat.into()),
    }
}

/// Inserts a booking into `seat`. A unique index refusing it (the seat or the student already
/// in the slot) is the outcome a booker gets, not an error: the checks before it could only
/// have missed a booking written outside them.
async fn insert(
    conn: &mut SqliteConnection,
    school: SchoolId,
    new: &NewBooking<'_>,
    seat: i64,
    created_ms: i64,
) -> Result<BookOutcome, StoreError> {
    let inserted = sqlx::query_as::<_, BookingRow>(concat!(
        "INSERT INTO bookings (school_id, teacher_id, student_id, starts_ms, ends_ms, subject, \
         form, topic, seat, created_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING ",
        booking_columns!()
    ))
    .bind(school.0)
    .bind(new.teacher.0)
    .bind(new.student.0)
    .bind(new.starts_ms)
    .bind(new.ends_ms)
    .bind(new.subject)
    .bind(new.form.as_str())
    .bind(new.topic)
    .bind(seat)
    .bind(created_ms)
    .fetch_one(&mut *conn)
    .await;
    match inserted {
        Ok(row) => Ok(BookOutcome::Booked(Booking::try_from(row)?)),
        // SQLite names the columns of the index it refused the row for:
        // "UNIQUE constraint failed: bookings.teacher_id, bookings.starts_ms, bookings.student_id".
        Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
            Ok(if e.message().contains("bookings.student_id") {
                BookOutcome::AlreadyBooked
            } else {
                BookOutcome::SlotTaken
            })
        }
        Err(e) => Err(e.into()),
    }
}

impl SqliteStore {
    pub(crate) async fn booking_rules(&self, user: UserId) -> Result<BookingRules, StoreError> {
        let row: Option<(i64, i64)> =
            sqlx::query_as("SELECT slot_minutes, group_limit FROM booking_rules WHERE user_id = ?")
                .bind(user.0)
                .fetch_optional(&self.pool)
                .await?;
        match row {
            Some((slot_minutes, group_limit)) => rules_from(slot_minutes, group_limit),
            None => Ok(BookingRules::default()),
        }
    }

    pub(crate) async fn set_booking_rules(
        &self,
        user: UserId,
        rules: BookingRules,
    ) -> Result<(), StoreError> {
        let rules = rules.check()?;
        sqlx::query(
            "INSERT INTO booking_rules (user_id, slot_minutes, group_limit) VALUES (?, ?, ?) \
             ON CONFLICT (user_id) DO UPDATE SET slot_minutes = excluded.slot_minutes, \
             group_limit = excluded.group_limit",
        )
        .bind(user.0)
        .bind(i64::from(rules.slot_minutes))
        .bind(i64::from(rules.group_limit))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub(crate) async fn set_slot_blocked(
        &self,
        user: UserId,
        starts_ms: i64,
        blocked: bool,
    ) -> Result<(), StoreError> {
        let sql = if blocked {
            "INSERT INTO blocked_slots (user_id, starts_ms) VALUES (?, ?) \
             ON CONFLICT (user_id, starts_ms) DO NOTHING"
        } else {
            "DELETE FROM blocked_slots WHERE user_id = ? AND starts_ms = ?"
        };
        sqlx::query(sql)
            .bind(user.0)
            .bind(starts_ms)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub(crate) async fn blocked_slots(
        &self,
        user: UserId,
        from_ms: i64,
        to_ms: i64,
    ) -> Result<Vec<i64>, StoreError> {
        Ok(sqlx::query_scalar(
            "SELECT starts_ms FROM blocked_slots \
             WHERE user_id = ? AND starts_ms >= ? AND starts_ms < ? ORDER BY starts_ms",
        )
        .bind(user.0)
        .bind(from_ms)
        .bind(to_ms)
        .fetch_all(&self.pool)
        .await?)
    }

    pub(crate) async fn book_slot(
        &self,
        school: SchoolId,
        new: &NewBooking<'_>,
        limits: BookingLimits,
    ) -> Result<BookOutcome, StoreError> {
        new.check()?;
        let mut tx = self.write_tx().await?;
        let outcome = book_in(&mut tx, school, new, limits).await?;
        if matches!(outcome, BookOutcome::Booked(_)) {
            tx.commit().await?;
        } else {
            tx.rollback().await?;
        }
        Ok(outcome)
    }

    pub(crate) async fn move_booking(
        &self,
        booking: BookingId,
        new: &NewBooking<'_>,
        limits: BookingLimits,
    ) -> Result<BookOutcome, StoreError> {
        new.check()?;
        let mut tx = self.write_tx().await?;
        // Cancelled first, inside the transaction: the checks that follow no longer see it, so
        // it neither counts against max_open nor holds the slot it may move within.
        let school: Option<i64> = sqlx::query_scalar(
            "UPDATE bookings SET cancelled_at = ?, cancelled_by = student_id, \
             cancel_reason = NULL \
             WHERE id = ? AND student_id = ? AND cancelled_at IS NULL RETURNING school_id",
        )
        .bind(limits.now_ms)
        .bind(booking.0)
        .bind(new.student.0)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(school) = school else {
            return Err(StoreError::Invalid(format!(
                "booking {booking}: no open booking of student {} to move",
                new.student
            )));
        };
        let outcome = book_in(&mut tx, SchoolId(school), new, limits).await?;
        if matches!(outcome, BookOutcome::Booked(_)) {
            tx.commit().await?;
        } else {
            tx.rollback().await?;
        }
        Ok(outcome)
    }

    pub(crate) async fn cancel_booking(
        &self,
        booking: BookingId,
        by: UserId,
        reason: Option<&str>,
        at_ms: i64,
    ) -> Result<Option<Booking>, StoreError> {
        let row = sqlx::query_as::<_, BookingRow>(concat!(
            "UPDATE bookings SET cancelled_at = ?, cancelled_by = ?, cancel_reason = ? \
             WHERE id = ? AND cancelled_at IS NULL RETURNING ",
            booking_columns!()
        ))
        .bind(at_ms)
        .bind(by.0)
        .bind(reason)
        .bind(booking.0)
        .fetch_optional(&self.pool)
        .await?;
        row.map(Booking::try_from).transpose()
    }

    pub(crate) async fn booking(&self, booking: BookingId) -> Result<Option<Booking>, StoreError> {
        let row = sqlx::query_as::<_, BookingRow>(concat!(
            "SELECT ",
            booking_columns!(),
            " FROM bookings WHERE id = ?"
        ))
        .bind(booking.0)
        .fetch_optional(&self.pool)
        .await?;
        row.map(Booking::try_from).transpose()
    }

    pub(crate) async fn bookings_of_student(
        &self,
        student: UserId,
        from_ms: i64,
    ) -> Result<Vec<Booking>, StoreError> {
        bookings_from(
            sqlx::query_as(concat!(
                "SELECT ",
                booking_columns!(),
                " FROM bookings WHERE student_id = ? AND cancelled_at IS NULL AND ends_ms > ? \
                 ORDER BY starts_ms, id"
            ))
            .bind(student.0)
            .bind(from_ms)
            .fetch_all(&self.pool)
            .await?,
        )
    }

    pub(crate) async fn bookings_of_teacher(
        &self,
        teacher: UserId,
        from_ms: i64,
        to_ms: i64,
    ) -> Result<Vec<Booking>, StoreError> {
        bookings_from(
            sqlx::query_as(concat!(
                "SELECT ",
                booking_columns!(),
                " FROM bookings WHERE teacher_id = ? AND cancelled_at IS NULL \
                 AND starts_ms >= ? AND starts_ms < ? ORDER BY starts_ms, id"
            ))
            .bind(teacher.0)
            .bind(from_ms)
            .bind(to_ms)
            .fetch_all(&self.pool)
            .await?,
        )
    }

    pub(crate) async fn bookings_of_school(
        &self,
        school: SchoolId,
        from_ms: i64,
    ) -> Result<Vec<Booking>, StoreError> {
        bookings_from(
            sqlx::query_as(concat!(
                "SELECT ",
                booking_columns!(),
                " FROM bookings WHERE school_id = ? AND cancelled_at IS NULL AND ends_ms > ? \
                 ORDER BY starts_ms, id"
            ))
            .bind(school.0)
            .bind(from_ms)
            .fetch_all(&self.pool)
            .await?,
        )
    }

    pub(crate) async fn calendar_feed(&self, user: UserId) -> Result<Option<i64>, StoreError> {
        Ok(sqlx::query_scalar(
            "SELECT generation FROM calendar_feeds WHERE user_id = ? AND active = 1",
        )
        .bind(user.0)
        .fetch_optional(&self.pool)
        .await?)
    }

    pub(crate) async fn renew_calendar_feed(&self, user: UserId) -> Result<i64, StoreError> {
        Ok(sqlx::query_scalar(
            "INSERT INTO calendar_feeds (user_id, generation, active) VALUES (?, 1, 1) \
             ON CONFLICT (user_id) DO UPDATE SET generation = generation + 1, active = 1 \
             RETURNING generation",
        )
        .bind(user.0)
        .fetch_one(&self.pool)
        .await?)
    }

    pub(crate) async fn revoke_calendar_feed(&self, user: UserId) -> Result<(), StoreError> {
        sqlx::query("UPDATE calendar_feeds SET active = 0 WHERE user_id = ?")
            .bind(user.0)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    //! The unique indexes behind the checks: a row they refuse is an outcome, and which one.

    use super::*;
    use crate::users::NewUser;
    use crate::{Backend, Store};
    use konsult_protocol::model::{Form, Role};

    fn person(login: &str, role: Role) -> NewUser {
        NewUser {
            login: login.into(),
            name: login.into(),
            role,
            class: None,
            subjects: Vec::new(),
            password_hash: None,
            external_id: None,
        }
    }

    #[tokio::test]
    async fn a_row_the_unique_indexes_refuse_is_slot_taken_or_already_booked() {
        let dir = std::env::temp_dir().join(format!("konsult-bookings-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let store = Store::open(&dir).await.expect("open");
        let school = store
            .create_school("main", "Main", "Europe/Moscow")
            .await
            .expect("school");
        let ids = store
            .insert_users(
                school,
                &[
                    person("t", Role::Teacher),
                    person("a", Role::Student),
                    person("b", Role::Student),
                ],
            )
            .await
            .expect("users");
        let booking = |student| NewBooking {
            teacher: ids[0],
            student,
            starts_ms: 1_000,
            ends_ms: 2_000,
            subject: "math",
            form: Form::Group,
            topic: "",
        };
        let limits = BookingLimits {
            group_limit: 5,
            max_open: 5,
            now_ms: 0,
        };
        let first = store
            .book_slot(school, &booking(ids[1]), limits)
            .await
            .expect("book");
        assert!(matches!(first, BookOutcome::Booked(_)), "{first:?}");
        let Backend::Sqlite(db) = &store.backend else {
            unreachable!("Store::open is SQLite");
        };
        let mut tx = db.write_tx().await.expect("tx");
        assert_eq!(
            insert(&mut tx, school, &booking(ids[2]), 0, 0)
                .await
                .expect("insert"),
            BookOutcome::SlotTaken,
            "seat 0 is held"
        );
        assert_eq!(
            insert(&mut tx, school, &booking(ids[1]), 1, 0)
                .await
                .expect("insert"),
            BookOutcome::AlreadyBooked,
            "a holds a booking of the slot"
        );
        let third = insert(&mut tx, school, &booking(ids[2]), 1, 0)
            .await
            .expect("insert");
        assert!(matches!(third, BookOutcome::Booked(_)), "{third:?}");
        drop(tx);
        store.close().await;
        let _ = std::fs::remove_dir_all(&dir);
    }
}
