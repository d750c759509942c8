//! tulip-ws integration tests: one binary, one module per topic.

mod behavior;
#[cfg(feature = "connect")]
mod connect;
mod loopback;
mod python;
mod upgrade;
