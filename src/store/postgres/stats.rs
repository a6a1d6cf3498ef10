//! The `stats` object, from `gen_source_stats` as upstream reads it: the user's own rows
//! (`user_id = U`) and the community rows (`user_id IS NULL`, meaning all content). When the
//! table is empty, upstream counts live; the proxy's exact counters answer instead.

use std::time::Instant;

use sqlx::Row;
use uuid::Uuid;

use super::{observe, DbError};
use crate::gallery::render::Stats;
use crate::invalidation::deps::StatsSource;

/// The stats, and whether they came from the table or (the table being empty) the counters.
pub async fn fetch_stats(
    pool: &sqlx::PgPool,
    user: Option<Uuid>,
) -> Result<(Stats, StatsSource), DbError> {
    let started = Instant::now();
    let rows = sqlx::query(
        "SELECT user_id IS NULL, source_type, count::int8 FROM gen_source_stats \
          WHERE user_id IS NULL OR user_id = $1",
    )
    .bind(user)
    .fetch_all(pool)
    .await?;
    let mut source = StatsSource::Table;
    let rows = if rows.is_empty() && !table_has_rows(pool).await? {
        source = StatsSource::Counters;
        sqlx::query(
            "SELECT TRUE, gallery_proxy.content_source_of(source_type), sum(n)::int8 \
               FROM gallery_proxy.item_counts WHERE tag_id = '00000000-0000-0000-0000-000000000000' \
              GROUP BY 2 \
             UNION ALL \
             SELECT FALSE, gallery_proxy.content_source_of(source_type), sum(n)::int8 \
               FROM gallery_proxy.item_counts WHERE tag_id = '00000000-0000-0000-0000-000000000000' AND creator_id = $1 \
              GROUP BY 2",
        )
        .bind(user)
        .fetch_all(pool)
        .await?
    } else {
        rows
    };
    observe("stats", started);
    let mut stats = Stats::default();
    for row in rows {
        let community: bool = row.try_get(0)?;
        let source: String = row.try_get(1)?;
        let count: i64 = row.try_get(2)?;
        match (community, source.as_str()) {
            (true, "regular") => stats.community_regular_count += count,
            (true, "auto") => stats.community_auto_count += count,
            (false, "regular") if user.is_some() => stats.user_regular_count += count,
            (false, "auto") if user.is_some() => stats.user_auto_count += count,
            _ => {}
        }
    }
    Ok((stats, source))
}

async fn table_has_rows(pool: &sqlx::PgPool) -> Result<bool, DbError> {
    Ok(
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM gen_source_stats)")
            .fetch_one(pool)
            .await?,
    )
}
