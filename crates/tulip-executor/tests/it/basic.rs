use tulip_executor::{Runtime, spawn, spawn_blocking, spawn_local, LocalExecutor};

#[test]
fn spawn_and_join() {
    let rt = Runtime::new().unwrap();
    let v = rt.block_on(async {
        let ts: Vec<_> = (0..100u32).map(|i| spawn(async move { i })).collect();
        let mut s = 0;
        for t in ts {
            s += t.await.unwrap();
        }
        s
    });
    assert_eq!(v, 4950);
}

#[test]
fn blocking_and_local() {
    let rt = Runtime::new().unwrap();
    let v = rt.block_on(async {
        let b = spawn_blocking(|| 3).await.unwrap();
        let l = spawn_local(async move { std::rc::Rc::new(4) }).await.unwrap();
        b + *l
    });
    assert_eq!(v, 7);
    let ex = LocalExecutor::new();
    assert_eq!(ex.block_on(async { spawn_local(async { 1 }).await.unwrap() }), 1);
}
