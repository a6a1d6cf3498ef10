//! gallery-proxy: a caching read-through proxy for Genonaut's gallery route.
//!
//! Layers, each using only those below it:
//! - [`http`]: listeners, routing, the gallery handler, CORS, the admin endpoints.
//! - [`readthrough`]: key → memory → Redis → one fenced fill per key → store; no HTTP, no SQL.
//! - [`invalidation`]: change events from the database's triggers → both tiers; entries'
//!   dependencies and fences.
//! - [`service`]: answers one gallery query: plans the SQL, fetches page, count and stats.
//! - [`store`]: I/O adapters: moka (L1), Redis (L2), and [`store::postgres`] with every SQL
//!   statement.
//! - [`cache`]: entries, freshness, `Cache-Status`, the Redis breaker; pure.
//! - [`gallery`]: the query as values, cache keys, cursors and rendering; pure.
//! - [`config`], [`seed`], [`app`]: settings, synthetic data, start-up and shutdown.

pub mod app;
pub mod cache;
pub mod config;
pub mod gallery;
pub mod http;
pub mod invalidation;
pub mod readthrough;
pub mod seed;
pub mod service;
pub mod store;
pub mod telemetry;
