//! The gallery route: `GET /api/v1/content/unified`.

use std::time::{Duration, Instant};

use http::{Response, StatusCode};

use super::response::{json, Body};
use crate::gallery::params::{self, Limits};
use crate::gallery::ApiError;
use crate::service::GalleryService;

pub const PATH: &str = "/api/v1/content/unified";

pub async fn handle(
    service: &GalleryService,
    limits: &Limits,
    timeout: Duration,
    raw_query: &str,
) -> Response<Body> {
    let started = Instant::now();
    let result = match params::parse(raw_query, limits) {
        Err(e) => Err(e),
        Ok(query) => match tokio::time::timeout(timeout, service.answer(&query)).await {
            Ok(answer) => answer,
            Err(_) => Err(ApiError::StatementTimeout {
                timeout: format!("{}s", timeout.as_secs()),
            }),
        },
    };
    let response = match result {
        Ok(body) => json(StatusCode::OK, body),
        Err(error) => {
            let status = StatusCode::from_u16(error.status()).expect("valid status codes");
            json(status, error.body())
        }
    };
    tracing::debug!(
        status = response.status().as_u16(),
        elapsed_ms = started.elapsed().as_millis() as u64,
        "gallery"
    );
    response
}
