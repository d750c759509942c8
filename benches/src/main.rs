//! `cargo xtask bench [--quick] [FILTER..]`: every tulip benchmark beside the same benchmark
//! written for its peers, run interleaved in one process so that the ratios compare like with
//! like on a noisy machine. Prints per benchmark each contender's median and `tulip ÷ peer`.

mod compat;
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
    let cfg = Config::from_args(std::env::args().skip(1));
    let mut report = harness::Report::new(&cfg);
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
