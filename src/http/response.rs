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

/// The current IMF-fixdate, formatted once per second per thread (it was a visible share of a
/// memory hit's cost).
fn http_date() -> HeaderValue {
    use std::cell::RefCell;
    use std::time::{SystemTime, UNIX_EPOCH};
    thread_local! {
        static LAST: RefCell<(u64, Option<HeaderValue>)> = const { RefCell::new((0, None)) };
    }
    let now = SystemTime::now();
    let second = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    LAST.with(|last| {
        let mut last = last.borrow_mut();
        if last.0 != second || last.1.is_none() {
            let value =
                HeaderValue::from_str(&httpdate::fmt_http_date(now)).expect("IMF-fixdate is ASCII");
            *last = (second, Some(value));
        }
        last.1.clone().expect("set above")
    })
}
