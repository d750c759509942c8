//! A small, dependency-free benchmark harness built for side-by-side runs.
//!
//! Each [`Bench`] has contenders (tulip first, then peers). One *sample* of a contender does a
//! fixed amount of work and returns its wall time (plus optional extra metrics such as timer
//! lateness). Samples are interleaved round-robin across contenders, rotating the order each
//! round, so slow drift in machine load hits every contender alike. We report medians.

use std::time::{Duration, Instant};

/// Settings from the command line.
pub(crate) struct Config {
    /// `--quick`: fewer samples and smaller sizes, for CI and a whole run under 3 minutes.
    pub(crate) quick: bool,
    /// `--cpu`: the CPU-per-operation suite (`cpu.rs`) instead of the timed one.
    pub(crate) cpu: bool,
    filters: Vec<String>,
    /// `@NAME` arguments: run only these contenders (for profiling one of them).
    only: Vec<String>,
}

impl Config {
    pub(crate) fn from_args(args: impl Iterator<Item = String>) -> Config {
        let mut quick = false;
        let mut cpu = false;
        let mut filters = Vec::new();
        let mut only = Vec::new();
        for a in args {
            match a.as_str() {
                "--quick" => quick = true,
                "--cpu" => cpu = true,
                _ if a.starts_with('@') => only.push(a[1..].to_string()),
                "--bench" => {}
                _ if a.starts_with("--") => eprintln!("ignoring unknown flag {a}"),
                _ => filters.push(a),
            }
        }
        Config {
            quick,
            cpu,
            filters,
            only,
        }
    }

    /// Whether the name filters select benchmark `name` (groups use it to skip costly setup,
    /// such as starting a Python server, for benchmarks that will not run).
    pub(crate) fn wants(&self, name: &str) -> bool {
        self.filters.is_empty() || self.filters.iter().any(|f| name.contains(f.as_str()))
    }

    /// Picks `quick` or `full` by mode.
    pub(crate) fn size(&self, quick: usize, full: usize) -> usize {
        if self.quick { quick } else { full }
    }

    fn samples(&self) -> usize {
        if self.quick { 5 } else { 15 }
    }
}

/// One measured run of a contender.
#[derive(Default)]
pub(crate) struct Sample {
    pub(crate) time: Duration,
    /// Extra metrics, e.g. `("late_p99_us", 42.0)`; medians are reported beside the time.
    pub(crate) metrics: Vec<(&'static str, f64)>,
}

impl From<Duration> for Sample {
    fn from(time: Duration) -> Sample {
        Sample {
            time,
            metrics: Vec::new(),
        }
    }
}

type SampleFn = Box<dyn FnMut() -> Sample>;

/// A benchmark: a name, what one sample does (for the reader), and its contenders.
pub(crate) struct Bench {
    pub(crate) name: String,
    pub(crate) unit: String,
    contenders: Vec<(String, SampleFn)>,
}

impl Bench {
    /// `unit` says what one sample does, e.g. "10k spawns".
    pub(crate) fn new(name: impl Into<String>, unit: impl Into<String>) -> Bench {
        Bench {
            name: name.into(),
            unit: unit.into(),
            contenders: Vec::new(),
        }
    }

    /// Adds a contender. The first one added is the baseline of the ratios (tulip).
    pub(crate) fn with<S: Into<Sample>>(
        mut self,
        name: impl Into<String>,
        mut f: impl FnMut() -> S + 'static,
    ) -> Bench {
        self.contenders
            .push((name.into(), Box::new(move || f().into())));
        self
    }
}

/// Times `f`, returning the elapsed wall time.
pub(crate) fn timed(f: impl FnOnce()) -> Duration {
    let t = Instant::now();
    f();
    t.elapsed()
}

pub(crate) struct Report {
    samples: usize,
    cfg_filters: Config,
    rows: Vec<String>,
    started: Instant,
}

impl Report {
    pub(crate) fn new(cfg: &Config) -> Report {
        println!(
            "# tulip benchmarks ({} mode, {} samples per contender, medians)\n",
            if cfg.quick { "quick" } else { "full" },
            cfg.samples()
        );
        println!("{}", machine());
        println!("tulip reactor backend: {}\n", tulip_reactor::backend());
        Report {
            samples: cfg.samples(),
            cfg_filters: Config {
                quick: cfg.quick,
                cpu: cfg.cpu,
                filters: cfg.filters.clone(),
                only: cfg.only.clone(),
            },
            rows: Vec::new(),
            started: Instant::now(),
        }
    }

