//! `cargo xtask bench [--quick] [FILTER..]`: every tulip benchmark beside the same benchmark
//! written for its peers, run interleaved in one process so that the ratios compare like with
//! like on a noisy machine. Prints per benchmark each contender's median and `tulip ÷ peer`.

mod harness;
mod executor;
mod process;
mod reactor;
mod sync;
mod tls;
mod toolkit;

use harness::Config;

fn main() {
    let cfg = Config::from_args(std::env::args().skip(1));
    let mut report = harness::Report::new(&cfg);
    for group in [executor::benches, process::benches, reactor::benches, sync::benches, tls::benches, toolkit::benches] {
        for bench in group(&cfg) {
            report.run(bench);
        }
    }
    report.finish();
}
