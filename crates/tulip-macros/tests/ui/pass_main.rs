// The plain case: no imports, `spawn` and timers work, the runtime has worker threads.
#[tulip::main]
async fn main() {
    let answer = tulip::spawn(async {
        tulip::sleep(std::time::Duration::from_millis(1)).await;
        42
    });
    assert_eq!(answer.await.unwrap(), 42);
    assert!(tulip::Handle::current().num_workers() >= 1);
}
