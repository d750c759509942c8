//! The annotated function, read from its tokens: attributes, visibility, `async fn`, name,
//! return type, body. Only what the macros accept is understood; anything else becomes an
//! error pointing at the token that does not fit.

use proc_macro::{Delimiter, Group, Ident, Span, TokenStream, TokenTree};

use crate::error::{Error, Result};
use crate::options::{Kind, unwrap_none_group};

/// An `async fn name() -> Ret { body }` with its outer attributes and visibility.
#[derive(Debug)]
pub(crate) struct Function {
    /// Outer attributes (`#` and the bracket group), doc comments included.
    pub(crate) attrs: Vec<TokenTree>,
    pub(crate) vis: Vec<TokenTree>,
    /// The `async` keyword, kept for the inner function so its span stays the user's.
    pub(crate) asyncness: Ident,
    pub(crate) fn_token: Ident,
    pub(crate) name: Ident,
    /// The tokens after `->`, when there is a return type.
    pub(crate) output: Option<TokenStream>,
    /// `->` itself (two tokens), when there is a return type.
    pub(crate) arrow: Vec<TokenTree>,
    pub(crate) body: Group,
}

impl Function {
    pub(crate) fn parse(item: TokenStream, kind: Kind) -> Result<Function> {
        let attribute = kind.attribute();
        let mut tokens = item.into_iter().peekable();
        let mut attrs = Vec::new();
        while let Some(TokenTree::Punct(p)) = tokens.peek() {
            if p.as_char() != '#' {
                break;
            }
            let hash = tokens.next().expect("peeked");
            let Some(TokenTree::Group(group)) = tokens.next() else {
                return Err(Error::new(hash.span(), "expected an attribute after `#`"));
            };
            if kind == Kind::Test && is_test_attribute(&group) {
                return Err(Error::spanning(
                    hash.span(),
                    group.span(),
                    "remove this `#[test]`: #[tulip::test] already makes the function a test",
                ));
            }
            attrs.push(hash);
            attrs.push(TokenTree::Group(group));
        }

        let mut vis = Vec::new();
        if let Some(TokenTree::Ident(i)) = tokens.peek() {
            if i.to_string() == "pub" {
                vis.push(tokens.next().expect("peeked"));
                if let Some(TokenTree::Group(g)) = tokens.peek() {
                    if g.delimiter() == Delimiter::Parenthesis {
                        vis.push(tokens.next().expect("peeked"));
                    }
                }
            }
        }

        let mut asyncness = None;
        let fn_token = loop {
            match tokens.next() {
                Some(TokenTree::Ident(i)) if i.to_string() == "fn" => break i,
                Some(TokenTree::Ident(i)) if i.to_string() == "async" => asyncness = Some(i),
                Some(TokenTree::Ident(i))
                    if matches!(
                        i.to_string().as_str(),
                        "const" | "unsafe" | "extern" | "safe"
                    ) =>
                {
                    return Err(Error::new(
                        i.span(),
                        format!("{attribute} takes a plain `async fn`, without `{i}`"),
                    ));
                }
                Some(other) => {
                    return Err(Error::new(
                        other.span(),
                        format!("{attribute} goes on an `async fn`, found `{other}`"),
                    ));
                }
                None => {
                    return Err(Error::new(
                        Span::call_site(),
                        format!("{attribute} goes on an `async fn`"),
                    ));
                }
            }
        };
        let Some(asyncness) = asyncness else {
            let what = match kind {
                Kind::Main => "the function",
                Kind::Test => "the test",
            };
            return Err(Error::new(
                fn_token.span(),
                format!(
                    "{attribute} goes on an `async fn`: write `async fn` here (without `async` \
                     {what} needs no runtime, so drop the attribute)"
                ),
            ));
        };
        let Some(TokenTree::Ident(name)) = tokens.next() else {
            return Err(Error::new(fn_token.span(), "expected the function's name"));
        };

        let what = match kind {
            Kind::Main => format!("`{name}`"),
            Kind::Test => "a test".to_owned(),
        };
        let params = match tokens.next() {
            Some(TokenTree::Group(g)) if g.delimiter() == Delimiter::Parenthesis => g,
            Some(TokenTree::Punct(p)) if p.as_char() == '<' => {
                // Underline the generics, up to the parameter list.
                let mut end = p.span();
                for t in tokens.by_ref() {
                    if matches!(&t, TokenTree::Group(g) if g.delimiter() == Delimiter::Parenthesis)
                    {
                        break;
                    }
                    end = t.span();
                }
                return Err(Error::spanning(
                    p.span(),
                    end,
                    format!(
                        "{what} cannot have generic parameters under {attribute}: the runtime \
                         calls it with none"
                    ),
                ));
            }
            other => {
                return Err(Error::new(
                    other.map_or(name.span(), |t| t.span()),
                    "expected the parameter list `()`",
                ));
            }
        };
        let mut inner = params.stream().into_iter();
        if let Some(first) = inner.next() {
            let last = inner.last().map_or(first.span(), |t| t.span());
            return Err(Error::spanning(
                first.span(),
                last,
                format!(
                    "{what} cannot take arguments under {attribute}: the runtime has none to give"
                ),
            ));
        }

        let mut arrow = Vec::new();
        let mut output = Vec::new();
        let mut body = None;
        for token in tokens {
            let token = unwrap_none_group(token);
            if body.is_some() {
                return Err(Error::new(token.span(), "unexpected tokens after the body"));
            }
            match token {
                TokenTree::Punct(p)
                    if arrow.is_empty() && output.is_empty() && p.as_char() == '-' =>
                {
                    arrow.push(TokenTree::Punct(p));
                }
                TokenTree::Punct(p) if arrow.len() == 1 && p.as_char() == '>' => {
                    arrow.push(TokenTree::Punct(p));
                }
                TokenTree::Ident(i) if i.to_string() == "where" => {
                    return Err(Error::new(
                        i.span(),
                        format!("{what} cannot have a `where` clause under {attribute}"),
                    ));
                }
                TokenTree::Group(g) if g.delimiter() == Delimiter::Brace && arrow.len() != 1 => {
                    body = Some(g);
                }
                other if arrow.len() == 2 => output.push(other),
                other => {
                    return Err(Error::new(
                        other.span(),
                        format!("expected `->` or the body, found `{other}`"),
                    ));
                }
            }
        }
        let Some(body) = body else {
            return Err(Error::new(
                name.span(),
                format!("{attribute} needs a function with a body"),
            ));
        };
        if arrow.len() == 2 && output.is_empty() {
            return Err(Error::new(
                arrow[1].span(),
                "expected a return type after `->`",
            ));
        }
        Ok(Function {
            attrs,
            vis,
            asyncness,
            fn_token,
            name,
            output: (!output.is_empty()).then(|| output.into_iter().collect()),
            arrow,
            body,
        })
    }
}

/// `[test]`, `[core::prelude::v1::test]`...: an attribute whose path ends in `test`, with no
/// arguments.
fn is_test_attribute(group: &Group) -> bool {
    let tokens: Vec<TokenTree> = group.stream().into_iter().collect();
    matches!(tokens.last(), Some(TokenTree::Ident(i)) if i.to_string() == "test")
        && tokens.iter().all(|t| match t {
            TokenTree::Ident(_) => true,
            TokenTree::Punct(p) => p.as_char() == ':',
            _ => false,
        })
}

/// The name after the first top-level `fn`, however malformed the rest.
pub(crate) fn function_name(item: &TokenStream) -> Option<Ident> {
    let mut tokens = item.clone().into_iter();
    tokens.find(|t| matches!(t, TokenTree::Ident(i) if i.to_string() == "fn"))?;
    match tokens.next()? {
        TokenTree::Ident(name) => Some(name),
        _ => None,
    }
}
