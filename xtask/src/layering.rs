//! The layering check: every product crate, and the umbrella crate under each feature set a user
//! can pick, may build only the crates its allow-list names.
//!
//! An allow-list (rather than a list of forbidden crates) is what keeps the promise "take one
//! layer and you build only that layer": a new dependency anywhere below a crate shows up here
//! as a failure naming the crate and the dependency, and adding it is a decision made in this
//! file, in review. The lists are built from named groups that mirror the layers.

use std::collections::BTreeSet;

use crate::{Result, cargo};

/// What the reactor needs on every platform: rustix for epoll/timerfd, parking for `block_on`,
/// futures-lite for the I/O traits, slab for the source table.
const REACTOR: &[&str] = &[
    "tulip-reactor",
    "bitflags",
    "fastrand",
    "futures-core",
    "futures-io",
    "futures-lite",
    "linux-raw-sys",
    "parking",
    "pin-project-lite",
    "rustix",
    "slab",
];

/// The portable reactor backend (`polling-backend` on Linux, the default elsewhere): the
/// `polling` crate and its queue for notifications.
const POLLING: &[&str] = &["polling", "cfg-if", "concurrent-queue", "crossbeam-utils"];

/// The sync primitives need no runtime: a lock-free queue and nothing else.
const SYNC: &[&str] = &["tulip-sync", "concurrent-queue", "crossbeam-utils"];

/// The executor: async-task's task cells, concurrent-queue's run queues, and `log` for runtime
/// warnings.
const EXECUTOR: &[&str] = &[
    "tulip-executor",
    "async-task",
    "concurrent-queue",
    "crossbeam-utils",
    "log",
];

/// Feature `tracing`: the facade and its core (no subscriber, no proc macros).
const TRACING: &[&str] = &["tracing", "tracing-core", "once_cell", "pin-project-lite"];

/// tokio-bound futures inside tulip: the one crate allowed tokio's runtime (`rt` only).
const COMPAT: &[&str] = &["tulip-compat", "tokio"];

/// Sockets: socket2 for options, memchr for `read_until`.
const NET: &[&str] = &["tulip-net", "libc", "memchr", "socket2"];

/// rustls with the ring provider and the bundled web PKI roots.
const TLS: &[&str] = &[
    "tulip-tls",
    "cfg-if",
    "getrandom",
    "libc",
    "log",
    "once_cell",
    "ring",
    "rustls",
    "rustls-pki-types",
    "rustls-webpki",
    "rustls-native-certs",
    "openssl-probe",
    "subtle",
    "untrusted",
    "webpki-roots",
    "zeroize",
];

/// Subprocesses and signals.
const PROCESS: &[&str] = &[
    "tulip-process",
    "errno",
    "signal-hook",
    "signal-hook-registry",
];

/// HTTP/1.1 and HTTP/2 with no optional feature: httparse for heads, the `http` types, regex
/// (no default features: std and the Perl classes only) for `{name:regex}` route parameters,
/// and the `h2` crate with what it needs. tokio is here for its io *traits* only:
/// [`tokio_traits_only`] checks that no runtime feature of it is on.
const HTTP: &[&str] = &[
    "tulip-http",
    "atomic-waker",
    // `Proxy-Authorization: Basic`
    "base64",
    "bytes",
    "form_urlencoded",
    "http",
    "httparse",
    "httpdate",
    "itoa",
    "log",
    "percent-encoding",
    "regex",
    "regex-automata",
    "regex-syntax",
    "smallvec",
    // HTTP/2
    "h2",
    "equivalent",
    "fnv",
    "futures-core",
    "futures-sink",
    "hashbrown",
    "indexmap",
    "once_cell",
    "pin-project-lite",
    "slab",
    "tokio",
    "tokio-util",
    "tracing",
    "tracing-core",
];

/// `json`: serde_json.
const JSON: &[&str] = &[
    "serde",
    "serde_core",
    "serde_derive",
    "serde_json",
    "zmij",
    "proc-macro2",
    "quote",
    "syn",
    "unicode-ident",
];

/// `gzip` (and permessage-deflate): flate2 on miniz_oxide, pure Rust.
const DEFLATE: &[&str] = &[
    "flate2",
    "adler2",
    "cfg-if",
    "crc32fast",
    "miniz_oxide",
    "simd-adler32",
];

