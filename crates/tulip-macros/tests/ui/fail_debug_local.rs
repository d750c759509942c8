#[tulip::main(debug = true, flavor = "local")]
async fn main() {}
