//! Soak and scale runs for tulip: long, bounded, loopback-only load that must end with zero
//! errors and flat memory.
//!
//! Each scenario is a function taking a [`Scale`] (1.0 is the full run `cargo xtask soak`
//! does, 0.1 the CI run) and returning a [`Report`]: named numbers plus the list of failed
//! checks. The `tulip-soak` binary runs them and prints the reports; `xtask/scripts/soak.sh`
//! raises the file-descriptor limit first. Every server binds 127.0.0.1 only.
//!
//! # Examples
//!
//! ```
//! let rss = tulip_soak::rss_kib().unwrap();
//! assert!(rss > 0);
//! let mut report = tulip_soak::Report::new("example");
//! report.value("rss_kib", rss as f64);
//! report.check(rss < 1 << 30, "RSS under 1 TiB");
//! assert!(report.passed());
//! ```

#![forbid(unsafe_code)]
#![warn(
    missing_docs,
    missing_debug_implementations,
    rust_2018_idioms,
    unreachable_pub
)]

mod client;
pub mod http;
mod report;
pub mod scale;
pub mod ws;

pub use report::{Report, Scale, rss_kib};
