//! A compile error pointing at the user's tokens.

use proc_macro::{Delimiter, Group, Ident, Literal, Punct, Spacing, Span, TokenStream, TokenTree};

/// A misuse of a macro: a message and the source range it is about.
#[derive(Debug)]
pub(crate) struct Error {
    message: String,
    start: Span,
    end: Span,
}

pub(crate) type Result<T> = std::result::Result<T, Error>;

impl Error {
    /// An error about one token.
    pub(crate) fn new(span: Span, message: impl Into<String>) -> Error {
        Error::spanning(span, span, message)
    }

    /// An error about the tokens from `start` to `end`.
    pub(crate) fn spanning(start: Span, end: Span, message: impl Into<String>) -> Error {
        Error {
            message: message.into(),
            start,
            end,
        }
    }

    /// `::core::compile_error!("...")`. Its first tokens carry `start` and its last `end`, so
    /// the compiler underlines the whole range (a `Span` cannot be joined on stable Rust).
    pub(crate) fn into_tokens(self) -> TokenStream {
        let start = self.start;
        let colons = |spacing| {
            let mut p = Punct::new(':', spacing);
            p.set_span(start);
            TokenTree::Punct(p)
        };
        let mut bang = Punct::new('!', Spacing::Alone);
        bang.set_span(start);
        let mut message = Literal::string(&self.message);
        message.set_span(self.end);
        let mut args = Group::new(
            Delimiter::Parenthesis,
            TokenStream::from(TokenTree::Literal(message)),
        );
        args.set_span(self.end);
        let mut semi = Punct::new(';', Spacing::Alone);
        semi.set_span(self.end);
        [
            colons(Spacing::Joint),
            colons(Spacing::Alone),
            TokenTree::Ident(Ident::new("core", start)),
            colons(Spacing::Joint),
            colons(Spacing::Alone),
            TokenTree::Ident(Ident::new("compile_error", start)),
            TokenTree::Punct(bang),
            TokenTree::Group(args),
            TokenTree::Punct(semi),
        ]
        .into_iter()
        .collect()
    }
}
