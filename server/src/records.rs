//! The consultation record: writing what the hub reports (batched, off the hub's task), and
//! reading it back for the administration as JSON or CSV.

use crate::store::records::Record;
use crate::store::{self, Store, StoreError, retry_transient};
use konsult_protocol::SchoolId;
use konsult_signaling::{ConsultationRecord, IdSeeds, RecordKey};
use tokio::sync::mpsc;

/// Records waiting to be written before the hub waits.
const QUEUE: usize = 65_536;
/// Records written per transaction at most.
const BATCH: usize = 512;

/// Writes one school's records in the background, many per transaction.
#[derive(Debug)]
pub struct RecordWriter {
    tx: mpsc::Sender<Record>,
    done: tokio::task::JoinHandle<()>,
}

impl RecordWriter {
    /// `epoch`: the one the hub claimed the school under; a write refused as stale (another
    /// node claimed the school since) ends the writing: the hub is stopping.
    pub fn start(store: Store, school: SchoolId, epoch: Option<i64>) -> RecordWriter {
        let (tx, mut rx) = mpsc::channel::<Record>(QUEUE);
        let done = tokio::spawn(async move {
            let mut batch = Vec::with_capacity(BATCH);
            while rx.recv_many(&mut batch, BATCH).await > 0 {
                let written = retry_transient("consultation records", || {
                    store.write_records(school, epoch, &batch)
                })
                .await;
                match written {
                    Ok(()) => {}
                    Err(e @ StoreError::Stale { .. }) => {
                        tracing::warn!(error = %e, "another node holds the school: its records are its own");
                        return;
                    }
                    Err(e) => {
                        tracing::error!(error = %e, count = batch.len(), "writing consultation records failed");
                    }
                }
                batch.clear();
            }
        });
        RecordWriter { tx, done }
    }

    /// Queues a record; waits only when the writer is far behind.
    pub async fn write(&self, record: ConsultationRecord) {
        // The writer task ends only after `close`, so the channel is open here.
        let _closed = self.tx.send(row(record)).await;
    }

    /// Writes what is queued and stops.
    pub async fn close(self) {
        drop(self.tx);
        let _finished = self.done.await;
    }
}

/// The record of a consultation as the store keeps it.
fn row(r: ConsultationRecord) -> Record {
    Record {
        key: match r.key {
            RecordKey::Request(id) => store::records::RecordKey::Request(id),
            RecordKey::Session(id) => store::records::RecordKey::Session(id),
        },
        form: r.form,
        mode: r.mode,
        subject: r.subject,
        topic: r.topic,
        staff: r.staff,
        students: r.students,
        session: r.session,
        thread: r.thread,
        requested_at_ms: r.requested_at_ms,
        started_at_ms: r.started_at_ms,
        ended_at_ms: r.ended_at_ms,
        wait_secs: r.wait_secs,
        outcome: r.outcome.as_str(),
        confidential: r.confidential,
    }
}

/// The next request and session ids of a school's hub: past every id its record or threads
/// have seen.
pub async fn id_seeds(store: &Store, school: SchoolId) -> Result<IdSeeds, StoreError> {
    let next = store.next_ids(school).await?;
    Ok(IdSeeds {
        next_request: next.request,
        next_session: next.session,
    })
}
