//! A small, dependency-free benchmark harness built for side-by-side runs.
//!
//! Each [`Bench`] has contenders (tulip first, then peers). One *sample* of a contender does a
//! fixed amount of work and returns its wall time (plus optional extra metrics such as timer
//! lateness). Samples are interleaved round-robin across contenders, rotating the order each
//! round, so slow drift in machine load hits every contender alike. We report medians.
//!
//! With `--isolate` each contender of a benchmark runs in a child process of its own (this
//! binary again, told by `TULIP_BENCH_SAMPLE_CHILD` which benchmark and contender to serve),
//! and the parent asks the children for one sample at a time in the same rotation, so the
//! samples stay interleaved. Only one child runs at a time. In one process the contenders share
//! the allocator's heap and every runtime built so far: what one leaves behind (glibc's free
//! lists, idle workers, servers kept in statics) changes the next one's time, and not every
//! contender's alike.

use std::io::{BufRead, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::child::LineChild;

/// Set in a sample child: `BENCH NAME` + [`SEP`] + `CONTENDER NAME`.
const SAMPLE_CHILD_ENV: &str = "TULIP_BENCH_SAMPLE_CHILD";
const SEP: char = '\u{1f}';

/// Settings from the command line.
pub(crate) struct Config {
    /// `--quick`: fewer samples and smaller sizes, for CI and a whole run under 3 minutes.
    pub(crate) quick: bool,
    /// `--cpu`: the CPU-per-operation suite (`cpu.rs`) instead of the timed one.
    pub(crate) cpu: bool,
    /// `--isolate`: each contender in a child process of its own (see the module docs).
    isolate: bool,
    /// `--samples=N`: samples per contender instead of the mode's 5 or 15. With `--isolate`
    /// and a few hundred, it shows a process's steady state, not only its first samples (the
    /// 2-worker executor rows change after a hundred: BENCHMARKS.md, session 15).
    samples: Option<usize>,
    filters: Vec<String>,
    /// `@NAME` arguments: run only these contenders (for profiling one of them).
    only: Vec<String>,
}

impl Config {
    pub(crate) fn from_args(args: impl Iterator<Item = String>) -> Config {
        let mut quick = false;
        let mut cpu = false;
        let mut isolate = false;
        let mut samples = None;
        let mut filters = Vec::new();
        let mut only = Vec::new();
        for a in args {
            match a.as_str() {
                "--quick" => quick = true,
                "--cpu" => cpu = true,
                "--isolate" => isolate = true,
                _ if a.starts_with("--samples=") => samples = Some(parse_samples(&a[10..])),
                _ if a.starts_with('@') => only.push(a[1..].to_string()),
                "--bench" => {}
                _ if a.starts_with("--") => eprintln!("ignoring unknown flag {a}"),
                _ => filters.push(a),
            }
        }
        Config {
            quick,
            cpu,
            isolate,
            samples,
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
        self.samples.unwrap_or(if self.quick { 5 } else { 15 })
    }
}

/// The `N` of `--samples=N`: a positive count, or the run stops with a message saying so.
fn parse_samples(n: &str) -> usize {
    match n.parse::<usize>() {
        Ok(n) if n > 0 => n,
        _ => {
            eprintln!("--samples=N wants a positive count of samples per contender, got {n:?}");
            std::process::exit(2);
        }
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
    /// In a sample child: the benchmark and contender it serves.
    child: Option<(String, String)>,
    rows: Vec<String>,
    started: Instant,
}

impl Report {
    pub(crate) fn new(cfg: &Config) -> Report {
        let child = std::env::var(SAMPLE_CHILD_ENV).ok().map(|spec| {
            let (bench, contender) = spec
                .split_once(SEP)
                .expect("TULIP_BENCH_SAMPLE_CHILD is BENCH, U+001F, CONTENDER");
            (bench.to_string(), contender.to_string())
        });
        let isolate = cfg.isolate && !cfg.cpu && child.is_none();
        if child.is_none() {
            println!(
                "# tulip benchmarks ({} mode, {} samples per contender, medians{})\n",
                if cfg.quick { "quick" } else { "full" },
                cfg.samples(),
                if isolate {
                    ", each contender in its own process"
                } else {
                    ""
                }
            );
            println!("{}", machine());
            println!("tulip reactor backend: {}\n", tulip_reactor::backend());
        }
        Report {
            samples: cfg.samples(),
            cfg_filters: Config {
                quick: cfg.quick,
                cpu: cfg.cpu,
                isolate,
                samples: cfg.samples,
                filters: cfg.filters.clone(),
                only: cfg.only.clone(),
            },
            child,
            rows: Vec::new(),
            started: Instant::now(),
        }
    }

    pub(crate) fn run(&mut self, mut bench: Bench) {
        if let Some((name, contender)) = &self.child {
            if bench.name == *name {
                serve_samples(bench, contender);
            }
            return;
        }
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
        if self.cfg_filters.isolate {
            // Started one after the other: each child's set-up and warm-up sample run while
            // the others wait on their stdin.
            let mut children: Vec<SampleChild> = bench
                .contenders
                .iter()
                .map(|(contender, _)| SampleChild::start(&bench.name, contender, &self.cfg_filters))
                .collect();
            for round in 0..self.samples {
                for k in 0..n {
                    let i = (k + round) % n;
                    results[i].push(children[i].sample());
                }
            }
            for c in children {
                c.finish();
            }
        } else {
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

/// A sample child's side: runs one warm-up sample of `contender`, says `READY`, then runs a
/// sample for each `run` line on stdin and prints it; exits at the end of stdin.
fn serve_samples(mut bench: Bench, contender: &str) -> ! {
    let Some((_, f)) = bench.contenders.iter_mut().find(|(n, _)| n == contender) else {
        panic!("benchmark {} has no contender {contender:?}", bench.name);
    };
    f();
    let mut out = std::io::stdout().lock();
    writeln!(out, "READY")
        .and_then(|()| out.flush())
        .expect("stdout");
    for line in std::io::stdin().lock().lines() {
        let line = line.expect("stdin");
        if line != "run" {
            panic!("sample child: unexpected request {line:?}");
        }
        let s = f();
        let mut reply = format!("SAMPLE {}", s.time.as_nanos());
        for (k, v) in &s.metrics {
            reply.push_str(&format!(" {k}={v}"));
        }
        writeln!(out, "{reply}")
            .and_then(|()| out.flush())
            .expect("stdout");
    }
    std::process::exit(0)
}

/// The parent's handle on a sample child (`--isolate`).
struct SampleChild(LineChild);

impl SampleChild {
    /// Starts the child and waits until its warm-up sample is done.
    fn start(bench: &str, contender: &str, cfg: &Config) -> SampleChild {
        let exe = std::env::current_exe().expect("the benchmark binary's path");
        let mut cmd = Command::new(exe);
        if cfg.quick {
            cmd.arg("--quick");
        }
        // The name as the filter, so that groups set up only what this benchmark needs.
        cmd.arg(bench)
            .env(SAMPLE_CHILD_ENV, format!("{bench}{SEP}{contender}"))
            .stderr(Stdio::inherit());
        let mut io = LineChild::spawn(cmd, format!("sample child for {bench} @{contender}"));
        io.read_until(|l| (l == "READY").then_some(()));
        SampleChild(io)
    }

    fn sample(&mut self) -> Sample {
        self.0.send("run");
        self.0.read_until(parse_sample)
    }

    fn finish(self) {
        let status = self.0.finish();
        assert!(status.success(), "a sample child failed: {status}");
    }
}

/// Parses `SAMPLE <nanoseconds> [name=value]..`.
fn parse_sample(line: &str) -> Option<Sample> {
    let mut parts = line.strip_prefix("SAMPLE ")?.split(' ');
    let nanos: u64 = parts.next()?.parse().ok()?;
    let mut metrics = Vec::new();
    for kv in parts {
        let (k, v) = kv.split_once('=')?;
        metrics.push((intern(k), v.parse().ok()?));
    }
    Some(Sample {
        time: Duration::from_nanos(nanos),
        metrics,
    })
}

/// A `&'static str` for a metric name read back from a child: each distinct name is leaked
/// once (a run has a few dozen).
fn intern(name: &str) -> &'static str {
    use std::collections::HashSet;
    use std::sync::Mutex;
    static NAMES: Mutex<Option<HashSet<&'static str>>> = Mutex::new(None);
    let mut names = NAMES.lock().unwrap_or_else(|e| e.into_inner());
    let set = names.get_or_insert_with(HashSet::new);
    if let Some(n) = set.get(name) {
        return n;
    }
    let leaked: &'static str = Box::leak(name.to_string().into_boxed_str());
    set.insert(leaked);
    leaked
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_child_sample_reads_back_as_it_was_written() {
        let s = parse_sample("SAMPLE 1234567 late_p50_us=14.5 late_p99_us=268").expect("parses");
        assert_eq!(s.time, Duration::from_nanos(1_234_567));
        assert_eq!(
            s.metrics,
            vec![("late_p50_us", 14.5), ("late_p99_us", 268.0)]
        );
        let bare = parse_sample("SAMPLE 5").expect("parses");
        assert_eq!(
            (bare.time, bare.metrics.len()),
            (Duration::from_nanos(5), 0)
        );
    }

    #[test]
    fn the_sample_count_follows_the_mode_unless_given() {
        let cfg = |args: &[&str]| Config::from_args(args.iter().map(|a| a.to_string()));
        assert_eq!(cfg(&[]).samples(), 15);
        assert_eq!(cfg(&["--quick"]).samples(), 5);
        let c = cfg(&["--quick", "--isolate", "--samples=400", "ping_pong"]);
        assert_eq!((c.samples(), c.isolate), (400, true));
        assert_eq!(c.filters, vec!["ping_pong".to_string()]);
    }

    #[test]
    fn other_lines_of_a_child_are_not_samples() {
        for line in [
            "READY",
            "SKIP http2 benches",
            "SAMPLE",
            "SAMPLE x",
            "SAMPLE 5 k=v",
            "SAMPLE 5 k",
        ] {
            assert!(parse_sample(line).is_none(), "{line:?}");
        }
    }
}
