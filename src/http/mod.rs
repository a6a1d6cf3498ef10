//! HTTP: the API listener (gallery route, CORS, everything else) and the admin listener.

pub mod admin;
pub mod cors;
pub mod gallery;
pub mod parsed_queries;
pub mod request_metrics;
pub mod response;
pub mod router;
pub mod server;
