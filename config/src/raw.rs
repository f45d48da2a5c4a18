//! Raw values as the file, the environment and flags give them, and their conversion to the
//! typed fields of `Config`.

use crate::{Language, LogFormat};
use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// A value before it is typed: TOML scalars and arrays, or the strings of variables and flags.
#[derive(Clone, Debug, PartialEq)]
pub enum Raw {
    Str(String),
    Int(i64),
    Bool(bool),
    List(Vec<String>),
}

impl fmt::Display for Raw {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Raw::Str(s) => write!(f, "{s:?}"),
            Raw::Int(i) => write!(f, "{i}"),
            Raw::Bool(b) => write!(f, "{b}"),
            Raw::List(l) => write!(f, "{l:?}"),
        }
    }
}

impl Raw {
    pub(crate) fn from_toml(v: &toml::Value) -> Result<Raw, String> {
        match v {
            toml::Value::String(s) => Ok(Raw::Str(s.clone())),
            toml::Value::Integer(i) => Ok(Raw::Int(*i)),
            toml::Value::Boolean(b) => Ok(Raw::Bool(*b)),
            toml::Value::Array(items) => items
                .iter()
                .map(|i| match i {
                    toml::Value::String(s) => Ok(s.clone()),
                    other => Err(format!(
                        "expected a list of strings, found {}",
                        other.type_str()
                    )),
                })
                .collect::<Result<_, _>>()
                .map(Raw::List),
            other => Err(format!("unsupported value of type {}", other.type_str())),
        }
    }
}

/// A field type that can be read from a raw value.
pub(crate) trait FromRaw: Sized {
    fn from_raw(raw: &Raw) -> Result<Self, String>;
}

fn int(raw: &Raw) -> Result<i64, String> {
    match raw {
        Raw::Int(i) => Ok(*i),
        Raw::Str(s) => s
            .trim()
            .replace('_', "")
            .parse()
            .map_err(|_| "expected an integer".to_string()),
        _ => Err("expected an integer".into()),
    }
}

macro_rules! unsigned {
    ($($t:ty),*) => {$(
        impl FromRaw for $t {
            fn from_raw(raw: &Raw) -> Result<Self, String> {
                let i = int(raw)?;
                <$t>::try_from(i).map_err(|_| format!("expected an integer from 0 to {}", <$t>::MAX))
            }
        }
    )*};
}
unsigned!(u32, u64, usize);

impl FromRaw for String {
    fn from_raw(raw: &Raw) -> Result<Self, String> {
        match raw {
            Raw::Str(s) => Ok(s.clone()),
            _ => Err("expected a string".into()),
        }
    }
}

/// An empty string means "not set".
impl FromRaw for Option<String> {
    fn from_raw(raw: &Raw) -> Result<Self, String> {
        let s = String::from_raw(raw)?;
        Ok(Some(s).filter(|s| !s.is_empty()))
    }
}

impl FromRaw for Option<PathBuf> {
    fn from_raw(raw: &Raw) -> Result<Self, String> {
        Ok(Option::<String>::from_raw(raw)?.map(PathBuf::from))
    }
}

impl FromRaw for PathBuf {
    fn from_raw(raw: &Raw) -> Result<Self, String> {
        let s = String::from_raw(raw)?;
        if s.is_empty() {
            return Err("expected a path".into());
        }
        Ok(PathBuf::from(s))
    }
}

/// A list from TOML, or comma-separated in a variable or flag.
impl FromRaw for Vec<String> {
    fn from_raw(raw: &Raw) -> Result<Self, String> {
        match raw {
            Raw::List(l) => Ok(l.clone()),
            Raw::Str(s) => Ok(s
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(String::from)
                .collect()),
            _ => Err("expected a list of strings".into()),
        }
    }
}

impl FromRaw for SocketAddr {
    fn from_raw(raw: &Raw) -> Result<Self, String> {
        String::from_raw(raw)?
            .parse()
            .map_err(|_| "expected an address such as 127.0.0.1:8080".into())
    }
}

/// An empty string means "not set".
impl FromRaw for Option<SocketAddr> {
    fn from_raw(raw: &Raw) -> Result<Self, String> {
        match Option::<String>::from_raw(raw)? {
            None => Ok(None),
            Some(_) => SocketAddr::from_raw(raw).map(Some),
        }
    }
}

impl FromRaw for LogFormat {
    fn from_raw(raw: &Raw) -> Result<Self, String> {
        match String::from_raw(raw)?.as_str() {
            "text" => Ok(LogFormat::Text),
            "json" => Ok(LogFormat::Json),
            _ => Err("expected \"text\" or \"json\"".into()),
        }
    }
}

impl FromRaw for Language {
    fn from_raw(raw: &Raw) -> Result<Self, String> {
        match String::from_raw(raw)?.as_str() {
            "ru" => Ok(Language::Ru),
            "en" => Ok(Language::En),
            _ => Err("expected \"ru\" or \"en\"".into()),
        }
    }
}

/// `90s`, `30m`, `12h`, `365d` or `250ms`; a bare integer is seconds.
impl FromRaw for Duration {
    fn from_raw(raw: &Raw) -> Result<Self, String> {
        match raw {
            Raw::Int(i) if *i >= 0 => Ok(Duration::from_secs(*i as u64)),
            Raw::Str(s) => parse_duration(s),
            _ => Err("expected a duration such as \"30s\"".into()),
        }
    }
}

/// Parses `250ms`, `30s`, `10m`, `12h`, `365d`, or a bare number of seconds.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let bad = || "expected a duration such as \"30s\", \"10m\", \"12h\" or \"365d\"".to_string();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: u64 = num.parse().map_err(|_| bad())?;
    let ms = match unit {
        "ms" => 1,
        "" | "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        _ => return Err(bad()),
    };
    n.checked_mul(ms).map(Duration::from_millis).ok_or_else(bad)
}
