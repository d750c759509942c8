// `crate = "..."`: a program that depends on tulip-executor (and tulip-macros) only, and one
// that reaches tulip through another path.
mod reexport {
    pub use tulip as rt;
}

fn main() {
    assert_eq!(executor_only() + through_reexport(), 43);
}

#[tulip_macros::main(crate = "tulip_executor", workers = 1)]
async fn executor_only() -> i32 {
    tulip_executor::spawn(async { 41 }).await.unwrap()
}

#[tulip_macros::main(crate = "crate::reexport::rt")]
async fn through_reexport() -> i32 {
    2
}
