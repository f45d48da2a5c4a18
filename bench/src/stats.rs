//! Percentiles and the summary block every scenario prints. Each figure is one line
//! `figure <name> = <value> <unit>`, which bench/run.sh collects across runs.

use std::fmt::Write as _;
use std::time::Duration;

/// The `p`th percentile (0..=100) of sorted values, nearest rank; 0 when empty.
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// Sorts values in place (NaN-free by construction: durations and counts).
pub fn sort(values: &mut [f64]) {
    values.sort_by(f64::total_cmp);
}

/// Milliseconds of a duration.
pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1_000.0
}

/// A scenario's report: its parameters and figures.
#[derive(Debug)]
pub struct Summary {
    scenario: &'static str,
    target: &'static str,
    params: Vec<(String, String)>,
    figures: Vec<(String, String, &'static str)>,
    /// The figures' values as measured, for checks.
    values: Vec<(String, f64)>,
    notes: Vec<String>,
}

impl Summary {
    pub fn new(scenario: &'static str, target: &'static str) -> Summary {
        Summary {
            scenario,
            target,
            params: Vec::new(),
            figures: Vec::new(),
            values: Vec::new(),
            notes: Vec::new(),
        }
    }

    /// Records a parameter of the run.
    pub fn param(&mut self, name: &str, value: impl std::fmt::Display) -> &mut Summary {
        self.params.push((name.to_string(), value.to_string()));
        self
    }

    /// Records a figure with its unit.
    pub fn figure(&mut self, name: &str, value: f64, unit: &'static str) -> &mut Summary {
        let shown = if value.fract() == 0.0 && value.abs() < 1e15 {
            format!("{value:.0}")
        } else if value.abs() >= 100.0 {
            format!("{value:.1}")
        } else {
            format!("{value:.3}")
        };
        self.figures.push((name.to_string(), shown, unit));
        self.values.push((name.to_string(), value));
        self
    }

    /// A figure's value, by name.
    pub fn get(&self, name: &str) -> Option<f64> {
        self.values.iter().find(|(n, _)| n == name).map(|(_, v)| *v)
    }

    /// Records a line of explanation (a failure, a check).
    pub fn note(&mut self, note: impl Into<String>) -> &mut Summary {
        self.notes.push(note.into());
        self
    }

    /// The printed block.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "== konsult-load {} ({}) ==",
            self.scenario, self.target
        );
        let params: Vec<String> = self
            .params
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        let _ = writeln!(out, "params: {}", params.join(" "));
        for (name, value, unit) in &self.figures {
            let _ = writeln!(
                out,
                "figure {}.{} = {} {}",
                self.scenario, name, value, unit
            );
        }
        for note in &self.notes {
            let _ = writeln!(out, "note: {note}");
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_by_nearest_rank() {
        let mut v: Vec<f64> = (1..=100).map(f64::from).collect();
        sort(&mut v);
        assert_eq!(percentile(&v, 50.0), 50.0);
        assert_eq!(percentile(&v, 99.0), 99.0);
        assert_eq!(percentile(&v, 100.0), 100.0);
        assert_eq!(percentile(&v, 0.0), 1.0);
        assert_eq!(percentile(&[], 50.0), 0.0);
    }

    #[test]
    fn summary_lines() {
        let mut s = Summary::new("idle", "konsult");
        s.param("clients", 10).figure("kib_per_conn", 7.25, "KiB");
        let text = s.render();
        assert!(text.contains("params: clients=10"));
        assert!(text.contains("figure idle.kib_per_conn = 7.250 KiB"));
    }
}
