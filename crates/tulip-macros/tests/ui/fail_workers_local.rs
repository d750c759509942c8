#[tulip::main(flavor = "local", workers = 2)]
async fn main() {}
