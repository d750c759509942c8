//! Reports, scale factors and the RSS probe.

use std::fmt;

/// How big a run is: 1.0 is the full soak, 0.1 the CI one. Counts scale, durations scale
/// with a floor so even a small run exercises the steady state.
#[derive(Debug, Clone, Copy)]
pub struct Scale(pub f64);

impl Scale {
    /// `full` scaled, at least 1.
    pub fn count(self, full: usize) -> usize {
        ((full as f64 * self.0) as usize).max(1)
    }

    /// `full` seconds scaled, at least `floor`.
    pub fn secs(self, full: u64, floor: u64) -> std::time::Duration {
        std::time::Duration::from_secs(((full as f64 * self.0) as u64).max(floor))
    }
}

/// The resident set size of this process in KiB, from `/proc/self/status` (`VmRSS`).
pub fn rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// The outcome of one scenario: measured values and failed checks.
#[derive(Debug, Clone)]
pub struct Report {
    name: String,
    values: Vec<(String, String)>,
    failures: Vec<String>,
}

impl Report {
    /// An empty report for scenario `name`.
    pub fn new(name: &str) -> Report {
        Report {
            name: name.into(),
            values: Vec::new(),
            failures: Vec::new(),
        }
    }

    /// Records a number.
    pub fn value(&mut self, key: &str, v: f64) {
        self.values.push((
            key.into(),
            if v.fract() == 0.0 {
                format!("{v}")
            } else {
                format!("{v:.2}")
            },
        ));
    }

    /// Records a text value (for example a list of RSS samples).
    pub fn text(&mut self, key: &str, v: impl Into<String>) {
        self.values.push((key.into(), v.into()));
    }

    /// Records a check; a false `ok` fails the scenario with `what`.
    pub fn check(&mut self, ok: bool, what: &str) {
        if !ok {
            self.failures.push(what.into());
        }
    }

    /// Whether every check held.
    pub fn passed(&self) -> bool {
        self.failures.is_empty()
    }

    /// The scenario's name.
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let verdict = if self.passed() { "ok" } else { "FAIL" };
        writeln!(f, "[{}] {verdict}", self.name)?;
        for (k, v) in &self.values {
            writeln!(f, "  {k} = {v}")?;
        }
        for what in &self.failures {
            writeln!(f, "  FAILED: {what}")?;
        }
        Ok(())
    }
}
