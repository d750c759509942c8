// A `crate` path that does not exist is reported at the option.
#[tulip_macros::main(crate = "no_such_crate")]
async fn main() {}
