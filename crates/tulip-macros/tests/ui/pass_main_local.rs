// The local flavor: `!Send` tasks with `spawn_local`, and no multi-thread runtime around.
use std::rc::Rc;

#[tulip::main(flavor = "local")]
async fn main() {
    assert!(tulip::Handle::try_current().is_none());
    let shared = Rc::new(21);
    let s = shared.clone();
    let doubled = tulip::spawn_local(async move {
        tulip::sleep(std::time::Duration::from_millis(1)).await;
        *s * 2
    });
    assert_eq!(doubled.await.unwrap(), 42);
}
