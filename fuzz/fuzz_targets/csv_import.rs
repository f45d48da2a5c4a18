//! Any text as an account import file: parsing never panics, and every account it accepts
//! keeps the import's own rules (a valid login, unique in the file; a name; a class for a
//! student; subject codes lower case, sorted, without repeats; no empty password; lines in
//! order after the header).

#![no_main]

use konsult_protocol::import::{self, check_account, parse_subjects};
use konsult_protocol::model::Role;
use libfuzzer_sys::fuzz_target;
use std::collections::HashSet;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let parsed = import::parse(text);
    let mut logins = HashSet::new();
    let mut last_line = 1;
    for row in &parsed.rows {
        assert!(
            row.line > last_line,
            "rows in file order after the header: {row:?}"
        );
        last_line = row.line;
        check_account(
            &row.login,
            &row.name,
            row.role,
            row.class.as_deref(),
            &row.subjects,
        )
        .expect("an accepted row passes the checks");
        assert!(
            logins.insert(row.login.to_lowercase()),
            "login twice: {row:?}"
        );
        assert!(row.role != Role::Student || row.class.is_some());
        assert!(row.class.as_deref() != Some(""));
        assert!(row.password.as_deref() != Some(""));
        assert_eq!(parse_subjects(&row.subjects.join(" ")), row.subjects);
        assert!(row.subjects.iter().all(|s| *s == s.to_lowercase()));
        assert!(
            !parsed.errors.iter().any(|e| e.line == row.line),
            "a line both accepted and refused: {row:?}"
        );
    }
    for error in &parsed.errors {
        assert!(!error.message.is_empty());
    }
});
