//! Bookings, booking rules, blocked slots and calendar feeds in PostgreSQL. A booking's checks
//! and its insert run in one transaction after it takes two advisory locks, its student's and
//! its slot's: under READ COMMITTED each booker of a slot (or of a student) then sees every
//! booking the one before it committed, so a group fills to its limit and no further and
//! `max_open` holds for concurrent bookings of one student.

use super::PgStore;
use crate::StoreError;
use crate::bookings::{
    BookOutcome, Booking, BookingLimits, BookingRow, BookingRules, NewBooking, STUDENT_INDEX,
    active_from, booking_columns, bookings_from, rules_from, seat_for,
};
use konsult_protocol::{BookingId, SchoolId, UserId};
use sqlx::PgConnection;

/// Waits for the transaction-scoped advisory lock named `key` (hashed by PostgreSQL itself, so
/// every node of a cluster names a lock alike); the transaction's end releases it.
async fn lock(conn: &mut PgConnection, key: &str) -> Result<(), StoreError> {
    sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))")
        .bind(key)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// The lock of a student's bookings, taken first: it orders the counts of their open ones.
async fn lock_student(conn: &mut PgConnection, student: UserId) -> Result<(), StoreError> {
    lock(conn, &format!("konsult-booking-student:{student}")).await
}

/// The checks of a booking and its insert, on a connection inside a transaction that holds the
/// student's lock ([`lock_student`]); it takes the slot's. The caller commits only on
/// [`BookOutcome::Booked`] and rolls back otherwise. The student's lock is always taken before
/// a slot's, and a transaction takes one of each, so two bookers never wait on each other in a
/// circle.
async fn book_in(
    conn: &mut PgConnection,
    school: SchoolId,
    new: &NewBooking<'_>,
    limits: BookingLimits,
) -> Result<BookOutcome, StoreError> {
    lock(
        conn,
        &format!("konsult-booking-slot:{}:{}", new.teacher, new.starts_ms),
    )
    .await?;
    let blocked: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM blocked_slots WHERE user_id = $1 AND starts_ms = $2)",
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
         WHERE student_id = $1 AND cancelled_at IS NULL AND starts_ms > $2",
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
         WHERE teacher_id = $1 AND starts_ms = $2 AND cancelled_at IS NULL",
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
/// have missed a booking written without the locks.
async fn insert(
    conn: &mut PgConnection,
    school: SchoolId,
    new: &NewBooking<'_>,
    seat: i64,
    created_ms: i64,
) -> Result<BookOutcome, StoreError> {
    let inserted = sqlx::query_as::<_, BookingRow>(concat!(
        "INSERT INTO bookings (school_id, teacher_id, student_id, starts_ms, ends_ms, subject, \
         form, topic, seat, created_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING ",
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
        // The transaction is aborted now: the caller rolls it back.
        Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
            Ok(if e.constraint() == Some(STUDENT_INDEX) {
                BookOutcome::AlreadyBooked
            } else {
                BookOutcome::SlotTaken
            })
        }
        Err(e) => Err(e.into()),
    }
}

impl PgStore {
    pub(crate) async fn booking_rules(&self, user: UserId) -> Result<BookingRules, StoreError> {
        let row: Option<(i64, i64)> = sqlx::query_as(
            "SELECT slot_minutes, group_limit FROM booking_rules WHERE user_id = $1",
        )
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
            "INSERT INTO booking_rules (user_id, slot_minutes, group_limit) VALUES ($1, $2, $3) \
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
            "INSERT INTO blocked_slots (user_id, starts_ms) VALUES ($1, $2) \
             ON CONFLICT (user_id, starts_ms) DO NOTHING"
        } else {
            "DELETE FROM blocked_slots WHERE user_id = $1 AND starts_ms = $2"
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
             WHERE user_id = $1 AND starts_ms >= $2 AND starts_ms < $3 ORDER BY starts_ms",
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
        let mut tx = self.pool.begin().await?;
        lock_student(&mut tx, new.student).await?;
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
        let mut tx = self.pool.begin().await?;
        lock_student(&mut tx, new.student).await?;
        // Cancelled first, inside the transaction: the checks that follow no longer see it, so
        // it neither counts against max_open nor holds the slot it may move within.
        let school: Option<i64> = sqlx::query_scalar(
            "UPDATE bookings SET cancelled_at = $1, cancelled_by = student_id, \
             cancel_reason = NULL \
             WHERE id = $2 AND student_id = $3 AND cancelled_at IS NULL RETURNING school_id",
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
            "UPDATE bookings SET cancelled_at = $1, cancelled_by = $2, cancel_reason = $3 \
             WHERE id = $4 AND cancelled_at IS NULL RETURNING ",
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
            " FROM bookings WHERE id = $1"
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
                " FROM bookings WHERE student_id = $1 AND cancelled_at IS NULL AND ends_ms > $2 \
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
                " FROM bookings WHERE teacher_id = $1 AND cancelled_at IS NULL \
                 AND starts_ms >= $2 AND starts_ms < $3 ORDER BY starts_ms, id"
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
                " FROM bookings WHERE school_id = $1 AND cancelled_at IS NULL AND ends_ms > $2 \
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
            "SELECT generation FROM calendar_feeds WHERE user_id = $1 AND active",
        )
        .bind(user.0)
        .fetch_optional(&self.pool)
        .await?)
    }

    pub(crate) async fn renew_calendar_feed(&self, user: UserId) -> Result<i64, StoreError> {
        Ok(sqlx::query_scalar(
            "INSERT INTO calendar_feeds (user_id, generation, active) VALUES ($1, 1, TRUE) \
             ON CONFLICT (user_id) \
             DO UPDATE SET generation = calendar_feeds.generation + 1, active = TRUE \
             RETURNING generation",
        )
        .bind(user.0)
        .fetch_one(&self.pool)
        .await?)
    }

    pub(crate) async fn revoke_calendar_feed(&self, user: UserId) -> Result<(), StoreError> {
        sqlx::query("UPDATE calendar_feeds SET active = FALSE WHERE user_id = $1")
            .bind(user.0)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}
