//! tulip-ws integration tests: one binary, one module per topic.

mod behavior;
#[cfg(feature = "connect")]
mod connect;
#[cfg(feature = "connect")]
mod errors;
mod faults_ws;
#[cfg(all(feature = "http", feature = "connect"))]
mod forced;
mod heartbeat;
#[cfg(all(feature = "http", feature = "connect"))]
mod http;
mod loopback;
#[cfg(feature = "tls")]
mod proxy;
mod python;
#[cfg(all(feature = "http", feature = "connect"))]
mod python_heartbeat;
#[cfg(feature = "connect")]
mod session;
#[cfg(all(feature = "tracing", feature = "http", feature = "connect"))]
mod tracing_spans;
mod upgrade;
