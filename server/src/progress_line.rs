//! How a long command (`konsult purge`, `konsult user import`) shows how far it got: on
//! stderr, so that stdout keeps its result alone. On a terminal one line is rewritten in
//! place; anywhere else (a log, a pipe, cron's mail) each step is a line of its own.

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

/// The progress line of one command.
#[derive(Debug)]
pub struct ProgressLine {
    /// stderr is a terminal: rewrite one line with `\r` instead of adding lines.
    terminal: bool,
    /// Steps closer together than this are not shown (the last one always is).
    every: Duration,
    /// When a step was last shown.
    shown: Option<Instant>,
    /// A terminal line is drawn and not yet ended with a newline.
    open: bool,
}

impl ProgressLine {
    /// A progress line showing at most one step per `every`.
    pub fn new(every: Duration) -> ProgressLine {
        ProgressLine {
            terminal: std::io::stderr().is_terminal(),
            every,
            shown: None,
            open: false,
        }
    }

    /// Shows `text` unless a step was shown less than `every` ago; `last` steps always show.
    pub fn show(&mut self, text: &str, last: bool) {
        let now = Instant::now();
        if !last
            && self
                .shown
                .is_some_and(|at| now.duration_since(at) < self.every)
        {
            return;
        }
        self.shown = Some(now);
        let mut err = std::io::stderr().lock();
        // A closed or full stderr costs the user the progress, never the work: ignored.
        let _unshown = if self.terminal {
            self.open = true;
            write!(err, "\r{text}\x1b[K").and_then(|()| err.flush())
        } else {
            writeln!(err, "{text}")
        };
    }

    /// Ends a terminal line, so that what follows starts on a line of its own.
    pub fn finish(&mut self) {
        if self.open {
            self.open = false;
            let _unshown = writeln!(std::io::stderr());
        }
    }
}

impl Drop for ProgressLine {
    fn drop(&mut self) {
        self.finish();
    }
}
