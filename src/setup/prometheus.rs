//! The metrics side of the setup: the Prometheus recorder and its upkeep.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle, PrometheusRecorder};

use super::SetupError;
use crate::metrics_layer::DURATION_BUCKETS;

/// How often the recorder's upkeep runs: it drains histogram samples into their buckets, which
/// keeps memory bounded between scrapes.
const UPKEEP: Duration = Duration::from_secs(5);

/// Builds the Prometheus recorder (installed by the caller, alone or beside the OTLP one):
/// Prometheus naming (unit suffixes such as `_seconds`), the semantic conventions' duration
/// buckets for every histogram, and an upkeep thread.
pub(crate) fn recorder() -> Result<(PrometheusRecorder, PrometheusHandle, Upkeep), SetupError> {
    let recorder = PrometheusBuilder::new()
        .with_recommended_naming(true)
        .set_buckets(&DURATION_BUCKETS)
        .map_err(|err| SetupError::new(format!("could not build the Prometheus recorder: {err}")))?
        .build_recorder();
    let handle = recorder.handle();
    let stop = Arc::new(AtomicBool::new(false));
    let thread = {
        let (handle, stop) = (handle.clone(), Arc::clone(&stop));
        std::thread::Builder::new()
            .name("tower-telemetry-metrics-upkeep".to_owned())
            .spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    std::thread::park_timeout(UPKEEP);
                    handle.run_upkeep();
                }
            })
            .map_err(|err| SetupError::new(format!("could not start the metrics upkeep: {err}")))?
    };
    Ok((
        recorder,
        handle,
        Upkeep {
            stop,
            thread: Some(thread),
        },
    ))
}

/// Stops the upkeep thread when dropped.
#[derive(Debug)]
pub(crate) struct Upkeep {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Drop for Upkeep {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            thread.thread().unpark();
            let _ = thread.join();
        }
    }
}
