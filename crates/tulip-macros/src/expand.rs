//! The generated code.
//!
//! ```text
//! #[attrs] fn main() -> Ret {
//!     async fn main() -> Ret { body }          // the user's function, unchanged
//!     ::tulip::__macro_support::block_on(workers, debug, main())
//! }
//! ```
//!
//! The user's function stays a real `async fn` nested in the generated one, so `return`, `?`
//! and the return type mean exactly what they meant, and its tokens keep their spans (type
//! errors point into the user's code). A test adds `#[test]`; with a time limit the call goes
//! through `run_test`, on a thread of its own.

use proc_macro::{Delimiter, Group, Ident, Literal, TokenStream, TokenTree};

use crate::options::{Flavor, Kind, Options, Timeout};
use crate::signature::Function;

pub(crate) fn expand(kind: Kind, options: Options, function: Function) -> TokenStream {
    let support = {
        let mut path = options.krate.clone().unwrap_or_else(|| code("::tulip"));
        path.extend(code("::__macro_support"));
        path
    };
    let call_user = {
        let mut call = TokenStream::from(TokenTree::Ident(function.name.clone()));
        call.extend([group(Delimiter::Parenthesis, TokenStream::new())]);
        call
    };
    // `block_on(workers, debug, main())` or `block_on_local(main())`.
    let block_on = {
        let mut out = support.clone();
        match options.flavor.unwrap_or(Flavor::MultiThread) {
            Flavor::MultiThread => {
                out.extend(code("::block_on"));
                let mut args =
                    option(options.workers.map(|n| {
                        TokenStream::from(TokenTree::Literal(Literal::usize_suffixed(n)))
                    }));
                args.extend(code(","));
                args.extend(option(options.debug.map(|on| code(&on.to_string()))));
                args.extend(code(","));
                args.extend(call_user);
                out.extend([group(Delimiter::Parenthesis, args)]);
            }
            Flavor::Local => {
                out.extend(code("::block_on_local"));
                out.extend([group(Delimiter::Parenthesis, call_user)]);
            }
        }
        out
    };

    let mut body = nested(&function);
    let mut outer_output = function.output.clone();
    match (kind, &options.timeout) {
        (Kind::Test, Some(timeout)) => {
            body.extend(run_test(&support, &function.name, timeout, block_on));
            // The harness gets the result in its `Send` form (see `TestOutcome`).
            outer_output = function.output.as_ref().map(|output| {
                let mut ty = code("<");
                ty.extend(output.clone());
                ty.extend(code("as"));
                ty.extend(support.clone());
                ty.extend(code("::TestOutcome>::Sent"));
                ty
            });
        }
        _ => body.extend(block_on),
    }

    let mut out = TokenStream::new();
    if kind == Kind::Test {
        out.extend(code("#[::core::prelude::v1::test]"));
    }
    out.extend(function.attrs);
    out.extend(function.vis);
    out.extend([
        TokenTree::Ident(function.fn_token),
        TokenTree::Ident(function.name),
        group(Delimiter::Parenthesis, TokenStream::new()),
    ]);
    if let Some(output) = outer_output {
        out.extend(function.arrow);
        out.extend(output);
    }
    out.extend([group(Delimiter::Brace, body)]);
    out
}

/// The user's function, to nest in the generated one: `async fn name() -> Ret { body }`.
fn nested(function: &Function) -> TokenStream {
    let mut inner = TokenStream::new();
    inner.extend([
        TokenTree::Ident(function.asyncness.clone()),
        TokenTree::Ident(function.fn_token.clone()),
        TokenTree::Ident(function.name.clone()),
        group(Delimiter::Parenthesis, TokenStream::new()),
    ]);
    if let Some(output) = &function.output {
        inner.extend(function.arrow.iter().cloned());
        inner.extend(output.clone());
    }
    inner.extend([TokenTree::Group(function.body.clone())]);
    inner
}

/// `<support>::run_test(concat!(module_path!(), "::", "name"), "5s",
/// Duration::from_millis(5000), move || <block_on>)`.
fn run_test(
    support: &TokenStream,
    name: &Ident,
    timeout: &Timeout,
    block_on: TokenStream,
) -> TokenStream {
    let mut path = code("::core::module_path!(), \"::\",");
    path.extend([TokenTree::Literal(Literal::string(&name.to_string()))]);
    let mut args = code("::core::concat!");
    args.extend([group(Delimiter::Parenthesis, path)]);
    args.extend(code(","));
    args.extend([TokenTree::Literal(Literal::string(&timeout.written))]);
    args.extend(code(", ::core::time::Duration::from_millis"));
    args.extend([group(
        Delimiter::Parenthesis,
        TokenStream::from(TokenTree::Literal(Literal::u64_suffixed(timeout.millis))),
    )]);
    args.extend(code(", move ||"));
    args.extend(block_on);
    let mut call = support.clone();
    call.extend(code("::run_test"));
    call.extend([group(Delimiter::Parenthesis, args)]);
    call
}

/// `fn name() -> ! { panic!() }`, in place of a function the macro could not expand. `!`
/// fits wherever the function is called, so the one compile error is the macro's.
pub(crate) fn stand_in(name: Ident) -> TokenStream {
    let mut out = code("#[allow(dead_code)] fn");
    out.extend([
        TokenTree::Ident(name),
        group(Delimiter::Parenthesis, TokenStream::new()),
    ]);
    out.extend(code(
        "-> ! { ::core::panic!(\"#[tulip::main] could not expand\") }",
    ));
    out
}

/// `::core::option::Option::Some(value)` or `::core::option::Option::None`.
fn option(value: Option<TokenStream>) -> TokenStream {
    match value {
        Some(v) => {
            let mut out = code("::core::option::Option::Some");
            out.extend([group(Delimiter::Parenthesis, v)]);
            out
        }
        None => code("::core::option::Option::None"),
    }
}

fn group(delimiter: Delimiter, stream: TokenStream) -> TokenTree {
    TokenTree::Group(Group::new(delimiter, stream))
}

/// Tokens from source text of our own (spanned at the attribute, like any generated code).
fn code(source: &str) -> TokenStream {
    source.parse().expect("generated code lexes")
}
