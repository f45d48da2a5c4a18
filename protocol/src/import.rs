//! The account import's CSV format (`POST /api/admin/users/import`, `konsult user import`):
//! text in, the accounts it describes and every bad line out. Pure: it neither reads the
//! database nor makes passwords; the server does both with what this returns.

use crate::ErrorCode;
use crate::model::Role;
use std::collections::HashSet;

/// The columns a file may have; `login`, `name` and `role` are required.
pub const COLUMNS: [&str; 6] = ["login", "name", "role", "class", "subjects", "password"];
/// The longest login, in bytes.
pub const MAX_LOGIN_BYTES: usize = 64;
/// The longest name, in characters.
pub const MAX_NAME_CHARS: usize = 200;
/// The longest subject code, in bytes.
pub const MAX_SUBJECT_BYTES: usize = 64;

/// One account a line of the file describes, checked by [`check_account`].
#[derive(Clone, PartialEq, Eq)]
pub struct ImportedAccount {
    /// The line in the file (the header is line 1).
    pub line: usize,
    pub login: String,
    pub name: String,
    pub role: Role,
    pub class: Option<String>,
    /// Lower case, sorted, without repeats.
    pub subjects: Vec<String>,
    /// As given; `None` when the cell was empty (the server generates one).
    pub password: Option<String>,
}

impl std::fmt::Debug for ImportedAccount {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ImportedAccount")
            .field("line", &self.line)
            .field("login", &self.login)
            .field("name", &self.name)
            .field("role", &self.role)
            .field("class", &self.class)
            .field("subjects", &self.subjects)
            .finish_non_exhaustive()
    }
}

/// A problem with one line of an import.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct LineError {
    pub line: usize,
    pub message: String,
    /// `weak_password` when the line's password is under the floor ([`check_password`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<ErrorCode>,
}

impl LineError {
    fn new(line: usize, message: String) -> LineError {
        LineError {
            line,
            message,
            code: None,
        }
    }
}

/// The shortest password an admin may set or import, in characters.
pub const MIN_PASSWORD_CHARS: usize = 8;

/// The floor for a password an admin sets or imports: at least [`MIN_PASSWORD_CHARS`]
/// characters and not the login itself. The message says what is wrong.
pub fn check_password(login: &str, password: &str) -> Result<(), String> {
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(format!(
            "the password of {login:?} is too short: use at least {MIN_PASSWORD_CHARS} characters"
        ));
    }
    if password.trim().to_lowercase() == login.trim().to_lowercase() {
        return Err(format!("the password of {login:?} is the login itself"));
    }
    Ok(())
}

impl std::fmt::Display for LineError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

/// What a file holds: the accounts that are fine and every line that is not.
#[derive(Debug, Default)]
pub struct Parsed {
    pub rows: Vec<ImportedAccount>,
    pub errors: Vec<LineError>,
    /// Lines between the header and the last row that hold no account (blank, or only
    /// separators): neither rows nor errors.
    pub skipped: usize,
}

/// Checks one account's fields: a login of 1 to 64 letters, digits, `.`, `_`, `-` or `@`; a
/// name of 1 to 200 characters; a class for a student; subject codes of letters, digits, `_`
/// or `-`. The message says what is wrong.
pub fn check_account(
    login: &str,
    name: &str,
    role: Role,
    class: Option<&str>,
    subjects: &[String],
) -> Result<(), String> {
    let valid_login = !login.is_empty()
        && login.len() <= MAX_LOGIN_BYTES
        && login
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '.' | '_' | '-' | '@'));
    if !valid_login {
        return Err(format!(
            "login {login:?}: use 1 to 64 letters, digits, '.', '_', '-' or '@'"
        ));
    }
    if name.trim().is_empty() || name.chars().count() > MAX_NAME_CHARS {
        return Err("name must be 1 to 200 characters".to_string());
    }
    if role == Role::Student && class.is_none() {
        return Err("a student needs a class".to_string());
    }
    for subject in subjects {
        if subject.is_empty()
            || subject.len() > MAX_SUBJECT_BYTES
            || !subject
                .chars()
                .all(|c| c.is_alphanumeric() || c == '_' || c == '-')
        {
            return Err(format!(
                "subject {subject:?}: use letters, digits, '_' or '-'"
            ));
        }
    }
    Ok(())
}

/// Splits a subjects cell: `math physics`, `math;physics` or `math,physics`.
pub fn parse_subjects(cell: &str) -> Vec<String> {
    let mut out: Vec<String> = cell
        .split([' ', ';', ',', '|'])
        .map(|s| s.trim().to_lowercase())
        .filter(|s| !s.is_empty())
        .collect();
    out.sort();
    out.dedup();
    out
}

