//! tulip-ws integration tests: one binary, one module per topic.

mod loopback;
mod python;
