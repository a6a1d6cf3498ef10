//! Responses with upstream's header order: `date`, `server`, `content-length`, `content-type`,
//! then whatever the caller appends (CORS). Names are lower case on the wire.

use bytes::Bytes;
use http::header::{HeaderValue, CONTENT_LENGTH, CONTENT_TYPE, DATE, SERVER};
use http::{Response, StatusCode};
use http_body_util::Full;

pub type Body = Full<Bytes>;

/// Identifies the proxy; upstream says `uvicorn` here (a listed difference).
pub const SERVER_NAME: &str = "gallery-proxy";

pub fn with_body(
    status: StatusCode,
    content_type: &'static str,
    body: impl Into<Bytes>,
) -> Response<Body> {
    let body = body.into();
    let mut response = Response::new(Full::new(Bytes::new()));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(DATE, http_date());
    headers.insert(SERVER, HeaderValue::from_static(SERVER_NAME));
    headers.insert(CONTENT_LENGTH, HeaderValue::from(body.len()));
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    *response.body_mut() = Full::new(body);
    response
}

pub fn json(status: StatusCode, body: impl Into<Bytes>) -> Response<Body> {
    with_body(status, "application/json", body)
}

/// FastAPI's plain `{"detail": "..."}` errors (404, 405).
pub fn detail(status: StatusCode, detail: &str) -> Response<Body> {
    json(
        status,
        serde_json::to_vec(&serde_json::json!({ "detail": detail })).expect("plain JSON"),
    )
}

fn http_date() -> HeaderValue {
    HeaderValue::from_str(&httpdate::fmt_http_date(std::time::SystemTime::now()))
        .expect("IMF-fixdate is ASCII")
}
