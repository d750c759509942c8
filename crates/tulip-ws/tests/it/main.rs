//! tulip-ws integration tests: one binary, one module per topic.

mod behavior;
mod loopback;
mod python;
mod upgrade;
