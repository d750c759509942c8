//! HTTP/1.1 protocol layers, crate-private and shared by the server and the client.
//!
//! Bottom-up, each layer knowing only the ones below it:
//!
//! 1. [`buf`]: one reusable read buffer per connection (`ReadBuf`, zero-copy `split_to`) and a
//!    write buffer that batches heads, small bodies and pipelined responses (`WriteBuf`).
//! 2. [`decode`] / [`encode`]: body framing (Content-Length, chunked, until-close), both ways.
//! 3. [`role`]: the server role (strict request-head parsing into a fixed header array,
//!    response-head encoding). The client role goes beside it.
//! 4. [`conn`]: a transport plus both buffers plus one lazily armed timer: deadline-bounded reads
//!    and writes.
//! 5. Dispatch lives with its role: `server::dispatch` drives a `Conn` for the server.
//!
//! Nothing here allocates per message on the common path, and nothing here panics on input.

pub(crate) mod buf;
pub(crate) mod client;
pub(crate) mod conn;
pub(crate) mod date;
pub(crate) mod decode;
pub(crate) mod encode;
pub(crate) mod role;
