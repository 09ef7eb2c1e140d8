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
/// use tower::{ServiceBuilder, ServiceExt};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let layer = CorrelationLayer::new().generator(|| {
///     let n = NEXT.fetch_add(1, Ordering::Relaxed);
///     CorrelationId::new(format!("req-{n}")).expect("digits and a hyphen are allowed")
/// });
/// let service = ServiceBuilder::new().layer(layer).service_fn(|_: http::Request<()>| async {
///     Ok::<_, std::convert::Infallible>(http::Response::new(String::new()))
/// });
/// let response = service.oneshot(http::Request::new(())).await.unwrap();
/// assert_eq!(response.headers()["x-request-id"], "req-1");
/// # }
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
/// indexes; IDs made on one thread within the same millisecond carry an increasing counter
/// (RFC 9562, method 1), so they sort in creation order too. The rest is random, from a
/// thread-local generator seeded once from the operating system's randomness: no system call
/// and no lock per ID (the `uuid` crate's own `now_v7` takes a process-wide lock and costs
/// about three times as many instructions, measured with `scripts/bench`).
///
/// Correlation IDs are identifiers, not secrets: they are predictable to someone who has seen
/// earlier ones, so never use them as tokens, nonces or anything an attacker must not guess.
#[derive(Clone, Copy, Debug, Default)]
pub struct UuidV7;

impl MakeCorrelationId for UuidV7 {
    fn make_correlation_id(&self) -> CorrelationId {
        let millis = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |elapsed| {
                u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX)
            });
        let (millis, bytes) = THREAD_STATE
            .try_with(|state| {
                let mut current = state.get();
                let next = current.next(millis);
                state.set(current);
                next
            })
            // The thread is being torn down and its locals are gone: a one-off generator.
            .unwrap_or_else(|_| V7State::seeded().next(millis));
        CorrelationId::from_uuid(
            uuid::Builder::from_unix_timestamp_millis(millis, &bytes).into_uuid(),
        )
    }
}

/// Bits of the per-millisecond counter: the 12 bits of `rand_a` and the top 30 of `rand_b`.
const COUNTER_BITS: u32 = 42;

thread_local! {
    static THREAD_STATE: std::cell::Cell<V7State> = std::cell::Cell::new(V7State::seeded());
}

/// The last millisecond, its counter, and the random generator of one thread.
#[derive(Clone, Copy)]
struct V7State {
    millis: u64,
    counter: u64,
    rng: u64,
}

impl V7State {
    fn seeded() -> Self {
        use std::hash::BuildHasher;
        // `RandomState` draws its keys from the operating system once per thread.
        let seed = std::collections::hash_map::RandomState::new().hash_one(0x7e1e_u64);
        Self {
            millis: 0,
            counter: 0,
            rng: seed,
        }
    }

    /// SplitMix64: fast, and well distributed for identifiers (not for secrets).
    fn random(&mut self) -> u64 {
        self.rng = self.rng.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.rng;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// The timestamp and the ten bytes after it: the counter (restarted at a random value
    /// below half its range each new millisecond, so it has room to count) and 32 random
    /// bits. The version and variant bits the builder sets are left out of the counter.
    fn next(&mut self, millis: u64) -> (u64, [u8; 10]) {
        if millis > self.millis {
            self.millis = millis;
            self.counter = self.random() >> (64 - (COUNTER_BITS - 1));
        } else if self.counter >= (1 << COUNTER_BITS) - 1 {
            // 2^41 IDs in one millisecond: take the next one early.
            self.millis += 1;
            self.counter = self.random() >> (64 - (COUNTER_BITS - 1));
        } else {
            // The same millisecond, or the clock went back: keep counting up.
            self.counter += 1;
        }
        let rand_a = self.counter >> 30;
        let rest = self.counter & ((1 << 30) - 1);
        let random = (self.random() >> 32).to_be_bytes();
        let bytes = [
            (rand_a >> 8) as u8 & 0x0f,
            rand_a as u8,
            (rest >> 24) as u8 & 0x3f,
            (rest >> 16) as u8,
            (rest >> 8) as u8,
            rest as u8,
            random[4],
            random[5],
            random[6],
            random[7],
        ];
        (self.millis, bytes)
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
    fn ids_keep_their_order_when_the_clock_goes_back() {
        let mut state = V7State::seeded();
        let a = state.next(2_000);
        let b = state.next(1_000);
        let c = state.next(2_000);
        assert_eq!((a.0, b.0, c.0), (2_000, 2_000, 2_000));
        assert!(a.1 < b.1 && b.1 < c.1, "{a:?} {b:?} {c:?}");
    }

    #[test]
    fn a_full_counter_moves_to_the_next_millisecond() {
        let mut state = V7State::seeded();
        state.next(5);
        state.counter = (1 << COUNTER_BITS) - 1;
        assert_eq!(state.next(5).0, 6);
        assert!(state.counter < 1 << (COUNTER_BITS - 1));
    }

    #[test]
    fn threads_draw_different_ids() {
        let here = UuidV7.make_correlation_id();
        let there = std::thread::spawn(|| UuidV7.make_correlation_id())
            .join()
            .unwrap();
        assert_ne!(here.as_str()[14..], there.as_str()[14..]);
    }

    #[test]
    fn closures_are_generators() {
        let make = || CorrelationId::new("fixed").unwrap();
        assert_eq!(make.make_correlation_id().as_str(), "fixed");
    }
}
