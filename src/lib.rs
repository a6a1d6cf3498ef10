//! gallery-proxy: a caching read-through proxy for Genonaut's gallery route.
//!
//! Layers, each using only those below it:
//! - [`http`]: listeners, routing, the gallery handler, CORS, the admin endpoints.
//! - [`service`]: answers one gallery query: plans the SQL, fetches page, count and stats.
//! - [`store`]: I/O adapters; [`store::postgres`] holds every SQL statement.
//! - [`gallery`]: the query as values, cursors and rendering; pure.
//! - [`config`], [`seed`], [`app`]: settings, synthetic data, start-up and shutdown.

pub mod app;
pub mod config;
pub mod gallery;
pub mod http;
pub mod seed;
pub mod service;
pub mod store;
pub mod telemetry;
