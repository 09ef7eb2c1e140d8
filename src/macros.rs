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
