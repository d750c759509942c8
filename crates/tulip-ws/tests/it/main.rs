//! tulip-ws integration tests: one binary, one module per topic.

mod behavior;
#[cfg(feature = "connect")]
mod connect;
#[cfg(feature = "connect")]
mod errors;
mod faults_ws;
#[cfg(all(feature = "http", feature = "connect"))]
mod forced;
#[cfg(all(feature = "http", feature = "connect"))]
mod http;
mod loopback;
mod python;
#[cfg(all(feature = "tracing", feature = "http", feature = "connect"))]
mod tracing_spans;
mod upgrade;
