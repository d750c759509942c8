//! tokio-bound crates against real peers, every one driven from inside a tulip runtime:
//! redis (a real `redis-server`), hyper's HTTP/1 client against tulip-http, tokio-util codecs
//! over tulip's TCP, Unix and TLS streams, and compat futures whose runtime went away.

mod codec;
mod foreign;
mod gone;
mod hyper_client;
mod redis_peer;
mod support;
