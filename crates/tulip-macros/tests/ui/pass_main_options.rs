// `workers` sets the number of worker threads; `debug` goes with the multi-thread flavor. The
// attribute works on any function, not only `main`: each call builds and shuts down a runtime.
fn main() {
    assert_eq!(two_workers(), 2);
    assert_eq!(one_worker_in_debug_mode(), 1);
}

#[tulip::main(workers = 2, debug = false, flavor = "multi_thread")]
async fn two_workers() -> usize {
    tulip::Handle::current().num_workers()
}

#[tulip::main(debug = true, workers = 1_usize)]
async fn one_worker_in_debug_mode() -> usize {
    tulip::Handle::current().num_workers()
}
