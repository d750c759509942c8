#[tulip::main(workers = 2, debug = true, workers = 4)]
async fn main() {}
