//! The `error.type` of a service's or a body's error: a bounded, meaningful name, never a
//! Rust primitive or generic type name.
//!
//! Re-exported as [`classify::ErrorRef`](crate::classify::ErrorRef),
//! [`classify::ErrorTypeFn`](crate::classify::ErrorTypeFn) and
//! [`classify::error_type_of`](crate::classify::error_type_of).

use std::any::Any;
use std::error::Error;

/// The value for failures whose detail is not a bounded label.
const OTHER: &str = "_OTHER";

/// An error of the wrapped service or of a response body, as an `error.type` mapping sees it.
///
/// ```
/// use tower_telemetry::classify::{ErrorRef, error_type_of};
///
/// #[derive(Debug)]
/// struct LedgerDown;
/// impl std::fmt::Display for LedgerDown {
///     fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
///         f.write_str("ledger down")
///     }
/// }
/// impl std::error::Error for LedgerDown {}
///
/// let refused = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
/// assert_eq!(error_type_of(&ErrorRef::new(&refused), None), "connection_refused");
/// assert_eq!(error_type_of(&ErrorRef::new(&LedgerDown), None), "LedgerDown");
/// assert_eq!(error_type_of(&ErrorRef::new(&"ledger down"), None), "_OTHER");
///
/// // A boxed error is looked into; a user mapping comes first.
/// let boxed: Box<dyn std::error::Error + Send + Sync> = Box::new(LedgerDown);
/// fn ours(error: &ErrorRef<'_>) -> Option<&'static str> {
///     error.downcast_ref::<LedgerDown>().map(|_| "ledger_down")
/// }
/// assert_eq!(error_type_of(&ErrorRef::new(&boxed), Some(ours)), "ledger_down");
/// ```
#[derive(Clone, Copy)]
pub struct ErrorRef<'a> {
    any: &'a dyn Any,
    type_name: &'static str,
}

impl<'a> ErrorRef<'a> {
    /// The error `error`, of any type.
    pub fn new<E: Any>(error: &'a E) -> Self {
        Self {
            any: error,
            type_name: std::any::type_name::<E>(),
        }
    }

    /// The error as a `T`: the value itself, or the error inside a
    /// `Box<dyn Error + Send + Sync>` (tower's `BoxError`), `Box<dyn Error + Send>` or
    /// `Box<dyn Error>`.
    pub fn downcast_ref<T: Error + 'static>(&self) -> Option<&'a T> {
        self.any
            .downcast_ref::<T>()
            .or_else(|| self.as_error()?.downcast_ref::<T>())
    }

    /// The error as `dyn Error`, when its type is one of the boxes above or a well-known
    /// error type.
    pub fn as_error(&self) -> Option<&'a (dyn Error + 'static)> {
        let any = self.any;
        if let Some(boxed) = any.downcast_ref::<Box<dyn Error + Send + Sync>>() {
            return Some(&**boxed);
        }
        if let Some(boxed) = any.downcast_ref::<Box<dyn Error + Send>>() {
            return Some(&**boxed);
        }
        if let Some(boxed) = any.downcast_ref::<Box<dyn Error>>() {
            return Some(&**boxed);
        }
        if let Some(error) = any.downcast_ref::<std::io::Error>() {
            return Some(error);
        }
        known::as_error(any)
    }

    /// The Rust type name of the error value (for a box, the box's).
    pub fn type_name(&self) -> &'static str {
        self.type_name
    }
}

impl std::fmt::Debug for ErrorRef<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ErrorRef")
            .field("type_name", &self.type_name)
            .finish()
    }
}

