//! Crate-private macros.

/// Defines `get_ref`, `get_mut` and `into_inner` on a middleware whose wrapped service is the
/// field `inner`, as every tower middleware offers them.
#[allow(unused_macros)]
macro_rules! define_inner_service_accessors {
    () => {
        /// Gets a reference to the inner service.
        pub fn get_ref(&self) -> &S {
            &self.inner
        }

        /// Gets a mutable reference to the inner service.
        pub fn get_mut(&mut self) -> &mut S {
            &mut self.inner
        }

        /// Consumes `self`, returning the inner service.
        pub fn into_inner(self) -> S {
            self.inner
        }
    };
}

/// Expands `$body` once per level, with `$lvl` bound to that level as a constant, because
/// `tracing`'s macros need a level known at compile time.
#[allow(unused_macros)]
macro_rules! with_level {
    ($level:expr, |$lvl:ident| $body:expr) => {
        match $level {
            Level::ERROR => {
                const $lvl: Level = Level::ERROR;
                $body
            }
            Level::WARN => {
                const $lvl: Level = Level::WARN;
                $body
            }
            Level::INFO => {
                const $lvl: Level = Level::INFO;
                $body
            }
            Level::DEBUG => {
                const $lvl: Level = Level::DEBUG;
                $body
            }
            Level::TRACE => {
                const $lvl: Level = Level::TRACE;
                $body
            }
        }
    };
}

/// Defines the error type of a refused input: it carries the reason enum, and its `Display`
/// names the input and the broken rule, never the input's bytes, so it is safe to log.
#[allow(unused_macros)]
macro_rules! refusal_error {
    ($(#[$meta:meta])* $name:ident($reason:ty), $what:literal) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub struct $name {
            reason: $reason,
        }

        impl $name {
            #[allow(dead_code)]
            pub(crate) fn new(reason: $reason) -> Self {
                Self { reason }
            }

            /// The rule the input broke.
            pub fn reason(&self) -> $reason {
                self.reason
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                write!(f, concat!("invalid ", $what, ": {}"), self.reason)
            }
        }

        impl std::error::Error for $name {}
    };
}
