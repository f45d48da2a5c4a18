//! The chat writer's fast path on PostgreSQL: a batch of plain text sends (no attachments, no
//! `client_id` seen before) stored with a fixed number of statements whatever its size, each
//! taking the batch's values as arrays (`unnest`). Anything else goes one by one
//! ([`super::messages`]); this path decides before it writes anything.

use crate::StoreError;
use crate::messages::{NewMessage, Refusal, SendOutcome};
use konsult_protocol::model::ChatMessage;
use konsult_protocol::{MessageId, RequestId, UserId};
use sqlx::PgConnection;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

/// Stores a whole batch in the open transaction (whose threads' rows it already locked), or
/// answers `None` (having written nothing) when some send needs the one-by-one path:
/// attachments, a `client_id` repeated within the batch, or one stored before (a retry).
pub(super) async fn write(
    tx: &mut PgConnection,
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
    let senders: Vec<i64> = batch.iter().map(|job| job.sender.0).collect();
    let client_ids: Vec<&str> = batch.iter().map(|job| job.client_id.0.as_str()).collect();
    let retries: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM messages m JOIN unnest($1::BIGINT[], $2::TEXT[]) \
         AS k (sender, client_id) ON m.sender = k.sender AND m.client_id = k.client_id)",
    )
    .bind(&senders)
    .bind(&client_ids)
    .fetch_one(&mut *tx)
    .await?;
    if retries {
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
    let (bump_threads, bump_counts): (Vec<i64>, Vec<i64>) = counts.iter().unzip();
    let bumped: Vec<(i64, i64, Option<i64>, bool)> = sqlx::query_as(
        "UPDATE threads SET last_seq = threads.last_seq + c.n, last_at = $1 \
         FROM unnest($2::BIGINT[], $3::BIGINT[]) AS c (id, n) WHERE threads.id = c.id \
         RETURNING threads.id, threads.last_seq, threads.request_id, threads.answered",
    )
    .bind(now)
    .bind(&bump_threads)
    .bind(&bump_counts)
    .fetch_all(&mut *tx)
    .await?;
    // thread -> (next seq to hand out, the request it answers while unanswered)
    let mut threads: HashMap<i64, (i64, Option<i64>)> = HashMap::new();
    for (thread, last_seq, request, answered) in bumped {
        let first = last_seq - counts[&thread] + 1;
        threads.insert(thread, (first, request.filter(|_| !answered)));
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
    if !answered_threads.is_empty() {
        sqlx::query("UPDATE threads SET answered = TRUE, answered_at = $1 WHERE id = ANY($2)")
            .bind(now)
            .bind(&answered_threads)
            .execute(&mut *tx)
            .await?;
    }

    let stored: Vec<&Planned> = planned.iter().flatten().collect();
    let column = |f: fn(&Planned) -> i64| stored.iter().map(|p| f(p)).collect::<Vec<i64>>();
    let texts: Vec<&str> = stored.iter().map(|p| p.job.text).collect();
    let stored_client_ids: Vec<&str> = stored.iter().map(|p| p.job.client_id.0.as_str()).collect();
    let inserted: Vec<(i64, i64, i64)> = sqlx::query_as(
        "INSERT INTO messages (thread_id, seq, sender, text, ts, client_id) \
         SELECT thread_id, seq, sender, text, $1, client_id \
         FROM unnest($2::BIGINT[], $3::BIGINT[], $4::BIGINT[], $5::TEXT[], $6::TEXT[]) \
         AS m (thread_id, seq, sender, text, client_id) \
         RETURNING id, thread_id, seq",
    )
    .bind(now)
    .bind(column(|p| p.job.thread.0))
    .bind(column(|p| p.seq))
    .bind(column(|p| p.job.sender.0))
    .bind(&texts)
    .bind(&stored_client_ids)
    .fetch_all(&mut *tx)
    .await?;
    let ids: HashMap<(i64, i64), i64> = inserted
        .into_iter()
        .map(|(id, thread, seq)| ((thread, seq), id))
        .collect();

    // The senders have read their own messages: each up to their last one in the batch.
    let mut read: BTreeMap<(i64, i64), i64> = BTreeMap::new();
    for p in &stored {
        let entry = read.entry((p.job.thread.0, p.job.sender.0)).or_default();
        *entry = (*entry).max(p.seq);
    }
    let read_threads: Vec<i64> = read.keys().map(|(thread, _)| *thread).collect();
    let read_users: Vec<i64> = read.keys().map(|(_, user)| *user).collect();
    let read_seqs: Vec<i64> = read.values().copied().collect();
    sqlx::query(
        "UPDATE thread_members SET read_seq = c.seq \
         FROM unnest($1::BIGINT[], $2::BIGINT[], $3::BIGINT[]) AS c (thread_id, user_id, seq) \
         WHERE thread_members.thread_id = c.thread_id AND thread_members.user_id = c.user_id",
    )
    .bind(&read_threads)
    .bind(&read_users)
    .bind(&read_seqs)
    .execute(&mut *tx)
    .await?;

    let thread_members = members_of(tx, &bump_threads).await?;
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
    tx: &mut PgConnection,
    batch: &[NewMessage<'_>],
) -> Result<HashSet<(i64, i64)>, StoreError> {
    let pairs: HashSet<(i64, i64)> = batch
        .iter()
        .map(|job| (job.thread.0, job.sender.0))
        .collect();
    let (threads, users): (Vec<i64>, Vec<i64>) = pairs.into_iter().unzip();
    let found: Vec<(i64, i64)> = sqlx::query_as(
        "SELECT m.thread_id, m.user_id FROM thread_members m \
         JOIN unnest($1::BIGINT[], $2::BIGINT[]) AS c (thread_id, user_id) \
         ON m.thread_id = c.thread_id AND m.user_id = c.user_id",
    )
    .bind(&threads)
    .bind(&users)
    .fetch_all(&mut *tx)
    .await?;
    Ok(found.into_iter().collect())
}

/// The members of each thread, in id order.
async fn members_of(
    tx: &mut PgConnection,
    threads: &[i64],
) -> Result<HashMap<i64, Arc<Vec<UserId>>>, StoreError> {
    let rows: Vec<(i64, i64)> = sqlx::query_as(
        "SELECT thread_id, user_id FROM thread_members WHERE thread_id = ANY($1) \
         ORDER BY thread_id, user_id",
    )
    .bind(threads)
    .fetch_all(&mut *tx)
    .await?;
    let mut members: HashMap<i64, Vec<UserId>> = HashMap::new();
    for (thread, user) in rows {
        members.entry(thread).or_default().push(UserId(user));
    }
    Ok(members
        .into_iter()
        .map(|(thread, users)| (thread, Arc::new(users)))
        .collect())
}
