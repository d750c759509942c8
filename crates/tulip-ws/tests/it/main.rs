//! tulip-ws integration tests: one binary, one module per topic.

mod behavior;
#[cfg(feature = "connect")]
mod connect;
#[cfg(feature = "connect")]
mod errors;
#[cfg(all(feature = "http", feature = "connect"))]
mod forced;
#[cfg(all(feature = "http", feature = "connect"))]
mod http;
mod loopback;
mod python;
mod upgrade;
