//! The chat writer's fast path: a batch of plain text sends (no attachments, no `client_id`
//! seen before) stored with six statements whatever its size, instead of five or more per
//! message. Each statement is a round trip to SQLite's worker thread, and those round trips,
//! not the fsync, were what held group commit back. Anything else goes one by one
//! ([`super::messages`]); this path decides before it writes anything.

use crate::StoreError;
use crate::messages::{NewMessage, Refusal, SendOutcome};
use konsult_protocol::model::ChatMessage;
use konsult_protocol::{MessageId, RequestId, UserId};
use sqlx::SqliteConnection;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

/// `(?,?),(?,?)...`: `rows` rows of `columns` placeholders, for a `VALUES` list.
fn rows(rows: usize, columns: usize) -> String {
    let row = format!("({})", vec!["?"; columns].join(","));
    vec![row; rows].join(",")
}

/// Stores a whole batch in the open transaction, or answers `None` (having written nothing)
/// when some send needs the one-by-one path: attachments, a `client_id` repeated within the
/// batch, or one stored before (a retry).
pub(super) async fn write(
    tx: &mut SqliteConnection,
    batch: &[NewMessage<'_>],
    now: i64,
) -> Result<Option<Vec<SendOutcome>>, StoreError> {
    if batch.is_empty() || batch.iter().any(|job| !job.attachments.is_empty()) {
        return Ok(None);
    }
    let mut keys = HashSet::with_capacity(batch.len());
    if !batch
        .iter()
        .all(|job| keys.insert((job.sender, job.client_id.0.as_str())))
    {
        return Ok(None);
    }
    // Only `?` placeholders are formatted into these statements; every value is bound.
    let sql = format!(
        "SELECT count(*) FROM messages WHERE (sender, client_id) IN (VALUES {})",
        rows(batch.len(), 2)
    );
    let mut retries = sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(sql));
    for job in batch {
        retries = retries.bind(job.sender.0).bind(&job.client_id.0);
    }
    if retries.fetch_one(&mut *tx).await? > 0 {
        return Ok(None);
    }

    let members = member_pairs(tx, batch).await?;
    let is_member = |job: &NewMessage| members.contains(&(job.thread.0, job.sender.0));
    let mut counts: BTreeMap<i64, i64> = BTreeMap::new();
    for job in batch.iter().filter(|job| is_member(job)) {
        *counts.entry(job.thread.0).or_default() += 1;
    }
    if counts.is_empty() {
        return Ok(Some(
            batch
                .iter()
                .map(|job| SendOutcome::Refused(Refusal::NoThread(job.thread)))
                .collect(),
        ));
    }

    // Every thread's seqs at once: each thread's `last_seq` moves by its sends in this batch.
    let sql = format!(
        "UPDATE threads SET last_seq = threads.last_seq + c.column2, last_at = ? \
         FROM (VALUES {}) AS c WHERE threads.id = c.column1 \
         RETURNING id, last_seq, request_id, answered",
        rows(counts.len(), 2)
    );
    let mut bump = sqlx::query_as::<_, (i64, i64, Option<i64>, i64)>(sqlx::AssertSqlSafe(sql));
    bump = bump.bind(now);
    for (thread, n) in &counts {
        bump = bump.bind(*thread).bind(*n);
    }
    // thread -> (next seq to hand out, the request it answers while unanswered)
    let mut threads: HashMap<i64, (i64, Option<i64>)> = HashMap::new();
    for (thread, last_seq, request, answered) in bump.fetch_all(&mut *tx).await? {
        let first = last_seq - counts[&thread] + 1;
        threads.insert(thread, (first, request.filter(|_| answered == 0)));
    }

    struct Planned<'a> {
        job: &'a NewMessage<'a>,
        seq: i64,
        answered: Option<RequestId>,
    }
    let mut planned: Vec<Option<Planned>> = Vec::with_capacity(batch.len());
    let mut answered_threads: Vec<i64> = Vec::new();
    for job in batch {
        let slot = match threads.get_mut(&job.thread.0) {
            Some((next, unanswered)) if is_member(job) => {
                let seq = *next;
                *next += 1;
                // The first staff reply answers the request the thread came from.
                let answered = match *unanswered {
                    Some(request) if job.answers_requests => {
                        *unanswered = None;
                        answered_threads.push(job.thread.0);
                        Some(RequestId(request))
                    }
                    _ => None,
                };
                Some(Planned { job, seq, answered })
            }
            _ => None,
        };
        planned.push(slot);
    }
    for thread in answered_threads {
        sqlx::query("UPDATE threads SET answered = 1, answered_at = ? WHERE id = ?")
            .bind(now)
            .bind(thread)
            .execute(&mut *tx)
            .await?;
    }

    let stored: Vec<&Planned> = planned.iter().flatten().collect();
    let sql = format!(
        "INSERT INTO messages (thread_id, seq, sender, text, ts, client_id) VALUES {} \
         RETURNING id, thread_id, seq",
        rows(stored.len(), 6)
    );
    let mut insert = sqlx::query_as::<_, (i64, i64, i64)>(sqlx::AssertSqlSafe(sql));
    for p in &stored {
        insert = insert
            .bind(p.job.thread.0)
            .bind(p.seq)
            .bind(p.job.sender.0)
            .bind(p.job.text)
            .bind(now)
            .bind(&p.job.client_id.0);
    }
    let ids: HashMap<(i64, i64), i64> = insert
        .fetch_all(&mut *tx)
        .await?
        .into_iter()
        .map(|(id, thread, seq)| ((thread, seq), id))
        .collect();

    // The senders have read their own messages: each up to their last one in the batch.
    let mut read: BTreeMap<(i64, i64), i64> = BTreeMap::new();
    for p in &stored {
        let entry = read.entry((p.job.thread.0, p.job.sender.0)).or_default();
        *entry = (*entry).max(p.seq);
    }
    let sql = format!(
        "UPDATE thread_members SET read_seq = c.column3 FROM (VALUES {}) AS c \
         WHERE thread_members.thread_id = c.column1 AND thread_members.user_id = c.column2",
        rows(read.len(), 3)
    );
    let mut mark = sqlx::query(sqlx::AssertSqlSafe(sql));
    for ((thread, user), seq) in &read {
        mark = mark.bind(*thread).bind(*user).bind(*seq);
    }
    mark.execute(&mut *tx).await?;

    let thread_members = members_of(tx, counts.keys().copied()).await?;
    let outcomes = batch
        .iter()
        .zip(planned)
        .map(|(job, planned)| {
            let Some(p) = planned else {
                return Ok(SendOutcome::Refused(Refusal::NoThread(job.thread)));
            };
            let id = ids.get(&(job.thread.0, p.seq)).copied().ok_or_else(|| {
                StoreError::Invalid(format!(
                    "message {} of thread {} not stored",
                    p.seq, job.thread
                ))
            })?;
            Ok(SendOutcome::Stored {
                message: ChatMessage {
                    id: MessageId(id),
                    thread: job.thread,
                    seq: p.seq,
                    from: job.sender,
                    text: job.text.to_string(),
                    ts: now,
                    client_id: job.client_id.clone(),
                    attachments: Vec::new(),
                },
                members: thread_members
                    .get(&job.thread.0)
                    .cloned()
                    .unwrap_or_default(),
                answered: p.answered,
            })
        })
        .collect::<Result<Vec<SendOutcome>, StoreError>>()?;
    Ok(Some(outcomes))
}

