//! `tracing` (feature `tracing`): a span `ws.session` (target `tulip_ws`, fields `ws.role`,
//! `ws.deflate`) that lives as long as the connection's state, split halves included. Without
//! the feature `Session` is an empty struct.

use crate::Role;

/// A WebSocket session's span, or nothing without the feature.
#[derive(Debug)]
pub(crate) struct Session {
    #[cfg(feature = "tracing")]
    _span: tracing::Span,
}

impl Session {
    /// Opens the span of a session in `role`, with or without permessage-deflate.
    #[cfg(feature = "tracing")]
    pub(crate) fn open(role: Role, deflate: bool) -> Session {
        let role = match role {
            Role::Server => "server",
            Role::Client => "client",
        };
        Session {
            _span: tracing::info_span!(
                target: "tulip_ws",
                "ws.session",
                ws.role = role,
                ws.deflate = deflate,
            ),
        }
    }

    /// Without the feature: nothing.
    #[cfg(not(feature = "tracing"))]
    #[inline(always)]
    pub(crate) fn open(_role: Role, _deflate: bool) -> Session {
        Session {}
    }
}
