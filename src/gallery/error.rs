//! Errors the gallery route answers with, shaped like the upstream API's bodies.

use serde_json::json;

/// One failing query parameter in a FastAPI/pydantic 422 body.
#[derive(Clone, Debug, PartialEq)]
pub struct FieldError {
    /// pydantic's error type, e.g. `greater_than_equal`.
    pub kind: &'static str,
    pub param: &'static str,
    pub msg: String,
    /// The raw string the client sent.
    pub input: String,
    pub ctx: Option<serde_json::Value>,
}

/// Why a gallery request failed. The caller branches on this to pick the status code.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum ApiError {
    /// 422: FastAPI's validation error list, in parameter declaration order.
    #[error("invalid parameters")]
    Unprocessable(Vec<FieldError>),
    /// 400 with `{"detail": …}`.
    #[error("{0}")]
    BadRequest(String),
    /// 414: the query string is longer than the configured limit.
    #[error("query string of {len} bytes exceeds the limit of {limit}")]
    QueryTooLong { len: usize, limit: usize },
    /// 504: PostgreSQL cancelled the statement at `statement_timeout`.
    #[error("statement timeout")]
    StatementTimeout { timeout: String },
    /// 503: no database connection could be had in time.
    #[error("database unavailable")]
    Unavailable,
    /// 500: anything else; the detail is logged, not sent.
    #[error("internal error: {0}")]
    Internal(String),
}

impl ApiError {
    pub fn status(&self) -> u16 {
        match self {
            ApiError::Unprocessable(_) => 422,
            ApiError::BadRequest(_) => 400,
            ApiError::QueryTooLong { .. } => 414,
            ApiError::StatementTimeout { .. } => 504,
            ApiError::Unavailable => 503,
            ApiError::Internal(_) => 500,
        }
    }

    /// The JSON body, compact like Starlette's `JSONResponse`.
    pub fn body(&self) -> Vec<u8> {
        let value = match self {
            ApiError::Unprocessable(errors) => {
                let detail: Vec<_> = errors
                    .iter()
                    .map(|e| {
                        let mut entry = serde_json::Map::new();
                        entry.insert("type".into(), json!(e.kind));
                        entry.insert("loc".into(), json!(["query", e.param]));
                        entry.insert("msg".into(), json!(e.msg));
                        entry.insert("input".into(), json!(e.input));
                        if let Some(ctx) = &e.ctx {
                            entry.insert("ctx".into(), ctx.clone());
                        }
                        serde_json::Value::Object(entry)
                    })
                    .collect();
                json!({ "detail": detail })
            }
            ApiError::BadRequest(detail) => json!({ "detail": detail }),
            ApiError::QueryTooLong { len, limit } => {
                json!({ "detail": format!("Query string too long: {len} bytes (limit {limit})") })
            }
            ApiError::StatementTimeout { timeout } => json!({
                "error_type": "statement_timeout",
                "message": "The operation took too long to complete. Please try again or refine your request.",
                "timeout_duration": timeout,
                "details": { "context": { "endpoint": "get_unified_content" } },
            }),
            ApiError::Unavailable => json!({ "detail": "Database unavailable, please retry" }),
            ApiError::Internal(_) => {
                json!({ "detail": "Error retrieving unified content: internal error" })
            }
        };
        serde_json::to_vec(&value).expect("a JSON value always serializes")
    }
}
