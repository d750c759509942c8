//! Marks a thread as running tulip, so that a nested `block_on` fails loudly instead of
//! deadlocking (asyncio's "This event loop is already running"). The mark is the reactor's,
//! shared with `tulip_reactor::block_on`, so nesting either inside the other is caught too.

pub(crate) use tulip_reactor::enter;
