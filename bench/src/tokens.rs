//! The load's users and their portal tokens: Konsult trusts the bench's portal and creates each
//! account on first sight, which is far faster than thousands of argon2 password logins.

use konsult_testkit::portal::{BENCH_PORTAL, Who};
use std::time::Duration;

/// How long a bench token is valid: longer than any run.
const VALID: Duration = Duration::from_secs(86_400);

/// A token for student number `i` (login `bench-s{i}`) in class `class`.
pub fn student(i: usize, class: &str) -> String {
    BENCH_PORTAL.mint(
        &Who {
            login: format!("bench-s{i}"),
            role: "student".into(),
            class: Some(class.to_string()),
            subjects: Vec::new(),
        },
        VALID,
    )
}

/// A token for teacher number `i` (login `bench-t{i}`) of `subjects`.
pub fn teacher(i: usize, subjects: &[&str]) -> String {
    BENCH_PORTAL.mint(
        &Who {
            login: format!("bench-t{i}"),
            role: "teacher".into(),
            class: None,
            subjects: subjects.iter().map(|s| s.to_string()).collect(),
        },
        VALID,
    )
}
