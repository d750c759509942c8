//! loom models of the wake/park protocol and the local-queue steal (see `cfg(loom)`).
