//! Answers one gallery query from PostgreSQL: page, count and stats, then the rendered body.
//!
//! Offset pages report `has_next`/`has_previous` from the exact total, as upstream's formula
//! does. Cursor pages look at their neighbours instead: one extra row in the walking direction,
//! and one existence probe on the other side of the cursor, so both flags are true facts.

use std::future::Future;
use std::time::Duration;

use sqlx::PgPool;

use crate::gallery::cursor::Cursor;
use crate::gallery::query::{Position, SortField};
use crate::gallery::render::{render_early_empty, render_page, ItemRow, Pagination};
use crate::gallery::{ApiError, GalleryQuery};
use crate::invalidation::deps::Shown;
use crate::store::postgres::{self as db, DbError, PageRequest, Walk};

#[derive(Clone)]
pub struct GalleryService {
    pool: PgPool,
    /// Reported in the 504 body (`"timeout_duration":"15s"`).
    statement_timeout: Duration,
}

impl GalleryService {
    pub fn new(pool: PgPool, statement_timeout: Duration) -> GalleryService {
        GalleryService {
            pool,
            statement_timeout,
        }
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// The response body for `query`, everything read from PostgreSQL.
    pub async fn answer(&self, query: &GalleryQuery) -> Result<String, ApiError> {
        let count = async { self.count(query).await.map(|n| (n, ())) };
        self.answer_with(query, count)
            .await
            .map(|(body, _, _)| body)
    }

    /// `total_count` for `query` (which must select some partition), from PostgreSQL.
    pub async fn count(&self, query: &GalleryQuery) -> Result<u64, DbError> {
        db::count_items(&self.pool, &page_request(query)).await
    }

    /// The response body for `query`, with `total_count` from `count` (which the caller may
    /// answer from a cache; it runs concurrently with the page query and yields the count and
    /// whatever the caller wants back about it, `None` when the answer needed no count), and
    /// what the body shows (for its cache dependencies).
    pub async fn answer_with<T>(
        &self,
        query: &GalleryQuery,
        count: impl Future<Output = Result<(u64, T), DbError>>,
    ) -> Result<(String, Option<T>, Shown), ApiError> {
        self.answer_inner(query, count)
            .await
            .map_err(|e| self.api_error(e))
    }

    async fn answer_inner<T>(
        &self,
        query: &GalleryQuery,
        count: impl Future<Output = Result<(u64, T), DbError>>,
    ) -> Result<(String, Option<T>, Shown), DbError> {
        if query.sources.is_empty() {
            let (stats, source) = db::fetch_stats(&self.pool, query.user_id).await?;
            let shown = Shown {
                stats: Some(source),
                ..Shown::default()
            };
            return Ok((
                render_early_empty(query.page, query.page_size, &stats),
                None,
                shown,
            ));
        }
        let request = page_request(query);
        let stats = async {
            match query.include_stats {
                true => db::fetch_stats(&self.pool, query.user_id).await.map(Some),
                false => Ok(None),
            }
        };
        let page_size = i64::from(query.page_size);

        let (items, (total, about_count), stats, has_next, has_previous) = match &query.position {
            Position::Offset => {
                let walk = Walk {
                    order: query.order,
                    after: None,
                    offset: query.offset(),
                    limit: page_size,
                };
                let (items, total, stats) =
                    tokio::try_join!(db::fetch_page(&self.pool, &request, &walk), count, stats)?;
                let pages = total.0.div_ceil(u64::from(query.page_size));
                (items, total, stats, query.page < pages, query.page > 1)
            }
            Position::Cursor { cursor, backward } => {
                let order = if *backward {
                    query.order.reversed()
                } else {
                    query.order
                };
                let ahead = Walk {
                    order,
                    after: Some((cursor, false)),
                    offset: 0,
                    limit: page_size + 1,
                };
                // Everything on the other side of the cursor, the cursor's own row included.
                let behind = Walk {
                    order: order.reversed(),
                    after: Some((cursor, true)),
                    offset: 0,
                    limit: 1,
                };
                let (mut items, behind, total, stats) = tokio::try_join!(
                    db::fetch_page(&self.pool, &request, &ahead),
                    db::rows_exist(&self.pool, &request, &behind),
                    count,
                    stats
                )?;
                let more_ahead = items.len() > query.page_size as usize;
                items.truncate(query.page_size as usize);
                if *backward {
                    items.reverse();
                    (items, total, stats, behind, more_ahead)
                } else {
                    (items, total, stats, more_ahead, behind)
                }
            }
        };

        let cursor_of = |item: &ItemRow| {
            Cursor {
                id: item.id,
                kind: item.kind,
                created_at: item.created_at,
                quality: (query.sort == SortField::QualityScore).then_some(item.quality_score),
            }
            .encode()
        };
        let pagination = Pagination {
            page: query.page,
            page_size: query.page_size,
            total_count: total,
            has_next,
            has_previous,
            // Upstream's rules: next from a full page's last item, prev only on cursor requests.
            next_cursor: (items.len() == query.page_size as usize)
                .then(|| items.last().map(cursor_of))
                .flatten(),
            prev_cursor: match query.position {
                Position::Cursor { .. } => items.first().map(cursor_of),
                Position::Offset => None,
            },
        };
        let mut creators: Vec<_> = items.iter().map(|i| i.creator_id).collect();
        creators.sort_unstable();
        creators.dedup();
        let shown = Shown {
            items: items.iter().map(|i| (i.kind, i.id)).collect(),
            creators,
            stats: stats.as_ref().map(|(_, source)| *source),
        };
        Ok((
            render_page(&items, &pagination, stats.as_ref().map(|(s, _)| s)),
            Some(about_count),
            shown,
        ))
    }

    pub fn api_error(&self, error: DbError) -> ApiError {
        match error {
            DbError::Timeout => ApiError::StatementTimeout {
                timeout: format_duration(self.statement_timeout),
            },
            DbError::Unavailable(e) => {
                tracing::warn!(error = %e, "database unavailable");
                ApiError::Unavailable
            }
            DbError::Other(e) => {
                tracing::error!(error = %e, "gallery query failed");
                ApiError::Internal(e)
            }
        }
    }
}

fn page_request(query: &GalleryQuery) -> PageRequest<'_> {
    PageRequest {
        sources: &query.sources,
        tags: &query.tags,
        search: &query.search,
        sort: query.sort,
    }
}

/// Upstream writes the timeout as `15s`.
fn format_duration(d: Duration) -> String {
    if d.as_millis() % 1000 == 0 {
        format!("{}s", d.as_secs())
    } else {
        format!("{}ms", d.as_millis())
    }
}
