#[tulip::main]
async fn main(args: Vec<String>, n: usize) {}
