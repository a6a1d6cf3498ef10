//! Handles of the per-request metric series, registered once.
//!
//! Looking a labelled series up in the registry on every request (hashing its name and labels)
//! was a visible share of a memory hit's cost, so the series a request can touch are registered
//! when the listener is built and recorded through their handles.

use metrics::{Counter, Histogram};

/// The route label: a small fixed set, never the path.
#[derive(Clone, Copy, Debug)]
pub enum Route {
    Gallery,
    Preflight,
    Other,
}

impl Route {
    const ALL: [Route; 3] = [Route::Gallery, Route::Preflight, Route::Other];

    fn as_str(self) -> &'static str {
        match self {
            Route::Gallery => "gallery",
            Route::Preflight => "preflight",
            Route::Other => "other",
        }
    }
}

/// Every status the API listener answers with.
const STATUSES: [u16; 11] = [200, 304, 400, 404, 405, 414, 422, 500, 502, 503, 504];

/// Cache outcomes of gallery answers (`Outcome::label`, plus `error`).
const OUTCOMES: [&str; 7] = [
    "hit_memory",
    "hit_redis",
    "stale_revalidate",
    "collapsed",
    "miss",
    "stale_if_error",
    "error",
];

pub struct RequestMetrics {
    /// Per route and status: request count and duration.
    http: Vec<(Counter, Histogram)>,
    /// Gallery request duration per cache outcome.
    gallery: Vec<Histogram>,
}

impl RequestMetrics {
    /// Registers the series; call after the recorder is installed.
    pub fn new() -> RequestMetrics {
        let mut http = Vec::new();
        for route in Route::ALL {
            for status in STATUSES {
                let status = status.to_string();
                http.push((
                    metrics::counter!("gallery_proxy_http_requests_total", "route" => route.as_str(), "status" => status.clone()),
                    metrics::histogram!("gallery_proxy_http_request_duration_seconds", "route" => route.as_str(), "status" => status),
                ));
            }
        }
        let gallery = OUTCOMES
            .iter()
            .map(|outcome| {
                metrics::histogram!("gallery_proxy_gallery_request_duration_seconds", "cache" => *outcome)
            })
            .collect();
        RequestMetrics { http, gallery }
    }

    pub fn request(&self, route: Route, status: u16, seconds: f64) {
        let Some(i) = STATUSES.iter().position(|s| *s == status) else {
            let status = status.to_string();
            metrics::counter!("gallery_proxy_http_requests_total", "route" => route.as_str(), "status" => status.clone()).increment(1);
            metrics::histogram!("gallery_proxy_http_request_duration_seconds", "route" => route.as_str(), "status" => status)
                .record(seconds);
            return;
        };
        let (count, duration) = &self.http[route as usize * STATUSES.len() + i];
        count.increment(1);
        duration.record(seconds);
    }

    pub fn gallery(&self, outcome: &str, seconds: f64) {
        match OUTCOMES.iter().position(|o| *o == outcome) {
            Some(i) => self.gallery[i].record(seconds),
            None => {
                metrics::histogram!("gallery_proxy_gallery_request_duration_seconds", "cache" => outcome.to_string())
                    .record(seconds)
            }
        }
    }
}

impl Default for RequestMetrics {
    fn default() -> Self {
        RequestMetrics::new()
    }
}