/// The (thread, sender) pairs of the batch where the sender is a member.
async fn member_pairs(
    tx: &mut SqliteConnection,
    batch: &[NewMessage<'_>],
) -> Result<HashSet<(i64, i64)>, StoreError> {
    let pairs: Vec<(i64, i64)> = batch
        .iter()
        .map(|job| (job.thread.0, job.sender.0))
        .collect::<HashSet<_>>()
        .into_iter()
        .collect();
    let sql = format!(
        "SELECT c.column1, c.column2 FROM (VALUES {}) AS c WHERE EXISTS \
         (SELECT 1 FROM thread_members m WHERE m.thread_id = c.column1 AND m.user_id = c.column2)",
        rows(pairs.len(), 2)
    );
    let mut q = sqlx::query_as::<_, (i64, i64)>(sqlx::AssertSqlSafe(sql));
    for (thread, user) in &pairs {
        q = q.bind(*thread).bind(*user);
    }
    Ok(q.fetch_all(&mut *tx).await?.into_iter().collect())
}

/// The members of each thread, in id order.
async fn members_of(
    tx: &mut SqliteConnection,
    threads: impl ExactSizeIterator<Item = i64>,
) -> Result<HashMap<i64, Arc<Vec<UserId>>>, StoreError> {
    let sql = format!(
        "SELECT thread_id, user_id FROM thread_members WHERE thread_id IN ({}) \
         ORDER BY thread_id, user_id",
        vec!["?"; threads.len()].join(",")
    );
    let mut q = sqlx::query_as::<_, (i64, i64)>(sqlx::AssertSqlSafe(sql));
    for thread in threads {
        q = q.bind(thread);
    }
    let mut members: HashMap<i64, Vec<UserId>> = HashMap::new();
    for (thread, user) in q.fetch_all(&mut *tx).await? {
        members.entry(thread).or_default().push(UserId(user));
    }
    Ok(members
        .into_iter()
        .map(|(thread, users)| (thread, Arc::new(users)))
        .collect())
}