/// `brotli`: the client's `Content-Encoding: br` decoding, brotli-decompressor (pure Rust,
/// its allocator shims and nothing else).
const BROTLI: &[&str] = &["brotli-decompressor", "alloc-no-stdlib", "alloc-stdlib"];

/// WebSocket framing and the handshake's SHA-1 and base64.
const WS: &[&str] = &[
    "tulip-ws",
    "base64",
    "block-buffer",
    "cpufeatures",
    "crypto-common",
    "digest",
    "generic-array",
    "sha1",
    "typenum",
];

/// `#[tulip::main]` / `#[tulip::test]`: a proc-macro crate with no dependencies at all.
const MACROS: &[&str] = &["tulip-macros"];

/// One check: `cargo tree -p PACKAGE` with these features may name only these groups' crates.
struct Rule {
    package: &'static str,
    /// `None`: default features; `Some("a,b")`: `--no-default-features --features a,b`.
    features: Option<&'static str>,
    allowed: &'static [&'static [&'static str]],
}

const RULES: &[Rule] = &[
    Rule {
        package: "tulip-sync",
        features: None,
        allowed: &[SYNC],
    },
    Rule {
        package: "tulip-compat",
        features: None,
        allowed: &[REACTOR, COMPAT],
    },
    Rule {
        package: "tulip",
        features: Some("tokio"),
        allowed: &[REACTOR, EXECUTOR, COMPAT],
    },
    Rule {
        package: "tulip-macros",
        features: None,
        allowed: &[MACROS],
    },
    Rule {
        package: "tulip-reactor",
        features: None,
        allowed: &[REACTOR],
    },
    Rule {
        package: "tulip-reactor",
        features: Some("polling-backend"),
        allowed: &[REACTOR, POLLING],
    },
    Rule {
        package: "tulip-executor",
        features: None,
        allowed: &[REACTOR, EXECUTOR],
    },
    Rule {
        package: "tulip-net",
        features: None,
        allowed: &[REACTOR, EXECUTOR, SYNC, NET],
    },
    Rule {
        package: "tulip-tls",
        features: None,
        allowed: &[REACTOR, TLS],
    },
    Rule {
        package: "tulip-process",
        features: None,
        allowed: &[REACTOR, EXECUTOR, SYNC, NET, PROCESS],
    },
    Rule {
        package: "tulip-http",
        features: Some(""),
        allowed: &[REACTOR, EXECUTOR, SYNC, NET, HTTP],
    },
    Rule {
        package: "tulip-http",
        features: None,
        allowed: &[REACTOR, EXECUTOR, SYNC, NET, HTTP, TLS, JSON, DEFLATE],
    },
    Rule {
        package: "tulip-ws",
        features: Some(""),
        allowed: &[REACTOR, HTTP, DEFLATE, WS],
    },
    // The umbrella, feature set by feature set: each brings exactly its layer.
    Rule {
        package: "tulip",
        features: Some(""),
        allowed: &[REACTOR, EXECUTOR],
    },
    Rule {
        package: "tulip",
        features: Some("sync"),
        allowed: &[REACTOR, EXECUTOR, SYNC],
    },
    Rule {
        package: "tulip",
        features: None,
        allowed: &[REACTOR, EXECUTOR, SYNC, NET, PROCESS, MACROS],
    },
    Rule {
        package: "tulip",
        features: Some("http"),
        allowed: &[REACTOR, EXECUTOR, SYNC, NET, HTTP],
    },
    Rule {
        package: "tulip",
        features: Some("http,json"),
        allowed: &[REACTOR, EXECUTOR, SYNC, NET, HTTP, JSON],
    },
    Rule {
        package: "tulip",
        features: Some("http,gzip"),
        allowed: &[REACTOR, EXECUTOR, SYNC, NET, HTTP, DEFLATE],
    },
    Rule {
        package: "tulip",
        features: Some("http,brotli"),
        allowed: &[REACTOR, EXECUTOR, SYNC, NET, HTTP, BROTLI],
    },
    Rule {
        package: "tulip",
        features: Some("http,tls"),
        allowed: &[REACTOR, EXECUTOR, SYNC, NET, HTTP, TLS],
    },
    Rule {
        package: "tulip",
        features: Some("ws"),
        allowed: &[REACTOR, EXECUTOR, SYNC, NET, HTTP, DEFLATE, WS],
    },
    Rule {
        package: "tulip",
        features: Some("polling-backend"),
        allowed: &[REACTOR, EXECUTOR, POLLING],
    },
    Rule {
        package: "tulip",
        features: Some("tracing"),
        allowed: &[REACTOR, EXECUTOR, TRACING],
    },
    Rule {
        package: "tulip",
        features: Some("full,tracing"),
        allowed: &[
            REACTOR, EXECUTOR, SYNC, NET, PROCESS, HTTP, TLS, JSON, DEFLATE, BROTLI, WS, MACROS,
            TRACING,
        ],
    },
    Rule {
        package: "tulip",
        features: Some("full"),
        allowed: &[
            REACTOR, EXECUTOR, SYNC, NET, PROCESS, HTTP, TLS, JSON, DEFLATE, BROTLI, WS, MACROS,
        ],
    },
];

pub(crate) fn check() -> Result {
    eprintln!("\n==> layering (cargo tree, allow-lists in xtask/src/layering.rs)");
    let mut failures = Vec::new();
    for rule in RULES {
        let deps = tree(rule)?;
        let allowed: BTreeSet<&str> = rule
            .allowed
            .iter()
            .flat_map(|g| g.iter().copied())
            .collect();
        let extra: Vec<&str> = deps
            .iter()
            .map(String::as_str)
            .filter(|d| *d != rule.package && !allowed.contains(d))
            .collect();
        if !extra.is_empty() {
            failures.push(format!(
                "  {}: depends on {}",
                describe(rule),
                extra.join(", ")
            ));
        }
    }
    if let Err(e) = tokio_traits_only() {
        failures.push(e);
    }
    if failures.is_empty() {
        eprintln!("<== layering: ok ({} feature sets)", RULES.len());
        return Ok(());
    }
    Err(format!(
        "layering: dependencies outside the allow-lists:\n{}\n\
         If a dependency is intended, add it to the right group in xtask/src/layering.rs; \
         otherwise turn it off (`default-features = false` on the dependency, or forward the \
         feature explicitly).",
        failures.join("\n")
    ))
}

fn describe(rule: &Rule) -> String {
    match rule.features {
        None => format!("{} (default features)", rule.package),
        Some("") => format!("{} --no-default-features", rule.package),
        Some(f) => format!("{} --no-default-features --features {f}", rule.package),
    }
}

/// The names of every crate in the package's normal (non-dev, non-build) dependency tree.
fn tree(rule: &Rule) -> Result<BTreeSet<String>> {
    let mut cmd = cargo();
    cmd.args([
        "tree",
        "--quiet",
        "--edges",
        "normal",
        "--prefix",
        "none",
        "--package",
    ])
    .arg(rule.package);
    if let Some(features) = rule.features {
        cmd.arg("--no-default-features");
        if !features.is_empty() {
            cmd.args(["--features", features]);
        }
    }
    let out = cmd
        .output()
        .map_err(|e| format!("cargo tree: cannot start: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "cargo tree for {} failed: {}",
            describe(rule),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_owned)
        .collect())
}

/// tulip-http reaches `h2` through tokio's io traits: tokio may be in its tree, but only its
/// trait definitions, never a runtime, reactor or timer.
fn tokio_traits_only() -> Result {
    let out = cargo()
        .args([
            "tree",
            "--quiet",
            "--edges",
            "normal,features",
            "--package",
            "tulip-http",
            "--invert",
            "tokio",
        ])
        .output()
        .map_err(|e| format!("  cargo tree -i tokio: {e}"))?;
    let tree = String::from_utf8_lossy(&out.stdout);
    for feature in [
        "rt",
        "rt-multi-thread",
        "net",
        "time",
        "process",
        "signal",
        "fs",
        "full",
    ] {
        if tree.contains(&format!("tokio feature \"{feature}\"")) {
            return Err(format!(
                "  tulip-http: enables tokio's `{feature}` feature (only its io traits are allowed)"
            ));
        }
    }
    Ok(())
}
