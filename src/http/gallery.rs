//! The gallery route, `GET /api/v1/content/unified`: parse, read through the cache tiers, and
//! answer with the freshness headers (`ETag`, `Cache-Control`, `Age`, `Cache-Status`), or a
//! 304 when `If-None-Match` names the body the 200 would carry.

use std::sync::Arc;
use std::time::Instant;

use http::header::{HeaderMap, HeaderValue, AGE, CACHE_CONTROL, ETAG, IF_NONE_MATCH};
use http::{Response, StatusCode};

use super::parsed_queries::ParsedQueries;
use super::request_metrics::RequestMetrics;
use super::response::{json, with_body, Body};
use crate::cache::entry::none_match;
use crate::cache::{Entry, Outcome};
use crate::gallery::ApiError;
use crate::readthrough::ReadThrough;

pub const PATH: &str = "/api/v1/content/unified";

pub struct GalleryRoute {
    pub readthrough: Arc<ReadThrough>,
    pub queries: ParsedQueries,
    pub cache_control: HeaderValue,
}

impl GalleryRoute {
    /// Answers one request that arrived at `started`, recording its latency per cache outcome.
    pub async fn handle(
        &self,
        request_headers: &HeaderMap,
        raw_query: &str,
        started: Instant,
        metrics: &RequestMetrics,
    ) -> Response<Body> {
        let parsed = match self.queries.parse(raw_query).await {
            Ok(parsed) => parsed,
            Err(error) => return error_response(&error),
        };
        let answer = self.readthrough.answer(&parsed.query, &parsed.key).await;
        let (response, outcome) = match answer {
            Ok(answer) => (
                cached_response(
                    &answer.entry,
                    answer.outcome,
                    self.readthrough.now_ms(),
                    &self.cache_control,
                    request_headers.get(IF_NONE_MATCH),
                ),
                answer.outcome.label(),
            ),
            Err(error) => (error_response(&error), "error"),
        };
        metrics.gallery(outcome, started.elapsed().as_secs_f64());
        response
    }
}

/// The 200 (or 304, when `if_none_match` names its body) for a cached or freshly filled entry,
/// at `now_ms`. Apart from `Age` and `Cache-Status` it is the same whichever tier answered.
pub fn cached_response(
    entry: &Entry,
    outcome: Outcome,
    now_ms: u64,
    cache_control: &HeaderValue,
    if_none_match: Option<&HeaderValue>,
) -> Response<Body> {
    let not_modified = if_none_match.is_some_and(|v| none_match(v.as_bytes(), &entry.etag));
    let mut response = if not_modified {
        let mut response = with_body(StatusCode::NOT_MODIFIED, "application/json", "");
        // A 304 has no body, and describes the 200 it stands for by its validators only.
        response.headers_mut().remove(http::header::CONTENT_LENGTH);
        response.headers_mut().remove(http::header::CONTENT_TYPE);
        response
    } else {
        json(StatusCode::OK, entry.body.clone())
    };
    let headers = response.headers_mut();
    headers.insert(ETAG, entry.etag.clone());
    headers.insert(CACHE_CONTROL, cache_control.clone());
    headers.insert(AGE, HeaderValue::from(entry.age_secs(now_ms)));
    let status = outcome.cache_status(entry.ttl_secs(now_ms));
    headers.insert(
        "cache-status",
        HeaderValue::from_str(&status).expect("Cache-Status is ASCII"),
    );
    response
}

fn error_response(error: &ApiError) -> Response<Body> {
    let status = StatusCode::from_u16(error.status()).expect("valid status codes");
    json(status, error.body())
}
