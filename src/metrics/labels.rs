//! Label sets registered once, looked up without allocating, and capped.
//!
//! Each distinct label set of a metric is registered with the recorder the first time it is
//! seen and its handle kept; later requests with the same labels find the handle with a
//! borrowed key, so the hot path neither allocates nor formats.
//!
//! The cap is per metric name and process-wide: every layer value that records into a metric
//! (a layer built once, or one built for each call) admits a new label set only while fewer
//! than `max` label sets of that metric exist in the process ([`Budget`]). Past the cap, new
//! label sets share the overflow series labelled `otel.metric.overflow="true"` (the
//! OpenTelemetry cardinality-limit convention), one per outcome so that no failure is counted
//! as a success: `error.type="_OTHER"` for failures, `error.type="cancelled"` for requests
//! the client gave up on, no `error.type` for successes.

use std::hash::{BuildHasher, Hash, Hasher};
use std::sync::{Arc, Mutex, OnceLock, PoisonError, RwLock};

use ::metrics::Label;
use hashbrown::{DefaultHashBuilder, Equivalent, HashMap, HashSet};

/// The label of the series that absorbs label sets over the cap.
pub const OVERFLOW_LABEL: &str = "otel.metric.overflow";

/// The outcome of a measurement, which picks its overflow series past the cap.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Outcome {
    Success,
    Failure,
    Cancelled,
}

impl Outcome {
    /// The outcome of a measurement labelled with `error_type`.
    pub(crate) fn of(error_type: Option<&str>) -> Self {
        match error_type {
            None => Self::Success,
            Some(crate::classify::CANCELLED) => Self::Cancelled,
            Some(_) => Self::Failure,
        }
    }

    fn index(self) -> usize {
        self as usize
    }

    /// The labels of this outcome's overflow series.
    fn overflow_labels(self) -> Vec<Label> {
        let overflow = Label::new(OVERFLOW_LABEL, "true");
        match self {
            Self::Success => vec![overflow],
            Self::Failure => vec![overflow, Label::new("error.type", crate::classify::OTHER)],
            Self::Cancelled => vec![
                overflow,
                Label::new("error.type", crate::classify::CANCELLED),
            ],
        }
    }
}

/// The label sets of one metric admitted in this process, whichever layer value recorded
/// them: a fingerprint of each (a keyed hash, so input cannot aim at a collision).
#[derive(Debug, Default)]
pub(crate) struct Budget {
    admitted: Mutex<HashSet<u64>>,
}

impl Budget {
    /// The budget of the metric `name`, shared by every layer value recording into it.
    pub(crate) fn of(name: &'static str) -> Arc<Self> {
        static BUDGETS: OnceLock<Mutex<HashMap<&'static str, Arc<Budget>>>> = OnceLock::new();
        let mut budgets = BUDGETS
            .get_or_init(Mutex::default)
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        Arc::clone(budgets.entry(name).or_default())
    }

    /// Whether the label set with this fingerprint may have its own series: it already has
    /// one, or fewer than `max` exist.
    fn admit(&self, fingerprint: u64, max: usize) -> bool {
        let mut admitted = self.admitted.lock().unwrap_or_else(PoisonError::into_inner);
        if admitted.contains(&fingerprint) {
            return true;
        }
        if admitted.len() >= max {
            return false;
        }
        admitted.insert(fingerprint);
        true
    }
}

fn fingerprint<const N: usize>(values: &Values<'_, N>) -> u64 {
    static KEYS: OnceLock<DefaultHashBuilder> = OnceLock::new();
    KEYS.get_or_init(DefaultHashBuilder::default)
        .hash_one(values)
}

/// A label set as values borrowed from the request, `None` for an absent label.
pub(crate) struct Values<'a, const N: usize>(pub(crate) [Option<&'a str>; N]);

#[derive(PartialEq, Eq)]
struct Owned<const N: usize>([Option<Box<str>>; N]);

impl<const N: usize> Hash for Owned<N> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        hash_values(self.0.iter().map(Option::as_deref), state);
    }
}

impl<const N: usize> Hash for Values<'_, N> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        hash_values(self.0.iter().copied(), state);
    }
}

