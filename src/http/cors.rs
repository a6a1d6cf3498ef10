//! CORS as Starlette's `CORSMiddleware` answers it for Genonaut (credentials allowed, every
//! method and header, an explicit origin list). The frontend sends `Content-Type:
//! application/json` even on GET, so every gallery request is preceded by a preflight.

use http::header::{HeaderMap, HeaderValue, ORIGIN, VARY};
use http::{Method, Request, Response, StatusCode};

use super::response::{with_body, Body};

const ALLOW_METHODS: &str = "DELETE, GET, HEAD, OPTIONS, PATCH, POST, PUT";

/// The configured origins, checked per request.
#[derive(Clone, Debug)]
pub struct Cors {
    allowed: Vec<String>,
}

impl Cors {
    pub fn new(allowed: Vec<String>) -> Cors {
        Cors { allowed }
    }

    fn allows(&self, origin: &HeaderValue) -> bool {
        self.allowed
            .iter()
            .any(|a| a.as_bytes() == origin.as_bytes())
    }

    /// A preflight (OPTIONS with `Origin` and `Access-Control-Request-Method`), answered before
    /// any routing or validation as the middleware does; `None` for every other request.
    pub fn preflight<B>(&self, request: &Request<B>) -> Option<Response<Body>> {
        if request.method() != Method::OPTIONS {
            return None;
        }
        let origin = request.headers().get(ORIGIN)?;
        request.headers().get("access-control-request-method")?;
        let allowed = self.allows(origin);
        let (status, body) = match allowed {
            true => (StatusCode::OK, "OK"),
            false => (StatusCode::BAD_REQUEST, "Disallowed CORS origin"),
        };
        let mut response = with_body(status, "text/plain; charset=utf-8", body);
        // Starlette's order: vary, methods, max-age, credentials, origin, headers, then the
        // body's length and type.
        let length = response
            .headers_mut()
            .remove(http::header::CONTENT_LENGTH)
            .expect("set by with_body");
        let content_type = response
            .headers_mut()
            .remove(http::header::CONTENT_TYPE)
            .expect("set by with_body");
        let headers = response.headers_mut();
        headers.insert(VARY, HeaderValue::from_static("Origin"));
        headers.insert(
            "access-control-allow-methods",
            HeaderValue::from_static(ALLOW_METHODS),
        );
        headers.insert("access-control-max-age", HeaderValue::from_static("600"));
        headers.insert(
            "access-control-allow-credentials",
            HeaderValue::from_static("true"),
        );
        if allowed {
            headers.insert("access-control-allow-origin", origin.clone());
        }
        if let Some(requested) = request.headers().get("access-control-request-headers") {
            headers.insert("access-control-allow-headers", requested.clone());
        }
        headers.insert(http::header::CONTENT_LENGTH, length);
        headers.insert(http::header::CONTENT_TYPE, content_type);
        Some(response)
    }

    /// Appends the simple-response headers to an answer for a request with an `Origin`.
    pub fn decorate(&self, request_headers: &HeaderMap, response: &mut Response<Body>) {
        let Some(origin) = request_headers.get(ORIGIN) else {
            return;
        };
        let headers = response.headers_mut();
        headers.insert(
            "access-control-allow-credentials",
            HeaderValue::from_static("true"),
        );
        if self.allows(origin) {
            headers.insert("access-control-allow-origin", origin.clone());
            headers.append(VARY, HeaderValue::from_static("Origin"));
        }
    }
}
