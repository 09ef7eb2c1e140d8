//! The standard `grpc.health.v1.Health` service, driven by the same checks.

use std::time::Duration;

use tonic_health::ServingStatus;
use tonic_health::pb::health_server::{Health as GrpcHealth, HealthServer};

use super::Health;

impl Health {
    /// The `grpc.health.v1.Health` service (`tonic-health`, with Check and Watch), its
    /// statuses kept in step with the readiness report: every `every`, the overall status
    /// (service name `""`) and each name in `services` become SERVING when ready and
    /// NOT_SERVING otherwise. Watchers see each change.
    ///
    /// The statuses are set from a first report before this returns, so no client ever sees a
    /// service it asked about as unknown. Call it inside a Tokio runtime; the updating task
    /// stops when every clone of this `Health` has been dropped.
    pub async fn grpc_service<I, N>(
        &self,
        services: I,
        every: Duration,
    ) -> HealthServer<impl GrpcHealth>
    where
        I: IntoIterator<Item = N>,
        N: Into<String>,
    {
        let (reporter, server) = tonic_health::server::health_reporter();
        let names: Vec<String> = std::iter::once(String::new())
            .chain(services.into_iter().map(Into::into))
            .collect();
        let publish = move |ready: bool| {
            let (reporter, names) = (reporter.clone(), names.clone());
            async move {
                let status = if ready {
                    ServingStatus::Serving
                } else {
                    ServingStatus::NotServing
                };
                for name in &names {
                    reporter.set_service_status(name, status).await;
                }
            }
        };
        publish(self.report().await.ready).await;
        let weak = self.downgrade();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.tick().await; // the first tick is now, and that report is published
            loop {
                tick.tick().await;
                let Some(inner) = weak.upgrade() else {
                    return;
                };
                publish(Health::from_inner(inner).report().await.ready).await;
            }
        });
        server
    }
}