/// Reads and checks a whole file: `,` or `;` separated (as spreadsheets in Russian locales
/// export), a header row naming the [`COLUMNS`] in any order. Every bad line is reported with
/// its number; a bad header is one error on line 1 and no rows.
pub fn parse(text: &str) -> Parsed {
    // The csv reader counts lines by `\n` only, and one late after `\r\n`: a file saved on
    // Windows would report every bad line as the one before it. Every line ends in `\n` here.
    let text = &text.replace("\r\n", "\n").replace('\r', "\n");
    let mut parsed = Parsed::default();
    let fatal = |message: String| Parsed {
        rows: Vec::new(),
        errors: vec![LineError::new(1, message)],
        skipped: 0,
    };
    let first_line = text.lines().next().unwrap_or_default();
    let delimiter = if first_line.contains(';') && !first_line.contains(',') {
        b';'
    } else {
        b','
    };
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let headers: Vec<String> = match reader.headers() {
        Ok(h) => h
            .iter()
            .map(|h| h.trim_start_matches('\u{feff}').to_lowercase())
            .collect(),
        Err(e) => return fatal(e.to_string()),
    };
    if let Some(unknown) = headers.iter().find(|h| !COLUMNS.contains(&h.as_str())) {
        return fatal(format!(
            "unknown column {unknown:?}; columns are {}",
            COLUMNS.join(", ")
        ));
    }
    for required in ["login", "name", "role"] {
        if !headers.iter().any(|h| h == required) {
            return fatal(format!("missing column {required:?}"));
        }
    }
    let col = |name: &str| headers.iter().position(|h| h == name);
    let mut seen = HashSet::new();
    // The reader passes over blank lines without a record: a gap before a record's line is
    // that many skipped lines.
    let mut next_line = reader.position().line() as usize;
    for record in reader.records() {
        let record = match record {
            Ok(record) => record,
            Err(e) => {
                let line = e.position().map_or(0, |p| p.line() as usize);
                parsed.errors.push(LineError::new(line, e.to_string()));
                next_line = line + 1;
                continue;
            }
        };
        let line = record.position().map_or(0, |p| p.line() as usize);
        parsed.skipped += line.saturating_sub(next_line);
        let spanned: usize = record.iter().map(|field| field.matches('\n').count()).sum();
        next_line = line + 1 + spanned;
        let mut fail = |message: String| parsed.errors.push(LineError::new(line, message));
        if record.iter().all(str::is_empty) {
            parsed.skipped += 1;
            continue;
        }
        if record.len() != headers.len() {
            fail(format!(
                "{} fields, the header has {}",
                record.len(),
                headers.len()
            ));
            continue;
        }
        let get = |name: &str| col(name).and_then(|i| record.get(i)).unwrap_or_default();
        let Some(role) = Role::parse(&get("role").to_lowercase()) else {
            fail(format!(
                "role {:?}: use student, teacher, support or admin",
                get("role")
            ));
            continue;
        };
        let account = ImportedAccount {
            line,
            login: get("login").to_string(),
            name: get("name").to_string(),
            role,
            class: Some(get("class").to_string()).filter(|c| !c.is_empty()),
            subjects: parse_subjects(get("subjects")),
            password: Some(get("password").to_string()).filter(|p| !p.is_empty()),
        };
        if let Err(message) = check_account(
            &account.login,
            &account.name,
            account.role,
            account.class.as_deref(),
            &account.subjects,
        ) {
            fail(message);
            continue;
        }
        if !seen.insert(account.login.to_lowercase()) {
            fail(format!(
                "login {:?} appears twice in the file",
                account.login
            ));
            continue;
        }
        if let Some(password) = &account.password
            && let Err(message) = check_password(&account.login, password)
        {
            parsed.errors.push(LineError {
                line,
                message,
                code: Some(ErrorCode::WeakPassword),
            });
            continue;
        }
        parsed.rows.push(account);
    }
    parsed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_bad_line_is_reported() {
        let text = "login,name,role,class\nstudent1,Иван,student,9A\nbad login,Пётр,student,9A\n\
                    ok2,Олег,student,9A\nx,Икс,pilot,9A\n";
        let parsed = parse(text);
        let lines: Vec<usize> = parsed.errors.iter().map(|e| e.line).collect();
        assert_eq!(lines, vec![3, 5]);
        assert!(parsed.errors[1].message.contains("pilot"));
        assert_eq!(parsed.rows.len(), 2);
        let text = "login;name;role;class;subjects\nt1;Учитель;teacher;;math physics\n";
        let parsed = parse(text);
        assert!(parsed.errors.is_empty());
        assert_eq!(parsed.rows[0].subjects, vec!["math", "physics"]);
        assert_eq!(parsed.rows[0].password, None);
        let parsed = parse("login,name\na,A\n");
        assert!(parsed.errors[0].message.contains("missing column \"role\""));
        let parsed = parse("login,name,role,class\na,A,student,9A\nA,B,student,9A\n");
        assert_eq!(parsed.errors[0].line, 3);
        assert!(parsed.errors[0].message.contains("twice"));
    }

    #[test]
    fn lines_are_counted_alike_whatever_ends_them() {
        for end in ["\n", "\r\n", "\r"] {
            let text = [
                "login;name;role;class",
                "a;A;student;9A",
                "b;B;pilot;9A",
                "",
            ]
            .join(end);
            let parsed = parse(&text);
            assert_eq!(parsed.rows[0].line, 2, "{end:?}");
            assert_eq!(parsed.errors[0].line, 3, "{end:?}");
        }
    }

    #[test]
    fn lines_without_an_account_are_skipped_and_counted() {
        let text = "login;name;role;class\na;A;student;9A\n\n;;;\nb;\"B\nB\";student;9A\n   \n\
                    c;C;pilot;9A\nd;D;student;9A\n\n";
        let parsed = parse(text);
        assert_eq!(
            parsed.skipped, 3,
            "the blank line, the separators, the spaces"
        );
        let lines: Vec<usize> = parsed.rows.iter().map(|r| r.line).collect();
        assert_eq!(lines, vec![2, 5, 9]);
        assert_eq!(parsed.errors[0].line, 8);
        assert_eq!(parse("login,name,role\na,A,admin\n").skipped, 0);
    }
}
