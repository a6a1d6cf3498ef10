//! PostgreSQL: the pool, migrations, and the gallery's queries.
//!
//! Connections are set up once for the gallery's needs: `statement_timeout` as upstream (its
//! 504 names the duration), `jit = off` (JIT only ever added latency to 25-row pages), and
//! `plan_cache_mode = force_custom_plan`, because the fast plan depends on the actual tag ids and
//! a generic plan after five executions would silently drop it.

mod counts;
pub mod outbox;
mod page;
mod statement;
mod stats;

use std::str::FromStr;
use std::time::{Duration, Instant};

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::{ConnectOptions, Connection};

pub use counts::count_items;
pub use page::{fetch_page, rows_exist, PageRequest, Walk};
pub use stats::fetch_stats;

use crate::config::DatabaseSettings;

/// The migrations in `migrations/`, embedded in the binary.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// Why a database call failed, as far as the caller's answer depends on it.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// PostgreSQL cancelled the statement (SQLSTATE 57014, `statement_timeout`).
    #[error("statement timeout")]
    Timeout,
    /// No connection could be had (pool exhausted, server down).
    #[error("database unavailable: {0}")]
    Unavailable(String),
    #[error("database error: {0}")]
    Other(String),
}

impl From<sqlx::Error> for DbError {
    fn from(e: sqlx::Error) -> Self {
        match &e {
            sqlx::Error::Database(db) if db.code().as_deref() == Some("57014") => DbError::Timeout,
            sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) => {
                DbError::Unavailable(e.to_string())
            }
            _ => DbError::Other(e.to_string()),
        }
    }
}

/// Connection options for the gallery pool.
pub fn connect_options(settings: &DatabaseSettings) -> Result<PgConnectOptions, sqlx::Error> {
    let timeout = settings.statement_timeout_ms.to_string();
    Ok(PgConnectOptions::from_str(&settings.url)?
        .options([
            ("statement_timeout", timeout.as_str()),
            ("jit", "off"),
            ("plan_cache_mode", "force_custom_plan"),
            ("application_name", "gallery-proxy"),
        ])
        .log_slow_statements(tracing::log::LevelFilter::Warn, Duration::from_millis(500)))
}

/// A pool that connects lazily: the service starts (and `/readyz` says not ready) even while
/// PostgreSQL is down.
pub fn pool(settings: &DatabaseSettings) -> Result<PgPool, sqlx::Error> {
    Ok(PgPoolOptions::new()
        .max_connections(settings.max_connections)
        .acquire_timeout(Duration::from_millis(settings.acquire_timeout_ms))
        .connect_lazy_with(connect_options(settings)?))
}

/// A lazily connecting pool of `size` connections with the gallery's options, for background
/// work that must not take connections from requests (the invalidation consumer).
pub fn small_pool(settings: &DatabaseSettings, size: u32) -> Result<PgPool, sqlx::Error> {
    Ok(PgPoolOptions::new()
        .max_connections(size)
        .acquire_timeout(Duration::from_millis(settings.acquire_timeout_ms))
        .connect_lazy_with(connect_options(settings)?))
}

/// Options for one-off bulk work (migrations, seeding): statements there are slow by design,
/// so sqlx's slow-statement warnings would only drown the progress lines.
pub fn bulk_options(url: &str) -> Result<PgConnectOptions, sqlx::Error> {
    Ok(PgConnectOptions::from_str(url)?
        .log_slow_statements(tracing::log::LevelFilter::Off, Duration::ZERO))
}

/// Applies `migrations/`. The proxy's bookkeeping (`_sqlx_migrations`) goes to the
/// `gallery_proxy` schema, not next to Genonaut's tables.
pub async fn migrate(settings: &DatabaseSettings) -> anyhow::Result<()> {
    let mut conn = sqlx::PgConnection::connect_with(&bulk_options(&settings.url)?).await?;
    sqlx::query("CREATE SCHEMA IF NOT EXISTS gallery_proxy")
        .execute(&mut conn)
        .await?;
    sqlx::query("SET search_path = gallery_proxy, public")
        .execute(&mut conn)
        .await?;
    MIGRATOR.run(&mut conn).await?;
    conn.close().await?;
    Ok(())
}

/// Creates the database named in `url` if it does not exist, connecting to `postgres` to do so.
pub async fn create_database_if_missing(url: &str) -> anyhow::Result<bool> {
    let options = PgConnectOptions::from_str(url)?;
    let name = options.get_database().unwrap_or("postgres").to_string();
    let mut admin = sqlx::PgConnection::connect_with(&options.clone().database("postgres")).await?;
    let exists: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
            .bind(&name)
            .fetch_one(&mut admin)
            .await?;
    if !exists {
        // CREATE DATABASE takes no parameters; quote the name as an identifier.
        let quoted = format!("\"{}\"", name.replace('"', "\"\""));
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {quoted}")))
            .execute(&mut admin)
            .await?;
    }
    admin.close().await?;
    Ok(!exists)
}

/// `EXPLAIN (ANALYZE, BUFFERS)` of the page query and, when the count is not a counter
/// lookup, of the count query: what docs/sql-plans.md is made of.
pub async fn explain(
    pool: &PgPool,
    request: &PageRequest<'_>,
    walk: &Walk<'_>,
) -> Result<(String, Option<String>), DbError> {
    let page = page::explain_page(pool, request, walk).await?;
    if counts::uses_counters(request) {
        return Ok((page, None));
    }
    let mut stmt = counts::count_rows_statement(request);
    stmt.text.insert_str(0, "EXPLAIN (ANALYZE, BUFFERS) ");
    let mut tx = pool.begin().await?;
    if counts::uses_posting_lists(request) {
        sqlx::query(counts::MERGE_PLAN_SETTINGS)
            .execute(&mut *tx)
            .await?;
    }
    let rows = stmt.into_query().fetch_all(&mut *tx).await?;
    tx.commit().await?;
    let lines: Result<Vec<String>, sqlx::Error> =
        rows.iter().map(|r| sqlx::Row::try_get(r, 0)).collect();
    let count = Some(lines?.join("\n"));
    Ok((page, count))
}

/// Records how long a gallery query took, by which query it was.
pub(crate) fn observe(query: &'static str, started: Instant) {
    metrics::histogram!("gallery_proxy_db_query_seconds", "query" => query)
        .record(started.elapsed().as_secs_f64());
}
