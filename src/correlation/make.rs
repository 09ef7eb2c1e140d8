//! Generators of fresh correlation IDs.

use super::CorrelationId;

/// Makes a fresh [`CorrelationId`] when a request has none (or one that was refused).
///
/// Implemented by [`UuidV7`], the default, and by any `Fn() -> CorrelationId` closure.
///
/// # Example
///
/// ```
/// use std::sync::atomic::{AtomicU64, Ordering};
/// use tower_telemetry::correlation::{CorrelationId, CorrelationLayer};
///
/// static NEXT: AtomicU64 = AtomicU64::new(1);
///
/// let layer = CorrelationLayer::new().generator(|| {
///     let n = NEXT.fetch_add(1, Ordering::Relaxed);
///     CorrelationId::new(format!("req-{n}")).expect("digits and a hyphen are allowed")
/// });
/// # let _ = layer;
/// ```
pub trait MakeCorrelationId: Send + Sync + 'static {
    /// Returns a new ID. Called once for each request that needs one.
    fn make_correlation_id(&self) -> CorrelationId;
}

impl<F> MakeCorrelationId for F
where
    F: Fn() -> CorrelationId + Send + Sync + 'static,
{
    fn make_correlation_id(&self) -> CorrelationId {
        self()
    }
}

/// The default generator: a UUID version 7 in its lowercase hyphenated form
/// (`0190a5c8-4b7e-7c1a-9f3e-2d4b5a6c7d8e`).
///
/// Version 7 UUIDs start with a millisecond timestamp, so IDs sort by creation time in logs and
/// indexes. The random part comes from a thread-local generator seeded once from the operating
/// system (the `uuid` crate's `fast-rng`), not from a system call per ID.
///
/// Correlation IDs are identifiers, not secrets: do not use them as tokens or nonces.
#[derive(Clone, Copy, Debug, Default)]
pub struct UuidV7;

impl MakeCorrelationId for UuidV7 {
    fn make_correlation_id(&self) -> CorrelationId {
        CorrelationId::from_uuid(uuid::Uuid::now_v7())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuid_v7_ids_are_version_7_and_distinct() {
        let a = UuidV7.make_correlation_id();
        let b = UuidV7.make_correlation_id();
        assert_ne!(a, b);
        for id in [&a, &b] {
            let uuid = uuid::Uuid::parse_str(id.as_str()).unwrap();
            assert_eq!(uuid.get_version_num(), 7);
            assert_eq!(id.as_str().len(), 36);
        }
    }

    #[test]
    fn uuid_v7_ids_sort_by_creation_time() {
        let ids: Vec<_> = (0..100).map(|_| UuidV7.make_correlation_id()).collect();
        let mut sorted = ids.clone();
        sorted.sort_by(|a, b| a.as_str().cmp(b.as_str()));
        assert_eq!(ids, sorted);
    }

    #[test]
    fn closures_are_generators() {
        let make = || CorrelationId::new("fixed").unwrap();
        assert_eq!(make.make_correlation_id().as_str(), "fixed");
    }
}
