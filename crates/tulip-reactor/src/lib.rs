//! tulip's event loop core (being written).
