//! The change-event outbox (`gallery_proxy.change_events`, filled by the triggers of
//! migration 0005): reading it by position, where to start, pruning, and admin purges.

use sqlx::{PgPool, Row};

use crate::invalidation::position::{Ask, Horizon};

/// One change event: the dependency a committed write changed, and when it was written.
#[derive(Clone, Debug, PartialEq)]
pub struct Event {
    pub id: i64,
    /// Unix ms of the write (just before its commit).
    pub written_ms: u64,
    pub dep: String,
}

/// One read: the rows, and the horizon of the snapshot that read them.
pub struct Read {
    pub horizon: Horizon,
    pub events: Vec<Event>,
}

/// The snapshot horizon is read as 64-bit xids through text (`xid8` has no decoder in sqlx).
/// Rows above `ask.above`, plus those of transactions from `ask.xid_from` on, in id order, at
/// most `limit`; one statement, so rows and horizon come from one snapshot.
const READ: &str = "SELECT pg_snapshot_xmin(pg_current_snapshot())::text::int8, \
            pg_snapshot_xmax(pg_current_snapshot())::text::int8, \
            e.id, (extract(epoch FROM e.written_at) * 1000)::int8, e.dep \
       FROM (SELECT 1) one \
       LEFT JOIN LATERAL ( \
           SELECT id, written_at, dep FROM gallery_proxy.change_events \
            WHERE id > $1 OR xid >= $2::text::xid8 \
            ORDER BY id LIMIT $3) e ON true";

/// Just before the first event of the replay window (else after the last event), and the
/// horizon.
const START: &str = "SELECT coalesce( \
            (SELECT min(id) - 1 FROM gallery_proxy.change_events \
              WHERE written_at > clock_timestamp() - make_interval(secs => $1::float8 / 1000)), \
            (SELECT max(id) FROM gallery_proxy.change_events), 0)::int8, \
            pg_snapshot_xmin(pg_current_snapshot())::text::int8, \
            pg_snapshot_xmax(pg_current_snapshot())::text::int8";

/// One read of the outbox from `ask`.
pub async fn read(pool: &PgPool, ask: Ask, limit: i64) -> Result<Read, sqlx::Error> {
    let rows = sqlx::query(READ)
        .bind(ask.above)
        .bind(ask.xid_from.to_string())
        .bind(limit)
        .fetch_all(pool)
        .await?;
    let mut horizon = Horizon { xmin: 0, xmax: 0 };
    let mut events = Vec::with_capacity(rows.len());
    for row in rows {
        horizon = Horizon {
            xmin: row.try_get::<i64, _>(0)? as u64,
            xmax: row.try_get::<i64, _>(1)? as u64,
        };
        if let Some(id) = row.try_get::<Option<i64>, _>(2)? {
            events.push(Event {
                id,
                written_ms: row.try_get::<i64, _>(3)?.max(0) as u64,
                dep: row.try_get(4)?,
            });
        }
    }
    Ok(Read { horizon, events })
}

/// Where a consumer starting now begins: just before the first event written in the last
/// `replay_ms` (so entries other tiers may still hold from then are invalidated again), with
/// the horizon of the same snapshot.
pub async fn start(pool: &PgPool, replay_ms: u64) -> Result<(i64, Horizon), sqlx::Error> {
    let row = sqlx::query(START)
        .bind(replay_ms as f64)
        .fetch_one(pool)
        .await?;
    Ok((
        row.try_get(0)?,
        Horizon {
            xmin: row.try_get::<i64, _>(1)? as u64,
            xmax: row.try_get::<i64, _>(2)? as u64,
        },
    ))
}

/// The highest id pruned so far: a consumer settled below it may have missed events.
pub async fn pruned_through(pool: &PgPool) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("SELECT through_id FROM gallery_proxy.change_events_pruned")
        .fetch_one(pool)
        .await
}

/// Deletes events written more than `retention_ms` ago; returns how many.
pub async fn prune(pool: &PgPool, retention_ms: u64) -> Result<u64, sqlx::Error> {
    let deleted: i64 = sqlx::query_scalar(
        "WITH gone AS ( \
             DELETE FROM gallery_proxy.change_events \
              WHERE written_at < clock_timestamp() - make_interval(secs => $1::float8 / 1000) \
             RETURNING id), \
         noted AS ( \
             UPDATE gallery_proxy.change_events_pruned \
                SET through_id = greatest(through_id, (SELECT max(id) FROM gone)) \
              WHERE EXISTS (SELECT 1 FROM gone)) \
         SELECT count(*) FROM gone",
    )
    .bind(retention_ms as f64)
    .fetch_one(pool)
    .await?;
    Ok(deleted as u64)
}

/// Events visible above `above` (the backlog a consumer has not read yet).
pub async fn backlog(pool: &PgPool, above: i64) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("SELECT count(*) FROM gallery_proxy.change_events WHERE id > $1")
        .bind(above)
        .fetch_one(pool)
        .await
}

/// Appends `deps` as one transaction's events (an admin purge): every proxy applies them as it
/// applies a write's.
pub async fn emit(pool: &PgPool, deps: &[String]) -> Result<(), sqlx::Error> {
    sqlx::query("SELECT gallery_proxy.emit($1::text[])")
        .bind(deps)
        .execute(pool)
        .await?;
    Ok(())
}
