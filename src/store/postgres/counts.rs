//! `total_count`: exact, and consistent with the items.
//!
//! Without a search term and with at most one tag, the answer is a lookup in
//! `gallery_proxy.item_counts` (kept exact by triggers, see migrations/0002). Anything else is
//! counted from the rows, partition by partition, with the page query's own filters.

use std::time::Instant;

use sqlx::Row;
use uuid::Uuid;

use super::page::{write_filters, PageRequest};
use super::statement::Statement;
use super::{observe, DbError};
use crate::gallery::query::CreatorScope;

/// Whether `request`'s total is a lookup in the maintained counters.
pub(super) fn uses_counters(request: &PageRequest<'_>) -> bool {
    request.search.is_empty() && request.tags.ids.len() <= 1
}

pub async fn count_items(pool: &sqlx::PgPool, request: &PageRequest<'_>) -> Result<u64, DbError> {
    if uses_counters(request) {
        count_from_counters(pool, request).await
    } else {
        count_rows(pool, request).await
    }
}

async fn count_from_counters(
    pool: &sqlx::PgPool,
    request: &PageRequest<'_>,
) -> Result<u64, DbError> {
    let started = Instant::now();
    let tag = request.tags.ids.first().copied().unwrap_or(Uuid::nil());
    let user = request
        .sources
        .selected()
        .find_map(|(_, scope)| match scope {
            CreatorScope::Only(u) | CreatorScope::Except(u) => Some(u),
            CreatorScope::Everyone => None,
        });
    let rows = sqlx::query(
        "SELECT source_type, sum(n)::int8, coalesce(sum(n) FILTER (WHERE creator_id = $2), 0)::int8 \
           FROM gallery_proxy.item_counts WHERE tag_id = $1 GROUP BY source_type",
    )
    .bind(tag)
    .bind(user.unwrap_or(Uuid::nil()))
    .fetch_all(pool)
    .await?;
    observe("count_counters", started);
    let mut total: i64 = 0;
    for row in rows {
        let source_type: String = row.try_get(0)?;
        let (all, mine): (i64, i64) = (row.try_get(1)?, row.try_get(2)?);
        let scope = crate::gallery::query::Kind::from_source_type(&source_type)
            .and_then(|k| request.sources.get(k));
        total += match scope {
            None => 0,
            Some(CreatorScope::Everyone) => all,
            Some(CreatorScope::Only(_)) => mine,
            Some(CreatorScope::Except(_)) => all - mine,
        };
    }
    Ok(total.max(0) as u64)
}

async fn count_rows(pool: &sqlx::PgPool, request: &PageRequest<'_>) -> Result<u64, DbError> {
    let started = Instant::now();
    let total: i64 = count_rows_statement(request)
        .into_query()
        .fetch_one(pool)
        .await?
        .try_get(0)?;
    observe("count_rows", started);
    Ok(total.max(0) as u64)
}

pub(super) fn count_rows_statement(request: &PageRequest<'_>) -> Statement {
    let mut stmt = Statement::default();
    stmt.push("SELECT 0::int8");
    for (kind, scope) in request.sources.selected() {
        stmt.push(&format!(
            " + (SELECT count(*) FROM {} c WHERE TRUE",
            kind.table()
        ));
        write_filters(&mut stmt, kind, scope, request);
        stmt.push(")");
    }
    stmt
}
