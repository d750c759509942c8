//! `cargo xtask <command>`: the project's automation, in Rust so it runs wherever cargo does.
//!
//! - `test [ARGS..]`: the whole gate CI runs. If it passes locally, CI is green.
//! - `bench [--quick] [--cpu] [--isolate] [--samples=N] [--backend epoll|polling] [FILTER..]`:
//!   tulip beside its peers, one run, medians and ratios; `--cpu` measures CPU per operation
//!   with the server pinned in a child process, and the kernel's share of it (`sys_pct`);
//!   `--isolate` runs each contender in a process
//!   of its own; `--samples=N` takes N samples per contender; `--backend polling` builds the
//!   reactor on the `polling` crate.
//! - `layering`: the dependency allow-lists alone (part of `test`).
//! - `tidy`: the docs checks alone (part of `test`): the codemap names every module file.
//! - `conformance`, `fuzz`, `soak`: the long-running suites (see docs/).

mod layering;
mod tidy;

use std::env;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::Instant;

type Result<T = ()> = std::result::Result<T, String>;

fn main() -> ExitCode {
    let mut args = env::args().skip(1);
    let cmd = args.next().unwrap_or_default();
    let rest: Vec<String> = args.collect();
    let res = match cmd.as_str() {
        "test" => test(&rest),
        "bench" => bench(&rest),
        "layering" => layering::check(),
        "tidy" => tidy::check(),
        "conformance" => script("conformance", &rest),
        "fuzz" => script("fuzz", &rest),
        "soak" => script("soak", &rest),
        _ => {
            eprintln!(
                "usage: cargo xtask <test|bench|layering|conformance|fuzz|soak> [ARGS..]\n\n\
                 test [CARGO_TEST_ARGS..]   fmt, clippy, tests (unit, integration, doc), rustdoc, examples\n\
                 bench [--quick] [--cpu] [--isolate] [--samples=N] [--backend epoll|polling] [FILTER..] tulip beside its peers, medians and ratios"
            );
            return ExitCode::from(2);
        }
    };
    match res {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: {e}");
            ExitCode::FAILURE
        }
    }
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn cargo() -> Command {
    let mut c = Command::new(env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    c.current_dir(root());
    c
}

fn run(step: &str, mut cmd: Command) -> Result {
    let t = Instant::now();
    eprintln!("\n==> {step}");
    let status = cmd
        .status()
        .map_err(|e| format!("{step}: cannot start: {e}"))?;
    eprintln!(
        "<== {step}: {:?} in {:.1}s",
        status.code(),
        t.elapsed().as_secs_f64()
    );
    if status.success() {
        Ok(())
    } else {
        Err(format!("step failed: {step}"))
    }
}

fn test(extra: &[String]) -> Result {
    let mut fmt = cargo();
    fmt.args(["fmt", "--all", "--", "--check"]);
    run("cargo fmt --check", fmt)?;

    let mut clippy = cargo();
    clippy.args([
        "clippy",
        "--workspace",
        "--all-targets",
        "--",
        "-D",
        "warnings",
    ]);
    run("cargo clippy", clippy)?;

    let mut t = cargo();
    t.args(["test", "--workspace"]).args(extra);
    run("cargo test", t)?;

    // The `tracing` feature is off by default, so its tests (spans per task, HTTP request and
    // WebSocket session) run in a build of their own.
    let mut tracing = cargo();
    tracing.args([
        "test",
        "--package",
        "tulip-executor",
        "--package",
        "tulip-http",
        "--package",
        "tulip-ws",
        "--features",
        "tulip-executor/tracing,tulip-http/tracing,tulip-ws/tracing,tulip-ws/http",
        "--test",
        "it",
        "tracing_spans",
    ]);
    run("tracing feature tests", tracing)?;

    // The asyncio -> tulip guide's snippets are doc tests of the umbrella crate with every
    // feature on (crates/tulip/src/guide.rs).
    let mut guide = cargo();
    guide.args(["test", "--package", "tulip", "--all-features", "--doc"]);
    run("guide doc tests", guide)?;

    let mut doc = cargo();
    doc.args(["doc", "--workspace", "--no-deps"]);
    doc.env("RUSTDOCFLAGS", "-D warnings");
    run("cargo doc", doc)?;

    layering::check()?;
    tidy::check()?;
    examples()?;
    Ok(())
}

/// Runs every example that terminates on its own, and smoke-tests the servers: examples
/// list themselves in `examples/smoke.txt` as `NAME ARGS..` lines.
fn examples() -> Result {
    let mut build = cargo();
    build.args(["build", "--package", "examples", "--examples"]);
    run("build examples", build)?;
    let list = root().join("examples/smoke.txt");
    let Ok(text) = std::fs::read_to_string(&list) else {
        return Ok(());
    };
    let target = target_dir();
    for line in text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
    {
        let mut parts = line.split_whitespace();
        let name = parts.next().unwrap();
        let mut cmd = Command::new(target.join("debug/examples").join(name));
        cmd.args(parts).current_dir(root());
        run(&format!("example {line}"), cmd)?;
    }
    Ok(())
}

fn target_dir() -> PathBuf {
    env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("target"))
}

fn bench(extra: &[String]) -> Result {
    let mut features = None;
    let mut rest = Vec::new();
    let mut args = extra.iter();
    while let Some(a) = args.next() {
        let backend = match a.strip_prefix("--backend=") {
            Some(b) => b,
            None if a == "--backend" => args
                .next()
                .ok_or("bench: --backend needs a value: epoll or polling")?,
            None => {
                rest.push(a.clone());
                continue;
            }
        };
        features = match backend {
            "epoll" => None,
            "polling" => Some("polling-backend"),
            other => {
                return Err(format!(
                    "bench: unknown backend {other:?}: use epoll (the Linux default) or polling"
                ));
            }
        };
    }
    let mut b = cargo();
    b.args(["run", "--release", "--package", "benches"]);
    if let Some(f) = features {
        b.args(["--features", f]);
    }
    b.arg("--").args(rest);
    run("benchmarks", b)
}

/// Long suites are shell scripts under `xtask/scripts/` because they orchestrate external
/// programs (wstest, cargo-fuzz, load clients) more than they compute.
fn script(name: &str, extra: &[String]) -> Result {
    let path = root().join("xtask/scripts").join(format!("{name}.sh"));
    if !path.exists() {
        return Err(format!("{name}: {} does not exist yet", path.display()));
    }
    let mut c = Command::new("bash");
    c.arg(path).args(extra).current_dir(root());
    run(name, c)
}
