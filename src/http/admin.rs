//! The admin listener: `/metrics` (Prometheus text), `/healthz` (the process answers) and
//! `/readyz` (PostgreSQL answers a query).

use std::time::Duration;

use http::{Method, Request, Response, StatusCode};
use metrics_exporter_prometheus::PrometheusHandle;
use sqlx::PgPool;

use super::response::{detail, json, with_body, Body};
use crate::store::memory::MemoryTier;

pub struct Admin {
    pub metrics: PrometheusHandle,
    pub pool: PgPool,
    pub memory: MemoryTier,
}

impl Admin {
    pub async fn handle<B>(&self, request: Request<B>) -> Response<Body> {
        if request.method() != Method::GET {
            return detail(StatusCode::METHOD_NOT_ALLOWED, "Method Not Allowed");
        }
        match request.uri().path() {
            "/metrics" => {
                self.record_pool_state();
                with_body(
                    StatusCode::OK,
                    "text/plain; version=0.0.4",
                    self.metrics.render(),
                )
            }
            "/healthz" => json(StatusCode::OK, r#"{"status":"ok"}"#),
            "/readyz" => {
                let ping = sqlx::query_scalar::<_, i32>("SELECT 1").fetch_one(&self.pool);
                match tokio::time::timeout(Duration::from_secs(2), ping).await {
                    Ok(Ok(_)) => json(StatusCode::OK, r#"{"status":"ready"}"#),
                    _ => json(
                        StatusCode::SERVICE_UNAVAILABLE,
                        r#"{"status":"not ready","postgres":"down"}"#,
                    ),
                }
            }
            _ => detail(StatusCode::NOT_FOUND, "Not Found"),
        }
    }

    fn record_pool_state(&self) {
        let size = self.pool.size() as f64;
        let idle = self.pool.num_idle() as f64;
        metrics::gauge!("gallery_proxy_db_pool_connections", "state" => "idle").set(idle);
        metrics::gauge!("gallery_proxy_db_pool_connections", "state" => "in_use").set(size - idle);
        metrics::gauge!("gallery_proxy_db_pool_max_connections")
            .set(self.pool.options().get_max_connections() as f64);
        let (entries, bytes) = self.memory.usage();
        metrics::gauge!("gallery_proxy_cache_memory_entries").set(entries as f64);
        metrics::gauge!("gallery_proxy_cache_memory_bytes").set(bytes as f64);
    }
}
