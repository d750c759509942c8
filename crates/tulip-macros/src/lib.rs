//! `#[tulip::main]` and `#[tulip::test]`: an `async fn main` or an async test, run on a tulip
//! runtime.
//!
//! asyncio programs end with `asyncio.run(main())`; tulip programs can call [`tulip::run`] the
//! same way, or put `#[tulip::main]` on an `async fn main` and have it written for them. Tests
//! get `#[tulip::test]`, which can also give each test a time limit. Use them through the
//! umbrella crate (feature `macros`, on by default): `#[tulip::main]`, `#[tulip::test]`.
//!
//! | option | meaning | default |
//! |---|---|---|
//! | `workers = 4` | worker threads of the multi-thread runtime | one per core |
//! | `flavor = "local"` | run on a single-thread `LocalExecutor` instead (asyncio's model: `!Send` tasks with `spawn_local`; `spawn` is not available) | `"multi_thread"` |
//! | `debug = true` | debug mode: slow-poll warnings, pending tasks listed at shutdown | `TULIP_DEBUG` |
//! | `timeout = "5s"` | (`#[tulip::test]` only) the test fails when it runs longer; `ms`, `s`, `min` | none |
//! | `crate = "path"` | where tulip is, for a renamed dependency or for tulip-executor alone | `"tulip"` |
//!
//! The generated code names tulip as `::tulip` (or the `crate` path), so the caller imports
//! nothing. Misuse (a function that is not `async`, that takes arguments or is generic, an
//! unknown or repeated option, a bad value, `workers` or `debug` with the local flavor) is a
//! compile error pointing at the offending tokens.
//!
//! The crate has no dependencies: the options and the function signature are read from
//! `proc_macro`'s tokens by hand. The macros accept one narrow shape (`async fn name() -> T
//! { .. }`), which a few hundred lines parse exactly; `syn` with its `full` feature (the one
//! that parses functions) and `quote` would put three crates, none of them otherwise in
//! tulip's tree, in front of every build that uses tulip.
//!
//! # Examples
//!
//! ```
//! #[tulip::main]
//! async fn main() {
//!     let answer = tulip::spawn(async { 40 + 2 });
//!     assert_eq!(answer.await.unwrap(), 42);
//! }
//! ```
//!
//! A test with a time limit, returning a `Result` so that `?` works:
//!
//! ```
//! #[tulip::test(timeout = "5s")]
//! async fn sleeps_briefly() -> Result<(), tulip::Elapsed> {
//!     tulip::timeout(std::time::Duration::from_secs(1), tulip::sleep(std::time::Duration::from_millis(1))).await?;
//!     Ok(())
//! }
//! # fn main() {}
//! ```
//!
//! [`tulip::run`]: https://docs.rs/tulip/latest/tulip/fn.run.html

mod error;
mod expand;
mod options;
mod signature;

use proc_macro::TokenStream;

use options::{Kind, Options};
use signature::Function;

/// Runs an `async fn main` on a tulip runtime: asyncio's `asyncio.run(main())`.
///
/// ```
/// #[tulip::main]
/// async fn main() -> std::io::Result<()> {
///     tulip::sleep(std::time::Duration::from_millis(1)).await;
///     Ok(())
/// }
/// ```
///
/// becomes, in effect,
///
/// ```
/// fn main() -> std::io::Result<()> {
///     async fn main() -> std::io::Result<()> {
///         tulip::sleep(std::time::Duration::from_millis(1)).await;
///         Ok(())
///     }
///     tulip::run(main())
/// }
/// ```
///
/// The function may return anything `main` may (`()`, `Result<(), E>`...). When it returns,
/// the runtime shuts down and the tasks still pending are cancelled, as with [`tulip::run`].
///
/// # Options
///
/// - `workers = N`: a multi-thread runtime with `N` workers (at least 1; one per core when
///   left out).
/// - `flavor = "local"`: everything on the calling thread, on a `LocalExecutor`. Tasks are
///   spawned with `tulip::spawn_local` and need not be `Send`; `tulip::spawn` (which needs
///   worker threads) panics. `flavor = "multi_thread"` is the default.
/// - `debug = true`: debug mode (warnings for polls slower than 100 ms, the tasks still
///   pending at shutdown). `debug = false` turns it off even under `TULIP_DEBUG=1`. Only for
///   the multi-thread flavor.
/// - `crate = "path"`: the path of the tulip crate, when it is renamed in `Cargo.toml` or
///   when only tulip-executor is a dependency (`crate = "tulip_executor"`, with
///   `#[tulip_macros::main(...)]`).
///
/// ```
/// use std::rc::Rc;
///
/// #[tulip::main(flavor = "local")]
/// async fn main() {
///     // Not `Send`: fine on the local flavor.
///     let shared = Rc::new(21);
///     let s = shared.clone();
///     let doubled = tulip::spawn_local(async move { *s * 2 }).await.unwrap();
///     assert_eq!(doubled, 42);
/// }
/// ```
///
/// [`tulip::run`]: https://docs.rs/tulip/latest/tulip/fn.run.html
#[proc_macro_attribute]
pub fn main(args: TokenStream, item: TokenStream) -> TokenStream {
    expand(Kind::Main, args, item)
}

/// Runs an async test on a tulip runtime, with an optional time limit.
///
/// ```
/// #[tulip::test]
/// async fn spawns() {
///     assert_eq!(tulip::spawn(async { 1 + 1 }).await.unwrap(), 2);
/// }
///
/// #[tulip::test(workers = 2, timeout = "500ms")]
/// async fn answers_in_time() -> Result<(), String> {
///     let n = tulip::spawn(async { 42 }).await.map_err(|e| e.to_string())?;
///     if n == 42 { Ok(()) } else { Err(format!("got {n}")) }
/// }
/// # fn main() {}
/// ```
///
/// Each test builds its own runtime, like `#[tulip::main]` (a multi-thread one with a worker
/// per core unless `workers` or `flavor` say otherwise) and shuts it down when it ends.
/// The test may return `()` or `Result<(), E>` with `E: Debug`, and may carry other
/// attributes (`#[should_panic]`, `#[ignore]`); it must not carry `#[test]` as well.
///
/// # Options
///
/// Those of [`macro@main`] (`workers`, `flavor`, `debug`, `crate`), and:
///
/// - `timeout = "5s"`: the test fails when it runs longer than this (`ms`, `s` or `min`;
///   `"1.5s"` works), with a message naming the test and the limit:
///   ``test `net::echo` timed out: it ran longer than its limit of 5s``. The limit covers the
///   whole test, runtime start and shutdown included, and catches a test blocked outside an
///   `.await` too: the test runs on a thread of its own, which is left running when it
///   overruns (a thread cannot be stopped from outside) and ends with the test process.
#[proc_macro_attribute]
pub fn test(args: TokenStream, item: TokenStream) -> TokenStream {
    expand(Kind::Test, args, item)
}

fn expand(kind: Kind, args: TokenStream, item: TokenStream) -> TokenStream {
    let parsed = Options::parse(args, kind)
        .and_then(|options| Function::parse(item.clone(), kind).map(|f| (options, f)));
    match parsed {
        Ok((options, function)) => expand::expand(kind, options, function),
        Err(error) => {
            // Not the item itself, which would add errors that only repeat this one (an
            // `async fn main`, a test without a runtime). A `main` gets a stand-in, or the
            // compiler would also complain that the crate has no `main`.
            let mut out = error.into_tokens();
            if kind == Kind::Main {
                if let Some(name) = signature::function_name(&item) {
                    out.extend(expand::stand_in(name));
                }
            }
            out
        }
    }
}
