//! The admin listener: `/metrics` (Prometheus text), `/healthz` (the process answers),
//! `/readyz` (PostgreSQL answers a query and the invalidation consumer keeps reading the
//! outbox), and the purge endpoints.
//!
//! Purges (`POST`, `Authorization: Bearer $GALLERY_PROXY_PURGE_TOKEN`):
//! - `/purge/all`: every entry;
//! - `/purge/tag/{tag}`: every entry whose tag filter names the tag (any spelling the gallery
//!   route accepts);
//! - `/purge/query?{gallery query}`: that query's page entry and its shared count.
//!
//! A purge is written to the change-event outbox like a write's events, so every proxy sharing
//! the database applies it, to both tiers, within the invalidation lag. Without the right token
//! (or with none configured) the answer is 401 and nothing is written.

use std::sync::Arc;
use std::time::Duration;

use http::{Method, Request, Response, StatusCode};
use metrics_exporter_prometheus::PrometheusHandle;
use sqlx::PgPool;

use super::response::{detail, json, with_body, Body};
use crate::cache::clock::SharedClock;
use crate::gallery::key::CacheKey;
use crate::gallery::params::{parse, Limits};
use crate::gallery::query::Kind;
use crate::gallery::tag_id::resolve_tag;
use crate::invalidation::consumer::Progress;
use crate::invalidation::deps;
use crate::store::memory::MemoryTier;
use crate::store::postgres::outbox;

pub struct Admin {
    pub metrics: PrometheusHandle,
    pub pool: PgPool,
    /// The consumer's pool: purges are written through it, so a busy gallery pool cannot
    /// hold them up.
    pub events_pool: PgPool,
    pub memory: MemoryTier,
    pub purge_token: Option<String>,
    /// The gallery route's limits: `/purge/query` parses its query exactly as the route does.
    pub limits: Limits,
    pub invalidation: Arc<Progress>,
    pub clock: SharedClock,
    /// Longest time without a complete outbox read before `/readyz` says not ready.
    pub invalidation_limit_ms: u64,
}

impl Admin {
    pub async fn handle<B>(&self, request: Request<B>) -> Response<Body> {
        let path = request.uri().path();
        if let Some(target) = path.strip_prefix("/purge/") {
            if request.method() != Method::POST {
                return detail(StatusCode::METHOD_NOT_ALLOWED, "Method Not Allowed");
            }
            if !self.authorized(request.headers()) {
                let mut response = detail(StatusCode::UNAUTHORIZED, "Not authenticated");
                response.headers_mut().insert(
                    http::header::WWW_AUTHENTICATE,
                    http::HeaderValue::from_static("Bearer"),
                );
                return response;
            }
            return self
                .purge(target, request.uri().query().unwrap_or(""))
                .await;
        }
        if request.method() != Method::GET {
            return detail(StatusCode::METHOD_NOT_ALLOWED, "Method Not Allowed");
        }
        match path {
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
                let keeping_up = self
                    .invalidation
                    .keeping_up(self.clock.now_ms(), self.invalidation_limit_ms);
                match tokio::time::timeout(Duration::from_secs(2), ping).await {
                    Ok(Ok(_)) if keeping_up => json(StatusCode::OK, r#"{"status":"ready"}"#),
                    Ok(Ok(_)) => json(
                        StatusCode::SERVICE_UNAVAILABLE,
                        r#"{"status":"not ready","invalidation":"behind"}"#,
                    ),
                    _ => json(
                        StatusCode::SERVICE_UNAVAILABLE,
                        r#"{"status":"not ready","postgres":"down"}"#,
                    ),
                }
            }
            _ => detail(StatusCode::NOT_FOUND, "Not Found"),
        }
    }

    /// Whether the request carries the configured bearer token (compared in constant time).
    fn authorized(&self, headers: &http::HeaderMap) -> bool {
        let Some(token) = &self.purge_token else {
            return false;
        };
        let Some(given) = headers
            .get(http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
        else {
            return false;
        };
        given.len() == token.len()
            && given
                .bytes()
                .zip(token.bytes())
                .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                == 0
    }

    async fn purge(&self, target: &str, query: &str) -> Response<Body> {
        let names: Vec<String> = match target {
            "all" => vec![deps::ALL.to_string()],
            "query" => match parse(query, &self.limits) {
                Ok(parsed) => {
                    let mut names = vec![deps::key(&CacheKey::page(&parsed))];
                    if let Some(count) = CacheKey::count(&parsed) {
                        names.push(deps::key(&count));
                    }
                    names
                }
                Err(error) => {
                    let status = StatusCode::from_u16(error.status()).expect("valid status codes");
                    return json(status, error.body());
                }
            },
            _ => match target.strip_prefix("tag/") {
                Some(raw) if !raw.is_empty() => {
                    let raw = percent_encoding::percent_decode_str(raw).decode_utf8_lossy();
                    let id = resolve_tag(&raw);
                    Kind::ALL.iter().map(|k| deps::tag(*k, &id)).collect()
                }
                _ => return detail(StatusCode::NOT_FOUND, "Not Found"),
            },
        };
        match outbox::emit(&self.events_pool, &names).await {
            Ok(()) => {
                metrics::counter!("gallery_proxy_purges_total").increment(1);
                let body = serde_json::json!({ "status": "queued", "dependencies": names });
                json(StatusCode::ACCEPTED, body.to_string())
            }
            Err(error) => {
                tracing::warn!(%error, "purge could not be written");
                detail(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "Database unavailable, please retry",
                )
            }
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
