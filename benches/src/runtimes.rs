//! The 2-worker runtimes several benchmark groups share, created once per process so that only
//! one idle tulip runtime (and one tokio runtime) exists however many groups use them.

use std::sync::OnceLock;

pub(crate) fn tulip_rt() -> &'static tulip_executor::Runtime {
    static RT: OnceLock<tulip_executor::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tulip_executor::runtime::Builder::new()
            .worker_threads(2)
            .build()
            .unwrap()
    })
}

pub(crate) fn tokio_mt() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap()
    })
}