/// One hasher call per value, its length (or a marker for an absent one) then its bytes,
/// instead of the three `Option<&str>::hash` makes: about half the instructions on the hot path.
fn hash_values<'a, H: Hasher>(values: impl Iterator<Item = Option<&'a str>>, state: &mut H) {
    for value in values {
        match value {
            Some(value) => {
                state.write_usize(value.len());
                state.write(value.as_bytes());
            }
            None => state.write_usize(usize::MAX),
        }
    }
}

impl<const N: usize> Equivalent<Owned<N>> for Values<'_, N> {
    fn equivalent(&self, key: &Owned<N>) -> bool {
        self.0
            .iter()
            .zip(&key.0)
            .all(|(borrowed, owned)| *borrowed == owned.as_deref())
    }
}

/// The handles of one metric, by label set, at most `max` of them plus the overflow series.
pub(crate) struct LabelSets<const N: usize, H> {
    names: [&'static str; N],
    max: usize,
    /// The metric's process-wide budget; `None` for a cache that is no metric of its own
    /// (the client hosts), capped by this table alone.
    budget: Option<Arc<Budget>>,
    sets: RwLock<HashMap<Owned<N>, H>>,
    /// One overflow series per [`Outcome`].
    overflow: [OnceLock<H>; 3],
}

impl<const N: usize, H: Clone> LabelSets<N, H> {
    /// The handles of the metric `metric`, whose label sets count against its process-wide
    /// budget.
    pub(crate) fn new(metric: &'static str, names: [&'static str; N], max: usize) -> Self {
        Self::with_budget(Some(Budget::of(metric)), names, max)
    }

    /// A table capped by itself alone.
    pub(crate) fn local(names: [&'static str; N], max: usize) -> Self {
        Self::with_budget(None, names, max)
    }

    fn with_budget(budget: Option<Arc<Budget>>, names: [&'static str; N], max: usize) -> Self {
        Self {
            names,
            max,
            budget,
            sets: RwLock::new(HashMap::new()),
            overflow: Default::default(),
        }
    }

    /// The handle for `values`, registered with `register` the first time they are seen;
    /// past the cap, the overflow series of `outcome`.
    pub(crate) fn get(
        &self,
        values: &Values<'_, N>,
        outcome: Outcome,
        register: impl Fn(Vec<Label>) -> H,
    ) -> H {
        // A panic elsewhere while a lock was held leaves the map consistent (entries are only
        // ever inserted whole), so a poisoned lock is used as it is.
        if let Some(handle) = self
            .sets
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(values)
        {
            return handle.clone();
        }
        let mut sets = self.sets.write().unwrap_or_else(PoisonError::into_inner);
        if let Some(handle) = sets.get(values) {
            return handle.clone();
        }
        let admitted = match &self.budget {
            Some(budget) => budget.admit(fingerprint(values), self.max),
            None => sets.len() < self.max,
        };
        if !admitted {
            drop(sets);
            return self.overflow[outcome.index()]
                .get_or_init(|| register(outcome.overflow_labels()))
                .clone();
        }
        let labels = self
            .names
            .iter()
            .zip(&values.0)
            .filter_map(|(name, value)| value.map(|v| Label::new(*name, v.to_owned())))
            .collect();
        let handle = register(labels);
        let key = Owned(values.0.map(|v| v.map(Box::from)));
        sets.insert(key, handle.clone());
        handle
    }

    /// How many label sets are registered, the overflow series not counted.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.sets
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }
}

impl<const N: usize, H> std::fmt::Debug for LabelSets<N, H> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LabelSets")
            .field("names", &self.names)
            .field("max", &self.max)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn registers_each_label_set_once_and_caps_the_rest() {
        let sets = LabelSets::<2, Vec<Label>>::local(["method", "route"], 3);
        let registered = AtomicUsize::new(0);
        let register = |labels: Vec<Label>| {
            registered.fetch_add(1, Ordering::Relaxed);
            labels
        };
        let a = sets.get(
            &Values([Some("GET"), Some("/a")]),
            Outcome::Success,
            register,
        );
        assert_eq!(
            a,
            vec![Label::new("method", "GET"), Label::new("route", "/a")]
        );
        assert_eq!(
            sets.get(
                &Values([Some("GET"), Some("/a")]),
                Outcome::Success,
                register
            ),
            a
        );
        let absent = sets.get(&Values([Some("GET"), None]), Outcome::Success, register);
        assert_eq!(
            absent,
            vec![Label::new("method", "GET")],
            "absent labels are left out"
        );
        sets.get(
            &Values([Some("POST"), Some("/a")]),
            Outcome::Success,
            register,
        );
        assert_eq!(registered.load(Ordering::Relaxed), 3);
        assert_eq!(sets.len(), 3);

        for i in 0..1000 {
            let route = format!("/scan/{i}");
            let overflow = sets.get(
                &Values([Some("GET"), Some(&route)]),
                Outcome::Success,
                register,
            );
            assert_eq!(overflow, vec![Label::new(OVERFLOW_LABEL, "true")]);
        }
        assert_eq!(sets.len(), 3, "the cap holds");
        assert_eq!(
            registered.load(Ordering::Relaxed),
            4,
            "one overflow series, once"
        );
        assert_eq!(
            sets.get(
                &Values([Some("GET"), Some("/a")]),
                Outcome::Success,
                register
            ),
            a,
            "known sets still resolve"
        );
        assert!(format!("{sets:?}").contains("max: 3"));
    }

