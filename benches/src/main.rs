//! `cargo xtask bench [--quick] [FILTER..]`: every tulip benchmark beside the same benchmark
//! written for its peers, run interleaved in one process so that the ratios compare like with
//! like on a noisy machine. Prints per benchmark each contender's median and `tulip ÷ peer`.
//! `--cpu` runs the CPU-per-operation suite instead (servers pinned in a child, see `cpu.rs`).

mod compat;
mod cpu;
mod executor;
mod harness;
mod http;
mod http_client;
mod net;
mod process;
mod reactor;
mod runtimes;
mod sync;
mod tls;
mod toolkit;
mod ws;

use harness::Config;

fn main() {
    if let Ok(spec) = std::env::var(compat::FALLBACK_CHILD) {
        compat::fallback_child(&spec);
        return;
    }
    // A pinned server child of `--cpu` serves instead (and exits).
    cpu::child_main_if_requested();
    let cfg = Config::from_args(std::env::args().skip(1));
    let mut report = harness::Report::new(&cfg);
    if cfg.cpu {
        for bench in cpu::benches(&cfg) {
            report.run(bench);
        }
        report.finish();
        return;
    }
    // The reactor group runs first: its block_on benchmarks assume no idle tulip runtime
    // (some groups keep one in a static) competes to drive the process-wide reactor.
    for group in [
        reactor::benches,
        executor::benches,
        compat::benches,
        http::benches,
        http_client::benches,
        net::benches,
        process::benches,
        sync::benches,
        tls::benches,
        toolkit::benches,
        ws::benches,
    ] {
        for bench in group(&cfg) {
            report.run(bench);
        }
    }
    report.finish();
}
