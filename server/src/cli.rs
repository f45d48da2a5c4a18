//! The command line: `konsult serve`, `konsult school add|list`, `konsult user add|import`,
//! `konsult purge`.

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

/// Konsult: a self-hosted consultation server for schools.
#[derive(Debug, Parser)]
#[command(name = "konsult", version, about)]
pub struct Cli {
    #[command(flatten)]
    pub common: Common,
    #[command(subcommand)]
    pub command: Command,
}

/// Options every command takes.
#[derive(Debug, Args)]
pub struct Common {
    /// Configuration file [default: config/konsult.toml when it exists]
    #[arg(long, global = true, value_name = "FILE", env = "KONSULT_CONFIG")]
    pub config: Option<PathBuf>,
    /// Data folder (database, secrets, attachments); overrides server.data
    #[arg(long, global = true, value_name = "DIR")]
    pub data: Option<String>,
    /// Log as JSON lines; overrides log.format
    #[arg(long, global = true)]
    pub log_json: bool,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server.
    Serve(Serve),
    /// Manage the schools this server serves.
    #[command(subcommand)]
    School(SchoolCommand),
    /// Manage user accounts.
    #[command(subcommand)]
    User(UserCommand),
    /// Delete chat messages older than a duration, and attachments no message refers to.
    Purge(Purge),
}

#[derive(Debug, Args)]
pub struct Purge {
    /// Age beyond which messages are deleted: 365d, 30d, 12h, 90m
    #[arg(long, value_name = "DURATION", value_parser = parse_age)]
    pub older_than: std::time::Duration,
    /// Rows deleted per transaction (1 to 100000); progress is shown on stderr after each
    #[arg(long, value_name = "N", default_value_t = konsult_server::chat::purge::DEFAULT_BATCH,
          value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub batch: u32,
}

/// A purge age: a positive duration such as `365d` or `12h`.
fn parse_age(s: &str) -> Result<std::time::Duration, String> {
    let age = konsult_config::parse_duration(s)?;
    if age.is_zero() {
        return Err("the age must be more than zero".into());
    }
    Ok(age)
}

#[derive(Debug, Args)]
pub struct Serve {
    /// Address to listen on; overrides server.listen (port 0 picks a free port)
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<String>,
    /// Seed the demo school (all passwords `demo`); harmless when it is already there
    #[arg(long)]
    pub demo: bool,
}

#[derive(Debug, Subcommand)]
pub enum SchoolCommand {
    /// Create a school, with its administrator account (the password is printed once).
    Add(AddSchool),
    /// List the schools: code, name, time zone.
    List,
}

#[derive(Debug, Args)]
pub struct AddSchool {
    /// 1 to 32 of a-z, 0-9 and -: what logins and /s/<code>/ name the school by
    #[arg(long)]
    pub code: String,
    /// The school's name [default: school.name]
    #[arg(long)]
    pub name: Option<String>,
    /// The school's time zone, such as Europe/Samara [default: school.timezone]
    #[arg(long)]
    pub timezone: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create one account.
    Add(AddUser),
    /// Create accounts from a CSV file with a header row:
    /// login,name,role[,class][,subjects][,password]. All rows or none.
    Import {
        /// The CSV file (`,` or `;` separated, UTF-8)
        file: PathBuf,
        /// The school's code; may be left out while there is one school
        #[arg(long)]
        school: Option<String>,
    },
}

#[derive(Debug, Args)]
pub struct AddUser {
    /// The school's code; may be left out while there is one school
    #[arg(long)]
    pub school: Option<String>,
    #[arg(long)]
    pub login: String,
    /// Full name, as others see it
    #[arg(long)]
    pub name: String,
    /// student, teacher, support or admin
    #[arg(long)]
    pub role: String,
    /// The student's class, such as 9A
    #[arg(long)]
    pub class: Option<String>,
    /// Subjects a teacher helps with, comma-separated: math,physics
    #[arg(long)]
    pub subjects: Option<String>,
    /// Password [default: generated and printed]
    #[arg(long)]
    pub password: Option<String>,
}

impl Cli {
    /// The flags that override configuration keys.
    pub fn config_flags(&self) -> Vec<(&'static str, String)> {
        let mut flags = Vec::new();
        if let Some(data) = &self.common.data {
            flags.push(("server.data", data.clone()));
        }
        if self.common.log_json {
            flags.push(("log.format", "json".to_string()));
        }
        if let Command::Serve(Serve {
            listen: Some(listen),
            ..
        }) = &self.command
        {
            flags.push(("server.listen", listen.clone()));
        }
        flags
    }
}
