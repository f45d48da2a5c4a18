//! One line of a crowd process's report to the scenario: what happened to one client of the
//! crowd (a `welcome`, a drop, a failed attempt) and when, as a JSON object on one line. The
//! instant is a [`Stamp`], microseconds since the Unix epoch: the one clock that every process
//! of the load generator reads alike (an `Instant` means nothing outside its process).

use serde_json::{Value, json};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// An instant as microseconds since the Unix epoch (the system's wall clock).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Stamp(pub u64);

impl Stamp {
    pub fn now() -> Stamp {
        let micros = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_micros() as u64)
            .unwrap_or(0);
        Stamp(micros)
    }
}

/// What happened to a client.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum What {
    /// A `welcome` from node `node` (an index into the nodes).
    Welcome { resumed: bool, node: usize },
    /// The socket closed after its `welcome`.
    Drop {
        /// The close code, when the server sent a close frame.
        code: Option<u16>,
        /// The `retry_after_ms` of a `server_shutdown` that came first.
        retry_after: Option<Duration>,
    },
    /// An attempt got no `welcome`; what it said, when it said something.
    Failed {
        failure: Failure,
        detail: Option<String>,
    },
}

/// What happened to client `client` (its index in the whole crowd) at `at`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    pub client: usize,
    pub at: Stamp,
    pub what: What,
}

impl Event {
    /// The event as one line of JSON, without the line's end.
    pub fn to_line(&self) -> String {
        let mut line = json!({"c": self.client, "t": self.at.0});
        match &self.what {
            What::Welcome { resumed, node } => {
                line["e"] = json!("welcome");
                line["resumed"] = json!(resumed);
                line["node"] = json!(node);
            }
            What::Drop { code, retry_after } => {
                line["e"] = json!("drop");
                line["code"] = json!(code);
                line["retry_after_ms"] = json!(retry_after.map(|d| d.as_millis() as u64));
            }
            What::Failed { failure, detail } => {
                line["e"] = json!("failed");
                line["failure"] = json!(failure.name());
                line["detail"] = json!(detail);
            }
        }
        line.to_string()
    }

    /// Reads a line [`Event::to_line`] wrote.
    pub fn parse(line: &str) -> anyhow::Result<Event> {
        let value: Value = serde_json::from_str(line)?;
        let unsigned = |key: &str| -> anyhow::Result<u64> {
            value[key]
                .as_u64()
                .ok_or_else(|| anyhow::anyhow!("no {key} in {line}"))
        };
        let what = match value["e"].as_str() {
            Some("welcome") => What::Welcome {
                resumed: value["resumed"]
                    .as_bool()
                    .ok_or_else(|| anyhow::anyhow!("no resumed in {line}"))?,
                node: unsigned("node")? as usize,
            },
            Some("drop") => What::Drop {
                code: value["code"].as_u64().and_then(|c| u16::try_from(c).ok()),
                retry_after: value["retry_after_ms"].as_u64().map(Duration::from_millis),
            },
            Some("failed") => {
                let name = value["failure"].as_str().unwrap_or_default();
                What::Failed {
                    failure: Failure::from_name(name)
                        .ok_or_else(|| anyhow::anyhow!("unknown failure in {line}"))?,
                    detail: value["detail"].as_str().map(str::to_string),
                }
            }
            _ => anyhow::bail!("not an event: {line}"),
        };
        Ok(Event {
            client: unsigned("c")? as usize,
            at: Stamp(unsigned("t")?),
            what,
        })
    }
}

/// Why an attempt got no `welcome`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Failure {
    /// The TCP connection was refused or failed: no node listens there.
    Refused,
    /// The upgrade was answered with this HTTP status (429, 503...).
    Status(u16),
    /// `server_shutdown`, then the socket closed: no node held the school yet, or the node
    /// was stopping.
    Shutdown,
    /// Closed with this code (or none) before `welcome`.
    Closed(Option<u16>),
    /// An `error` reply to `hello` with code `unauthorized` (then close 4001, after which
    /// Konsult's web client stops and asks the user to sign in again).
    Unauthorized,
    /// Another `error` reply to `hello`.
    Refusal,
    /// No `welcome` within the attempt's time limit (`client.rs`).
    Timeout,
    /// Anything else (a broken upgrade, an unexpected first message).
    Other,
}

impl Failure {
    pub fn name(self) -> String {
        match self {
            Failure::Refused => "refused".into(),
            Failure::Status(status) => format!("http_{status}"),
            Failure::Shutdown => "server_shutdown".into(),
            Failure::Closed(Some(code)) => format!("closed_{code}"),
            Failure::Closed(None) => "closed".into(),
            Failure::Unauthorized => "unauthorized".into(),
            Failure::Refusal => "error_reply".into(),
            Failure::Timeout => "timeout".into(),
            Failure::Other => "other".into(),
        }
    }

    /// The failure [`Failure::name`] names.
    pub fn from_name(name: &str) -> Option<Failure> {
        let number = |digits: &str| digits.parse().ok();
        Some(match name {
            "refused" => Failure::Refused,
            "server_shutdown" => Failure::Shutdown,
            "closed" => Failure::Closed(None),
            "unauthorized" => Failure::Unauthorized,
            "error_reply" => Failure::Refusal,
            "timeout" => Failure::Timeout,
            "other" => Failure::Other,
            _ => {
                if let Some(status) = name.strip_prefix("http_") {
                    Failure::Status(number(status)?)
                } else {
                    Failure::Closed(Some(number(name.strip_prefix("closed_")?)?))
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_read_back_as_written() {
        let events = [
            What::Welcome {
                resumed: true,
                node: 2,
            },
            What::Drop {
                code: Some(1001),
                retry_after: Some(Duration::from_millis(1_500)),
            },
            What::Drop {
                code: None,
                retry_after: None,
            },
            What::Failed {
                failure: Failure::Status(429),
                detail: Some("HTTP error: 429 \"Too Many Requests\"\n".into()),
            },
            What::Failed {
                failure: Failure::Closed(None),
                detail: None,
            },
        ];
        for (k, what) in events.into_iter().enumerate() {
            let event = Event {
                client: 19_000 + k,
                at: Stamp(1_764_000_000_000_000 + k as u64),
                what,
            };
            let line = event.to_line();
            assert!(!line.contains('\n'), "{line}");
            assert_eq!(Event::parse(&line).expect("an event"), event);
        }
        assert!(Event::parse(r#"{"c":1,"t":2,"e":"party"}"#).is_err());
    }
}
