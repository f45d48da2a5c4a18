//! The request→offer probe: pairs of a student and a teacher of one school, each on a chosen
//! node relative to the school's owner. In rounds, the student sends `request_help` and the
//! time until the teacher's `help_offer` arrives is one sample; the teacher accepts and ends
//! the session, the student sees it end, and after a pause the next round begins.

use futures_util::StreamExt;
use konsult_testkit::ws::{Ws, connect_as, recv_type, send};
use serde_json::{Value, json};
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Message;

/// How long one step of a round may take before the round counts as lost.
const STEP_LIMIT: Duration = Duration::from_secs(5);

/// Where the two sides of a pair are, relative to the school's owner.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Placement {
    /// Both on the owner: no bridge.
    BothOnOwner,
    /// The student on another node, the teacher on the owner.
    StudentBridged,
    /// The teacher on another node, the student on the owner.
    TeacherBridged,
    /// Each on a different node, neither the owner: two bridges.
    NeitherOnOwner,
}

impl Placement {
    pub const ALL: [Placement; 4] = [
        Placement::BothOnOwner,
        Placement::StudentBridged,
        Placement::TeacherBridged,
        Placement::NeitherOnOwner,
    ];

    /// The name the figures carry.
    pub fn name(self) -> &'static str {
        match self {
            Placement::BothOnOwner => "owner_owner",
            Placement::StudentBridged => "student_bridged",
            Placement::TeacherBridged => "teacher_bridged",
            Placement::NeitherOnOwner => "neither_on_owner",
        }
    }

    /// The subject this placement's pair uses (one free teacher per subject and school).
    pub fn subject(self) -> &'static str {
        match self {
            Placement::BothOnOwner => "math",
            Placement::StudentBridged => "physics",
            Placement::TeacherBridged => "chemistry",
            Placement::NeitherOnOwner => "russian",
        }
    }

    /// The student's and the teacher's nodes, given the owner and the two other nodes.
    pub fn nodes(self, owner: usize, others: [usize; 2]) -> (usize, usize) {
        match self {
            Placement::BothOnOwner => (owner, owner),
            Placement::StudentBridged => (others[0], owner),
            Placement::TeacherBridged => (owner, others[0]),
            Placement::NeitherOnOwner => (others[0], others[1]),
        }
    }
}

/// One pair, connected.
#[derive(Debug)]
pub struct Pair {
    pub placement: Placement,
    student: Ws,
    teacher: Ws,
}

/// What one pair measured.
#[derive(Debug, Default)]
pub struct PairLog {
    /// Request sent → `help_offer` received, ms.
    pub offers_ms: Vec<f64>,
    /// Rounds whose offer, session or end did not come within [`STEP_LIMIT`].
    pub lost: u64,
    /// `error` replies on either side.
    pub errors: u64,
    pub first_error: Option<String>,
}

/// Connects a pair: the student to `nodes[student]`, the teacher to `nodes[teacher]`, who goes
/// available.
pub async fn connect(
    placement: Placement,
    nodes: &[SocketAddr],
    (student, student_token): (usize, &str),
    (teacher, teacher_token): (usize, &str),
    source: IpAddr,
) -> anyhow::Result<Pair> {
    let student = connect_as(nodes[student], source, student_token).await?;
    let mut teacher = connect_as(nodes[teacher], source, teacher_token).await?;
    send(
        &mut teacher,
        &json!({"type": "set_status", "status": "available", "rid": 0}),
    )
    .await?;
    recv_type(&mut teacher, "ok", STEP_LIMIT).await?;
    Ok(Pair {
        placement,
        student,
        teacher,
    })
}

/// Runs rounds until `until`, a pause of `gap` between them.
pub async fn run(mut pair: Pair, until: Instant, gap: Duration) -> PairLog {
    let mut log = PairLog::default();
    let subject = pair.placement.subject();
    let mut rid = 1i64;
    while Instant::now() < until {
        rid += 1;
        let ask = json!({"type": "request_help", "subject": subject, "form": "individual",
                         "mode": "online", "topic": "bench", "rid": rid});
        let asked = Instant::now();
        if send(&mut pair.student, &ask).await.is_err() {
            break;
        }
        let Some(offer) =
            wait_for(&mut pair.teacher, &mut log, |v| v["type"] == "help_offer").await
        else {
            log.lost += 1;
            recover(&mut pair, &mut log).await;
            continue;
        };
        log.offers_ms.push(asked.elapsed().as_secs_f64() * 1_000.0);
        let request = offer["request"]["id"].as_i64().unwrap_or(0);
        rid += 1;
        let accept = json!({"type": "accept", "request": request, "rid": rid});
        if send(&mut pair.teacher, &accept).await.is_err() {
            break;
        }
        let Some(started) = wait_for(&mut pair.teacher, &mut log, |v| {
            v["type"] == "session_started" && v["re"] == json!(rid)
        })
        .await
        else {
            log.lost += 1;
            recover(&mut pair, &mut log).await;
            continue;
        };
        let session = started["session"]["id"].as_i64().unwrap_or(0);
        rid += 1;
        let end = json!({"type": "end_session", "session": session, "rid": rid});
        if send(&mut pair.teacher, &end).await.is_err() {
            break;
        }
        let ended = wait_for(&mut pair.student, &mut log, |v| {
            v["type"] == "session_ended"
        })
        .await;
        let acked = wait_for(&mut pair.teacher, &mut log, |v| v["re"] == json!(rid)).await;
        if ended.is_none() || acked.is_none() {
            log.lost += 1;
            recover(&mut pair, &mut log).await;
            continue;
        }
        tokio::time::sleep(gap).await;
    }
    log
}

/// Reads `ws` until a message `wanted` picks, within [`STEP_LIMIT`]; counts `error`s.
async fn wait_for(
    ws: &mut Ws,
    log: &mut PairLog,
    wanted: impl Fn(&Value) -> bool,
) -> Option<Value> {
    let until = tokio::time::Instant::now() + STEP_LIMIT;
    loop {
        let text = match tokio::time::timeout_at(until, ws.next()).await.ok()?? {
            Ok(Message::Text(text)) => text,
            Ok(_) => continue,
            Err(_) => return None,
        };
        let value: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        if value["type"] == "error" {
            log.errors += 1;
            log.first_error.get_or_insert_with(|| text.to_string());
        }
        if wanted(&value) {
            return Some(value);
        }
    }
}

/// After a lost round: the student withdraws whatever request is open, both sides' pending
/// messages are read, and the teacher is available again.
async fn recover(pair: &mut Pair, log: &mut PairLog) {
    let list = json!({"type": "list_queue", "rid": 0});
    let _sent = send(&mut pair.teacher, &list).await;
    if let Some(queue) = wait_for(&mut pair.teacher, log, |v| v["type"] == "queue").await {
        for request in queue["requests"].as_array().into_iter().flatten() {
            let id = request["id"].as_i64().unwrap_or(0);
            let cancel = json!({"type": "cancel_request", "request": id, "rid": 0});
            let _sent = send(&mut pair.student, &cancel).await;
        }
    }
    let available = json!({"type": "set_status", "status": "available", "rid": 0});
    let _sent = send(&mut pair.teacher, &available).await;
    // Whatever is still on its way is read and dropped.
    let quiet = Duration::from_millis(500);
    while let Ok(Some(_)) = tokio::time::timeout(quiet, pair.student.next()).await {}
    while let Ok(Some(_)) = tokio::time::timeout(quiet, pair.teacher.next()).await {}
}