/// A mapping from errors to `error.type` values, tried before the built-in one: `None`
/// leaves the error to it. A plain function, so that carrying it costs nothing per request.
pub type ErrorTypeFn = fn(&ErrorRef<'_>) -> Option<&'static str>;

/// The `error.type` of an error: `custom`'s answer when it has one, else the built-in names.
///
/// | error | `error.type` |
/// |---|---|
/// | `std::io::Error` | its kind, in snake case: `connection_refused`, `connection_reset`, `timeout` (`TimedOut`), `broken_pipe`, `unexpected_eof`, ... (`_OTHER` for `Other` and kinds not listed) |
/// | `tonic::Status` (feature `tonic`) | the status name: `UNAVAILABLE`, `DEADLINE_EXCEEDED`, ... |
/// | tower's `timeout::error::Elapsed` | `timeout` |
/// | `hyper::Error` | `timeout`, `parse`, `incomplete_message`, `closed`, `request_canceled`, `body_write_aborted`, `user`; otherwise what its source is (a body cut short: `unexpected_eof`) |
/// | `hyper_util::client::legacy::Error` | `connect` for a connection that could not be made, else what its source is |
/// | a boxed error (`Box<dyn Error + ...>`) | the name of what it holds among the above, else of the first of its sources that is, else `_OTHER` |
/// | any other type | its own name, without module path or generic parameters (`LedgerError`); a type named just `Error` keeps its path (`tonic::transport::Error`, `my_app::Error`) |
/// | a primitive, a reference, a tuple, a standard-library type (`&str`, `String`, `()`, `fmt::Error`) | `_OTHER` |
pub fn error_type_of(error: &ErrorRef<'_>, custom: Option<ErrorTypeFn>) -> &'static str {
    if let Some(name) = custom.and_then(|custom| custom(error)) {
        return name;
    }
    // The error itself when its type is known (or the error a box holds), then its sources.
    let mut next = error.as_error();
    while let Some(error) = next {
        if let Some(name) = known_dyn_name(error) {
            return name;
        }
        next = error.source();
    }
    own_name(error.type_name)
}

fn known_dyn_name(error: &(dyn Error + 'static)) -> Option<&'static str> {
    if let Some(error) = error.downcast_ref::<std::io::Error>() {
        return Some(io_name(error));
    }
    known::dyn_name(error)
}

/// The well-known error types of the crates this crate's features bring in.
#[cfg(feature = "error-names")]
mod known {
    use std::any::Any;
    use std::error::Error;

    /// A value of one of the types [`dyn_name`] knows, as `dyn Error`.
    pub(super) fn as_error(any: &dyn Any) -> Option<&(dyn Error + 'static)> {
        if let Some(error) = any.downcast_ref::<hyper_util::client::legacy::Error>() {
            return Some(error);
        }
        if let Some(error) = any.downcast_ref::<hyper::Error>() {
            return Some(error);
        }
        #[cfg(feature = "tonic")]
        if let Some(status) = any.downcast_ref::<tonic::Status>() {
            return Some(status);
        }
        any.downcast_ref::<tower::timeout::error::Elapsed>()
            .map(|elapsed| elapsed as &(dyn Error + 'static))
    }

    pub(super) fn dyn_name(error: &(dyn Error + 'static)) -> Option<&'static str> {
        if let Some(error) = error.downcast_ref::<hyper_util::client::legacy::Error>() {
            // Not connected: name what went wrong, from the sources.
            return error.is_connect().then_some("connect");
        }
        if let Some(error) = error.downcast_ref::<hyper::Error>() {
            return hyper_name(error);
        }
        #[cfg(feature = "tonic")]
        if let Some(status) = error.downcast_ref::<tonic::Status>() {
            return Some(crate::rpc::status_name(status.code().into()));
        }
        error
            .is::<tower::timeout::error::Elapsed>()
            .then_some("timeout")
    }

    /// What hyper says of its error; `None` leaves it to its source (a body cut short is an
    /// `io::Error` of kind `UnexpectedEof` inside).
    fn hyper_name(error: &hyper::Error) -> Option<&'static str> {
        Some(if error.is_timeout() {
            "timeout"
        } else if error.is_parse() || error.is_parse_status() {
            "parse"
        } else if error.is_incomplete_message() {
            "incomplete_message"
        } else if error.is_closed() {
            "closed"
        } else if error.is_canceled() {
            "request_canceled"
        } else if error.is_body_write_aborted() {
            "body_write_aborted"
        } else if error.is_user() {
            "user"
        } else {
            return None;
        })
    }
}

/// Without the `error-names` feature (which trace and metrics bring), only the standard library's errors are known.
#[cfg(not(feature = "error-names"))]
mod known {
    use std::any::Any;
    use std::error::Error;

    pub(super) fn as_error(_: &dyn Any) -> Option<&(dyn Error + 'static)> {
        None
    }

    pub(super) fn dyn_name(_: &(dyn Error + 'static)) -> Option<&'static str> {
        None
    }
}

fn io_name(error: &std::io::Error) -> &'static str {
    let kind = error.kind();
    IO_NAMES
        .iter()
        .find(|(known, _)| *known == kind)
        .map_or(OTHER, |(_, name)| name)
}

/// The `io::ErrorKind`s with a name of their own; the others (`Other` among them) are `_OTHER`.
const IO_NAMES: [(std::io::ErrorKind, &str); 22] = {
    use std::io::ErrorKind::*;
    [
        (NotFound, "not_found"),
        (PermissionDenied, "permission_denied"),
        (ConnectionRefused, "connection_refused"),
        (ConnectionReset, "connection_reset"),
        (ConnectionAborted, "connection_aborted"),
        (NotConnected, "not_connected"),
        (HostUnreachable, "host_unreachable"),
        (NetworkUnreachable, "network_unreachable"),
        (NetworkDown, "network_down"),
        (AddrInUse, "addr_in_use"),
        (AddrNotAvailable, "addr_not_available"),
        (BrokenPipe, "broken_pipe"),
        (AlreadyExists, "already_exists"),
        (WouldBlock, "would_block"),
        (InvalidInput, "invalid_input"),
        (InvalidData, "invalid_data"),
        (TimedOut, "timeout"),
        (WriteZero, "write_zero"),
        (Interrupted, "interrupted"),
        (Unsupported, "unsupported"),
        (UnexpectedEof, "unexpected_eof"),
        (OutOfMemory, "out_of_memory"),
    ]
};

/// A user type's own name; `_OTHER` for primitives, references, tuples, arrays, trait objects
/// and the standard library's types.
fn own_name(type_name: &'static str) -> &'static str {
    let path = type_name.split('<').next().unwrap_or(type_name);
    let std = ["core::", "alloc::", "std::"]
        .iter()
        .any(|prefix| path.starts_with(prefix));
    if std
        || !path.contains("::")
        || path.starts_with(['&', '*', '(', '['])
        || path.starts_with("dyn ")
    {
        return OTHER;
    }
    match path.rsplit("::").next() {
        // `Error` alone says nothing: the path says whose (`tonic::transport::Error`).
        Some("Error") => path,
        Some(name) if !name.is_empty() => name,
        _ => OTHER,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct Ledger<T>(T);
    impl<T: std::fmt::Debug> std::fmt::Display for Ledger<T> {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "{self:?}")
        }
    }
    impl<T: std::fmt::Debug> Error for Ledger<T> {}

    fn name<E: Any>(error: &E) -> &'static str {
        error_type_of(&ErrorRef::new(error), None)
    }

    #[test]
    fn primitives_and_std_types_are_other_user_types_their_own_name() {
        assert_eq!(name(&"ledger unavailable"), "_OTHER");
        assert_eq!(name(&String::from("x")), "_OTHER");
        assert_eq!(name(&()), "_OTHER");
        assert_eq!(name(&7u8), "_OTHER");
        assert_eq!(name(&std::fmt::Error), "_OTHER");
        assert_eq!(name(&[1u8]), "_OTHER");
        assert_eq!(name(&Ledger(1u8)), "Ledger");
        assert_eq!(Ledger(1u8).to_string(), "Ledger(1)");
        let boxed: Box<dyn Error + Send + Sync> = "no type".into();
        assert_eq!(name(&boxed), "_OTHER");
        assert_eq!(own_name("dyn core::error::Error"), "_OTHER");
        assert_eq!(own_name("my_crate::Error::"), "_OTHER");
        assert_eq!(
            own_name("tonic::transport::Error"),
            "tonic::transport::Error"
        );
    }

    #[test]
    fn well_known_errors_have_bounded_names() {
        use std::io::{Error as Io, ErrorKind};
        assert_eq!(name(&Io::from(ErrorKind::TimedOut)), "timeout");
        assert_eq!(name(&Io::from(ErrorKind::BrokenPipe)), "broken_pipe");
        assert_eq!(name(&Io::other("anything")), "_OTHER");
        let io = Io::from(ErrorKind::NotFound);
        let error = ErrorRef::new(&io);
        assert!(error.as_error().is_some() && error.downcast_ref::<Io>().is_some());
        let boxed: Box<dyn Error + Send + Sync> = Box::new(tower::timeout::error::Elapsed::new());
        assert_eq!(name(&boxed), "timeout");
        assert_eq!(name(&tower::timeout::error::Elapsed::new()), "timeout");
        let send: Box<dyn Error + Send> = Box::new(Io::from(ErrorKind::ConnectionReset));
        assert_eq!(name(&send), "connection_reset");
        let plain: Box<dyn Error> = Box::new(Ledger("x"));
        assert_eq!(
            ErrorRef::new(&plain)
                .downcast_ref::<Ledger<&str>>()
                .map(|l| l.0),
            Some("x")
        );
        assert_eq!(name(&plain), "_OTHER", "the box hides the type's name");
        #[cfg(feature = "tonic")]
        assert_eq!(name(&tonic::Status::unavailable("down")), "UNAVAILABLE");
        let error = ErrorRef::new(&plain);
        assert_eq!(
            error.type_name(),
            "alloc::boxed::Box<dyn core::error::Error>"
        );
        assert!(format!("{error:?}").contains("Box"));
    }

    /// A source chain: a box whose error wraps an `io::Error`.
    #[test]
    fn a_box_is_named_by_the_first_known_source() {
        #[derive(Debug)]
        struct Wrapper(std::io::Error);
        impl std::fmt::Display for Wrapper {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("wrapped")
            }
        }
        impl Error for Wrapper {
            fn source(&self) -> Option<&(dyn Error + 'static)> {
                Some(&self.0)
            }
        }
        let boxed: Box<dyn Error + Send + Sync> = Box::new(Wrapper(std::io::Error::from(
            std::io::ErrorKind::ConnectionRefused,
        )));
        assert_eq!(name(&boxed), "connection_refused");
        assert_eq!(boxed.to_string(), "wrapped");
        assert_eq!(
            name(&Wrapper(std::io::ErrorKind::NotFound.into())),
            "Wrapper",
            "a user type keeps its own name"
        );
    }

    #[test]
    fn a_custom_mapping_comes_first_and_may_pass() {
        fn custom(error: &ErrorRef<'_>) -> Option<&'static str> {
            error.downcast_ref::<std::io::Error>().map(|_| "disk")
        }
        let io = std::io::Error::from(std::io::ErrorKind::NotFound);
        assert_eq!(error_type_of(&ErrorRef::new(&io), Some(custom)), "disk");
        assert_eq!(
            error_type_of(&ErrorRef::new(&Ledger(1)), Some(custom)),
            "Ledger"
        );
    }
}
