//! tulip's layers driven through [`tulip_faults::FaultyIo`]: no panic, no hang, no lost or
//! duplicated bytes. Every case runs over several seeds; a failure message names its seed.

mod http_client;
mod http_server;
mod stream;
mod support;
mod ws;
