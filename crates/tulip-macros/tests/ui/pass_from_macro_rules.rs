// Functions and options that come out of a `macro_rules!` expansion, where the body and the
// values arrive wrapped in invisible groups.
macro_rules! runs_on {
    ($name:ident, $workers:expr, $ret:ty, $body:block) => {
        #[tulip::main(workers = $workers)]
        async fn $name() -> $ret $body
    };
}

runs_on!(two, 2, usize, { tulip::Handle::current().num_workers() });

fn main() {
    assert_eq!(two(), 2);
}
