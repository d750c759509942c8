#[tulip::main]
async fn main<T: Default>() {}
