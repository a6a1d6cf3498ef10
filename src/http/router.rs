//! Routes a request on the API listener and records its metrics.

use std::sync::Arc;
use std::time::Instant;

use http::{Method, Request, Response, StatusCode};

use super::cors::Cors;
use super::gallery::{self, GalleryRoute};
use super::request_metrics::{RequestMetrics, Route};
use super::response::{detail, Body};

/// What the API listener needs to answer.
pub struct ApiState {
    pub gallery: GalleryRoute,
    pub cors: Cors,
    pub metrics: RequestMetrics,
}

pub async fn route<B>(state: Arc<ApiState>, request: Request<B>) -> Response<Body> {
    let started = Instant::now();
    let (route, response) = if let Some(preflight) = state.cors.preflight(&request) {
        (Route::Preflight, preflight)
    } else if request.uri().path() == gallery::PATH {
        let response = if request.method() == Method::GET {
            let query = request.uri().query().unwrap_or("");
            state
                .gallery
                .handle(request.headers(), query, started, &state.metrics)
                .await
        } else {
            let mut response = detail(StatusCode::METHOD_NOT_ALLOWED, "Method Not Allowed");
            response
                .headers_mut()
                .insert(http::header::ALLOW, http::HeaderValue::from_static("GET"));
            response
        };
        (Route::Gallery, response)
    } else {
        (Route::Other, detail(StatusCode::NOT_FOUND, "Not Found"))
    };
    let mut response = response;
    if !matches!(route, Route::Preflight) {
        state.cors.decorate(request.headers(), &mut response);
    }
    state.metrics.request(
        route,
        response.status().as_u16(),
        started.elapsed().as_secs_f64(),
    );
    response
}