    #[test]
    fn none_and_empty_are_different_values() {
        let sets = LabelSets::<1, Vec<Label>>::local(["route"], 10);
        let none = sets.get(&Values([None]), Outcome::Success, |l| l);
        let empty = sets.get(&Values([Some("")]), Outcome::Success, |l| l);
        assert_ne!(none, empty);
        assert_eq!(sets.len(), 2);
    }

    #[test]
    fn overflow_keeps_the_outcome() {
        let sets = LabelSets::<1, Vec<Label>>::local(["route"], 1);
        sets.get(&Values([Some("/a")]), Outcome::Success, |l| l);
        let overflow = |outcome| sets.get(&Values([Some("/b")]), outcome, |l| l);
        assert_eq!(
            overflow(Outcome::Success),
            [Label::new(OVERFLOW_LABEL, "true")]
        );
        assert_eq!(
            overflow(Outcome::Failure),
            [
                Label::new(OVERFLOW_LABEL, "true"),
                Label::new("error.type", "_OTHER")
            ]
        );
        assert_eq!(
            overflow(Outcome::Cancelled),
            [
                Label::new(OVERFLOW_LABEL, "true"),
                Label::new("error.type", "cancelled")
            ]
        );
        assert_eq!(Outcome::of(None), Outcome::Success);
        assert_eq!(Outcome::of(Some("cancelled")), Outcome::Cancelled);
        assert_eq!(Outcome::of(Some("500")), Outcome::Failure);
    }

    #[test]
    fn the_cap_is_per_metric_name_whichever_table_records() {
        // A name no other test uses: the budget is process-wide.
        const METRIC: &str = "test.labels.budget";
        let registered = AtomicUsize::new(0);
        let register = |labels: Vec<Label>| {
            registered.fetch_add(1, Ordering::Relaxed);
            labels
        };
        for i in 0..100 {
            // A fresh table each time, as a layer built for every call has.
            let sets = LabelSets::<1, Vec<Label>>::new(METRIC, ["route"], 10);
            let route = format!("/{i}");
            let labels = sets.get(&Values([Some(&route)]), Outcome::Success, register);
            assert_eq!(
                labels.first().map(Label::key) == Some(OVERFLOW_LABEL),
                i >= 10,
                "{i}: {labels:?}"
            );
        }
        let again = LabelSets::<1, Vec<Label>>::new(METRIC, ["route"], 10);
        assert_eq!(
            again.get(&Values([Some("/3")]), Outcome::Success, register),
            [Label::new("route", "/3")],
            "an admitted label set keeps its series in every table"
        );
        let other = LabelSets::<1, Vec<Label>>::new("test.labels.other", ["route"], 10);
        assert_eq!(
            other.get(&Values([Some("/50")]), Outcome::Success, register),
            [Label::new("route", "/50")],
            "another metric has its own budget"
        );
    }
}
