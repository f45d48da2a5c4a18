//! `konsult`: the consultation server for schools. Parses the command line and configuration,
//! then serves or manages schools and accounts.

mod cli;
mod progress_line;

use konsult_server::{accounts, logging, schools, serve, store};

use anyhow::Context;
use clap::Parser;
use cli::{Cli, Command, SchoolCommand, UserCommand};
use konsult_config::{Config, Sources};
use konsult_protocol::model::Role;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let sources = Sources {
        file: cli.common.config.clone(),
        env: std::env::vars().collect(),
        flags: cli.config_flags(),
    };
    let config = match Config::load(&sources) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("konsult: {e}");
            return ExitCode::from(2);
        }
    };
    // The time zone and the TLS certificate are checked (and built) once, here: a bad one is
    // a config error like the others.
    let timezone = match jiff::tz::TimeZone::get(&config.school.timezone) {
        Ok(timezone) => timezone,
        Err(e) => {
            eprintln!("konsult: config key `school.timezone`: {e}");
            return ExitCode::from(2);
        }
    };
    let tls = match &config.server.tls_cert {
        Some(cert) => {
            let key = config.server.tls_key.clone().unwrap_or_default();
            match konsult_server::tls::acceptor(cert, &key) {
                Ok(acceptor) => Some(acceptor),
                Err(e) => {
                    eprintln!("konsult: {e}");
                    return ExitCode::from(2);
                }
            }
        }
        None => None,
    };
    // The SFU's socket is bound before anything else starts, so a taken port is a config
    // error like the others.
    let media_socket = match &cli.command {
        Command::Serve(_) => match konsult_media::MediaSockets::bind(config.media.listen) {
            Ok(socket) => Some(socket),
            Err(e) => {
                eprintln!(
                    "konsult: config key `media.listen`: cannot bind UDP {}: {e}",
                    config.media.listen
                );
                return ExitCode::from(2);
            }
        },
        Command::School(_) | Command::User(_) | Command::Purge(_) => None,
    };
    // So is the metrics listener's address.
    let metrics_listener = match (&cli.command, config.metrics.listen) {
        (Command::Serve(_), Some(addr)) => match bind_metrics(addr) {
            Ok(listener) => Some(listener),
            Err(e) => {
                eprintln!("konsult: config key `metrics.listen`: cannot listen on {addr}: {e}");
                return ExitCode::from(2);
            }
        },
        _ => None,
    };
    if let Err(e) = logging::init(&config.log) {
        eprintln!("konsult: {e}");
        return ExitCode::from(2);
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("konsult: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let served = Served {
        timezone,
        tls,
        media_socket,
        metrics_listener,
    };
    match runtime.block_on(run(cli.command, config, served)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("konsult: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// What `serve` needs beside the configuration, made and checked before the runtime starts.
struct Served {
    timezone: jiff::tz::TimeZone,
    tls: Option<tokio_rustls::TlsAcceptor>,
    media_socket: Option<konsult_media::MediaSockets>,
    /// `metrics.listen`, bound; `None` when metrics are not served.
    metrics_listener: Option<std::net::TcpListener>,
}

/// Binds the metrics listener (non-blocking, for tokio to take over).
fn bind_metrics(addr: std::net::SocketAddr) -> std::io::Result<std::net::TcpListener> {
    let listener = std::net::TcpListener::bind(addr)?;
    listener.set_nonblocking(true)?;
    Ok(listener)
}

async fn run(command: Command, config: Config, served: Served) -> anyhow::Result<()> {
    match command {
        Command::Serve(serve) => run_server(config, serve.demo, served).await,
        Command::School(SchoolCommand::Add(add)) => {
            let store =
                store::Store::open_configured(config.store.url.as_deref(), &config.server.data)
                    .await?;
            let name = add.name.unwrap_or_else(|| config.school.name.clone());
            let timezone = add
                .timezone
                .unwrap_or_else(|| config.school.timezone.clone());
            jiff::tz::TimeZone::get(&timezone)
                .with_context(|| format!("time zone {timezone:?}"))?;
            if name.trim().is_empty() {
                anyhow::bail!("the school needs a name (--name)");
            }
            let id = store
                .create_school(&add.code, name.trim(), &timezone)
                .await?;
            let school = store
                .school_by_id(id)
                .await?
                .context("the new school vanished")?;
            println!("created school {} ({})", school.code, school.name);
            if let Some(password) = accounts::ensure_admin(&store, id).await? {
                println!("  administrator login: admin");
                println!("  password: {password}");
                println!("This password is shown only once: keep it safe.");
            }
            Ok(())
        }
        Command::School(SchoolCommand::List) => {
            let store =
                store::Store::open_configured(config.store.url.as_deref(), &config.server.data)
                    .await?;
            for school in store.schools().await? {
                println!("{}\t{}\t{}", school.code, school.name, school.timezone);
            }
            Ok(())
        }
        Command::User(UserCommand::Add(add)) => {
            let store =
                store::Store::open_configured(config.store.url.as_deref(), &config.server.data)
                    .await?;
            let school = command_school(&store, &config, add.school.as_deref()).await?;
            let role = Role::parse(&add.role).with_context(|| {
                format!(
                    "role {:?}: use student, teacher, support or admin",
                    add.role
                )
            })?;
            let login = add.login.clone();
            let generated = accounts::add_user(
                &store,
                school,
                accounts::AddUser {
                    login: add.login,
                    name: add.name,
                    role,
                    class: add.class,
                    subjects: add
                        .subjects
                        .as_deref()
                        .map(accounts::parse_subjects)
                        .unwrap_or_default(),
                    password: add.password,
                },
            )
            .await?;
            println!("created {login}");
            if let Some(password) = generated {
                println!("password: {password}");
            }
            Ok(())
        }
        Command::Purge(purge) => {
            let store =
                store::Store::open_configured(config.store.url.as_deref(), &config.server.data)
                    .await?;
            let dir = config
                .server
                .data
                .join(konsult_server::chat::attachments::DIR);
            let mut shown = progress_line::ProgressLine::new(std::time::Duration::ZERO);
            let mut stage = None;
            let purged = konsult_server::chat::purge::purge(
                &store,
                &dir,
                purge.older_than,
                purge.batch,
                &mut |step| {
                    // Each stage keeps its last line.
                    if stage
                        .replace(step.stage)
                        .is_some_and(|last| last != step.stage)
                    {
                        shown.finish();
                    }
                    shown.show(
                        &format!("purged {}/{} {}", step.done, step.total, step.stage.noun()),
                        false,
                    );
                },
            )
            .await?;
            shown.finish();
            println!(
                "purged {} messages and {} attachments ({} files)",
                purged.messages, purged.attachments, purged.files
            );
            Ok(())
        }
        Command::User(UserCommand::Import { file, school }) => {
            let store =
                store::Store::open_configured(config.store.url.as_deref(), &config.server.data)
                    .await?;
            let school = command_school(&store, &config, school.as_deref()).await?;
            let shown = std::sync::Mutex::new(progress_line::ProgressLine::new(
                std::time::Duration::from_millis(250),
            ));
            let shown = std::sync::Arc::new(shown);
            let reporter = std::sync::Arc::clone(&shown);
            let imported = accounts::import_users(
                &store,
                school,
                &file,
                std::sync::Arc::new(move |done, total| {
                    reporter
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner)
                        .show(&format!("prepared {done}/{total} accounts"), done == total);
                    true
                }),
            )
            .await;
            shown
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .finish();
            let imported = imported?;
            println!(
                "imported {} accounts from {}",
                imported.created,
                file.display()
            );
            if !imported.generated.is_empty() {
                println!("generated passwords (login,password):");
                for (login, password) in imported.generated {
                    println!("{login},{password}");
                }
            }
            Ok(())
        }
    }
}

/// The school a `user` command names with `--school`, else the only one (a database without
/// schools gets its first, from config, as the server would).
async fn command_school(
    store: &store::Store,
    config: &Config,
    code: Option<&str>,
) -> anyhow::Result<konsult_protocol::SchoolId> {
    if code.is_none() {
        schools::ensure_first(store, &config.school).await?;
    }
    Ok(schools::resolve(store, code).await?.id)
}

/// The schools a start needs: the demo school with `--demo`, the first school of an empty
/// database, an `admin` for every school (its password printed once).
async fn seed(app: &konsult_server::app::App, demo: bool) -> anyhow::Result<()> {
    if demo {
        let school = schools::demo_school(&app.store, &app.config.school).await?;
        let created = accounts::seed_demo(&app.store, school).await?;
        tracing::info!(created, "demo school ready (all passwords: demo)");
    }
    schools::ensure_first(&app.store, &app.config.school).await?;
    let all = app.store.schools().await?;
    let several = all.len() > 1;
    for school in all {
        if let Some(password) = accounts::ensure_admin(&app.store, school.id).await? {
            if several {
                println!(
                    "Konsult created the administrator account of school {}.",
                    school.code
                );
            } else {
                println!("Konsult created the administrator account.");
            }
            println!("  login:    admin");
            println!("  password: {password}");
            println!("This password is shown only once: keep it safe.");
        }
    }
    Ok(())
}

async fn run_server(config: Config, demo: bool, served: Served) -> anyhow::Result<()> {
    let listen = config.server.listen;
    let app = serve::build(config, served.timezone).await?;
    if let Some(sockets) = served.media_socket {
        serve::start_media(&app, sockets)?;
    }
    // Every step of the seeding is idempotent; nodes of a cluster starting together on one
    // database may still race on it (both see a row missing, one insert fails): the loser
    // runs it again and finds the row.
    let mut attempt = 1;
    while let Err(e) = seed(&app, demo).await {
        if attempt == 3 {
            return Err(e);
        }
        tracing::warn!(error = %e, attempt, "seeding the database failed; trying again");
        tokio::time::sleep(std::time::Duration::from_millis(200 * attempt)).await;
        attempt += 1;
    }
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("cannot listen on {listen}"))?;
    let local = listener.local_addr()?;
    let metrics = match served.metrics_listener {
        Some(listener) => {
            let listener = tokio::net::TcpListener::from_std(listener)?;
            let addr = listener.local_addr()?;
            tracing::info!(%addr, "metrics listening");
            // Before the listening line, which tests and scripts wait for.
            println!("Konsult metrics on http://{addr}/metrics");
            Some(listener)
        }
        None => None,
    };
    tracing::info!(addr = %local, "listening");
    println!(
        "Konsult listening on http://{local} (pid {})",
        std::process::id()
    );
    serve::serve(app, listener, served.tls, metrics, shutdown_signal()).await
}

/// Resolves on SIGTERM or Ctrl-C.
async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}
