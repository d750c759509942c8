//! `cargo xtask bench [--quick] [FILTER..]`: every tulip benchmark beside the same benchmark
//! written for its peers, run interleaved in one process so that the ratios compare like with
//! like on a noisy machine. Prints per benchmark each contender's median and `tulip ÷ peer`.
//! `--cpu` runs the CPU-per-operation suite instead (servers pinned in a child, see `cpu.rs`).
//! `--isolate` runs each contender in a child process of its own, still interleaved (see
//! `harness.rs`). `--samples=N` takes N samples per contender instead of 5 (quick) or 15.

mod child;
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
    // The groups whose tulip contender runs in `block_on` or a `LocalExecutor` come first
    // (reactor, process, TLS, the one-thread network rows): they assume no idle tulip
    // runtime competes to drive the process-wide reactor, and later groups keep runtimes and
    // servers alive in statics (the HTTP group's server runtime added ~5 futex calls and 2
    // epoll waits to every process spawn after it; its idle workers took every event of the
    // one-thread rows' sockets).
    for group in [
        reactor::benches,
        process::benches,
        tls::benches,
        net::one_thread_benches,
        executor::benches,
        compat::benches,
        http::benches,
        http_client::benches,
        net::benches,
        sync::benches,
        toolkit::benches,
        ws::benches,
    ] {
        for bench in group(&cfg) {
            report.run(bench);
        }
    }
    report.finish();
}