    pub(crate) fn run(&mut self, mut bench: Bench) {
        if !self.cfg_filters.wants(&bench.name) || bench.contenders.is_empty() {
            return;
        }
        if !self.cfg_filters.only.is_empty() {
            let only = &self.cfg_filters.only;
            bench.contenders.retain(|(name, _)| only.contains(name));
            if bench.contenders.is_empty() {
                return;
            }
        }
        let n = bench.contenders.len();
        let mut results: Vec<Vec<Sample>> = (0..n).map(|_| Vec::new()).collect();
        // One warm-up sample each, discarded.
        for (_, f) in bench.contenders.iter_mut() {
            f();
        }
        for round in 0..self.samples {
            for k in 0..n {
                let i = (k + round) % n;
                let s = (bench.contenders[i].1)();
                results[i].push(s);
            }
        }
        let medians: Vec<Duration> = results.iter().map(|r| median_time(r)).collect();
        let base = medians[0];
        println!("\n## {} ({})", bench.name, bench.unit);
        println!("| contender | median | tulip ÷ contender | extra (medians) |");
        println!("|---|---|---|---|");
        for (i, (name, _)) in bench.contenders.iter().enumerate() {
            let ratio = base.as_secs_f64() / medians[i].as_secs_f64();
            let extra = extra_metrics(&results[i]);
            println!(
                "| {name} | {} | {ratio:.2} | {extra} |",
                fmt_dur(medians[i])
            );
            if i > 0 {
                self.rows.push(format!(
                    "| {} | {} | {} | {} | {} | {ratio:.2} |",
                    bench.name,
                    bench.unit,
                    fmt_dur(base),
                    name,
                    fmt_dur(medians[i])
                ));
            }
        }
    }

    pub(crate) fn finish(self) {
        println!("\n## Summary: tulip time ÷ peer time (below 1.00 means tulip is faster)\n");
        println!("| benchmark | work per sample | tulip | peer | peer time | ratio |");
        println!("|---|---|---|---|---|---|");
        for r in &self.rows {
            println!("{r}");
        }
        println!(
            "\ntotal bench time {:.1}s",
            self.started.elapsed().as_secs_f64()
        );
    }
}

fn median_time(samples: &[Sample]) -> Duration {
    let mut t: Vec<Duration> = samples.iter().map(|s| s.time).collect();
    t.sort();
    t[t.len() / 2]
}

fn extra_metrics(samples: &[Sample]) -> String {
    let Some(first) = samples.first() else {
        return String::new();
    };
    let mut out = Vec::new();
    for (k, (name, _)) in first.metrics.iter().enumerate() {
        let mut v: Vec<f64> = samples
            .iter()
            .filter_map(|s| s.metrics.get(k).map(|m| m.1))
            .collect();
        v.sort_by(f64::total_cmp);
        out.push(format!("{name}={:.1}", v[v.len() / 2]));
    }
    out.join(", ")
}

fn fmt_dur(d: Duration) -> String {
    let ns = d.as_nanos() as f64;
    if ns >= 1e9 {
        format!("{:.3} s", ns / 1e9)
    } else if ns >= 1e6 {
        format!("{:.3} ms", ns / 1e6)
    } else if ns >= 1e3 {
        format!("{:.2} µs", ns / 1e3)
    } else {
        format!("{ns:.0} ns")
    }
}

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
        })
        .unwrap_or_else(|| "unknown cpu".into());
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    format!("machine: {cpu}, {cores} cores")
}

/// Percentile (0..=100) of an unsorted slice, in the slice's unit.
pub(crate) fn percentile(v: &mut [f64], p: f64) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(f64::total_cmp);
    let idx = ((p / 100.0) * (v.len() - 1) as f64).round() as usize;
    v[idx]
}
