//! The page query: which items, in which order.
//!
//! Shape: one branch per selected partition, each naming its table and its `content_source`
//! literally (so the planner's estimates hold and no `CASE` mapping hides the join), each walking
//! its own `(sort, id)` order with `LIMIT offset + page`, then a merge of the branches, then the
//! wide columns and the username for just the page's rows. Tag filters are probes of
//! `content_tags` per walked row. See docs/sql.md for the plans and timings.

use std::time::Instant;

use sqlx::Row;

use super::statement::Statement;
use super::{observe, DbError};
use uuid::Uuid;

use crate::gallery::cursor::Cursor;
use crate::gallery::plan::{choose_shape, Shape};
use crate::gallery::query::{CreatorScope, Kind, Order, SortField, Sources, TagMatch, Tags};
use crate::gallery::render::ItemRow;
use crate::gallery::search::ilike_pattern;

/// What to select, independent of where the window sits.
pub struct PageRequest<'a> {
    pub sources: &'a Sources,
    pub tags: &'a Tags,
    pub search: &'a [String],
    pub sort: SortField,
}

/// Where the window sits and which way it walks.
pub struct Walk<'a> {
    /// The order rows are read in (the display order, or its reverse for backward pages).
    pub order: Order,
    /// Only rows after this cursor in walk order (`inclusive`: the cursor's own row too).
    pub after: Option<(&'a Cursor, bool)>,
    pub offset: i64,
    pub limit: i64,
}

/// Fetches the page's rows in walk order.
pub async fn fetch_page(
    pool: &sqlx::PgPool,
    request: &PageRequest<'_>,
    walk: &Walk<'_>,
) -> Result<Vec<ItemRow>, DbError> {
    let started = Instant::now();
    let skipped;
    let walk = match skip_by_days(pool, request, walk).await? {
        DaySkip::NotApplicable => walk,
        DaySkip::PastTheEnd => return Ok(Vec::new()),
        DaySkip::To { boundary, residual } => {
            skipped = boundary;
            &Walk {
                order: walk.order,
                after: Some((&skipped, false)),
                offset: residual,
                limit: walk.limit,
            }
        }
    };
    let shapes = plan_shapes(pool, request, walk).await?;
    let statement = page_statement(request, walk, &shapes);
    let rows = if needs_walk_plan(request, &shapes) {
        let mut tx = pool.begin().await?;
        sqlx::query(WALK_PLAN_SETTINGS).execute(&mut *tx).await?;
        let rows = statement.into_query().fetch_all(&mut *tx).await?;
        tx.commit().await?;
        rows
    } else {
        statement.into_query().fetch_all(pool).await?
    };
    observe("page", started);
    rows.iter().map(item_row).collect()
}

/// Planner switches, local to the page query's transaction, that leave the ordered index walk
/// as the only reasonable plan. Needed because PostgreSQL misjudges how many rows a search term
/// or a tag matches in a partition (it estimated 1 row for `mech pilot`, 586 matched, and chose
/// a sequential scan and sort: 78 ms instead of 7). Parallel workers are off too: each one walks
/// ahead on its own, so a Gather Merge that needed 27 rows had its workers filter 70,000
/// (300 ms instead of ~10); and JIT, whose compile time the walk's inflated cost estimate triggers.
const WALK_PLAN_SETTINGS: &str = "SELECT set_config('enable_seqscan', 'off', true), \
    set_config('enable_bitmapscan', 'off', true), set_config('enable_hashjoin', 'off', true), \
    set_config('enable_mergejoin', 'off', true), set_config('enable_sort', 'off', true), \
    set_config('max_parallel_workers_per_gather', '0', true), set_config('jit', 'off', true)";

/// Walk plans are forced when every branch walks and something filters the walk; posting-list
/// shapes need the joins those switches turn off.
pub(super) fn needs_walk_plan(request: &PageRequest<'_>, shapes: &Shapes) -> bool {
    let filtered = !request.tags.is_empty() || !request.search.is_empty();
    filtered && Kind::ALL.iter().all(|k| *shapes.get(*k) == Shape::Walk)
}

/// Runs `statement` as the page query would run, prefixed by `EXPLAIN`.
pub(super) async fn explain_page(
    pool: &sqlx::PgPool,
    request: &PageRequest<'_>,
    walk: &Walk<'_>,
) -> Result<String, DbError> {
    let shapes = plan_shapes(pool, request, walk).await?;
    let mut statement = page_statement(request, walk, &shapes);
    statement.text.insert_str(0, "EXPLAIN (ANALYZE, BUFFERS) ");
    let mut tx = pool.begin().await?;
    if needs_walk_plan(request, &shapes) {
        sqlx::query(WALK_PLAN_SETTINGS).execute(&mut *tx).await?;
    }
    let rows = statement.into_query().fetch_all(&mut *tx).await?;
    tx.commit().await?;
    let lines: Result<Vec<String>, sqlx::Error> = rows.iter().map(|r| r.try_get(0)).collect();
    Ok(format!(
        "shapes: {shapes:?}, walk plan forced: {}\n{}",
        needs_walk_plan(request, &shapes),
        lines?.join("\n")
    ))
}

/// Offsets at least this deep are skipped by day counts where the query allows it; shallower
/// ones walk (a few thousand probes cost less than the lookup).
const DAY_SKIP_MIN_OFFSET: i64 = 2_000;

enum DaySkip {
    NotApplicable,
    PastTheEnd,
    /// Start the walk after `boundary` (a synthetic cursor at a day's edge) and skip `residual`
    /// rows from there.
    To {
        boundary: Cursor,
        residual: i64,
    },
}

/// Deep offsets by arithmetic: sum the exact per-day counts (migration 0003) in walk order up to
/// the day where the offset lands, then walk only within that day. Applies to `created_at`
/// sorts with at most one tag, no search, and every creator of each selected partition.
async fn skip_by_days(
    pool: &sqlx::PgPool,
    request: &PageRequest<'_>,
    walk: &Walk<'_>,
) -> Result<DaySkip, DbError> {
    let eligible = walk.after.is_none()
        && walk.offset >= DAY_SKIP_MIN_OFFSET
        && request.sort == SortField::CreatedAt
        && request.search.is_empty()
        && request.tags.ids.len() <= 1
        && request
            .sources
            .selected()
            .all(|(_, scope)| scope == CreatorScope::Everyone);
    if !eligible {
        return Ok(DaySkip::NotApplicable);
    }
    let started = Instant::now();
    let sources: Vec<String> = request
        .sources
        .selected()
        .map(|(k, _)| k.source_type().to_string())
        .collect();
    let days = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT day, sum(n)::int8 FROM gallery_proxy.item_day_counts WHERE tag_id = $1 AND source_type = ANY($2) \
          GROUP BY day HAVING sum(n) > 0 ORDER BY day {}",
        walk.order.sql()
    )))
    .bind(request.tags.ids.first().copied().unwrap_or(Uuid::nil()))
    .bind(&sources)
    .fetch_all(pool)
    .await?;
    observe("day_skip", started);
    let mut before: i64 = 0;
    for row in &days {
        let day: chrono::NaiveDate = row.try_get(0)?;
        let n: i64 = row.try_get(1)?;
        if before + n > walk.offset {
            // Descending: everything before the next midnight; ascending: from this midnight on.
            // id = i64::MIN makes the (created_at, id) bound fall exactly on the day's edge.
            let edge = match walk.order {
                Order::Desc => day.succ_opt().unwrap_or(day),
                Order::Asc => day,
            };
            let boundary = Cursor {
                id: i64::MIN,
                kind: Kind::Auto,
                created_at: edge.and_hms_opt(0, 0, 0).expect("midnight exists"),
                quality: None,
            };
            return Ok(DaySkip::To {
                boundary,
                residual: walk.offset - before,
            });
        }
        before += n;
    }
    Ok(DaySkip::PastTheEnd)
}

/// The shape of each partition's branch (see `gallery::plan`), from the exact counters.
pub(super) async fn plan_shapes(
    pool: &sqlx::PgPool,
    request: &PageRequest<'_>,
    walk: &Walk<'_>,
) -> Result<Shapes, DbError> {
    let (Some(mode), false) = (request.tags.mode, request.tags.ids.is_empty()) else {
        return Ok(Shapes::default());
    };
    let started = Instant::now();
    let rows = sqlx::query(
        "SELECT tag_id, source_type, sum(n)::int8 FROM gallery_proxy.item_counts WHERE tag_id = ANY($1) GROUP BY 1, 2",
    )
    // The nil id's rows count every item of a partition.
    .bind(request.tags.ids.iter().copied().chain([Uuid::nil()]).collect::<Vec<_>>())
    .fetch_all(pool)
    .await?;
    observe("plan", started);
    let mut shapes = Shapes::default();
    let needed = walk.offset.saturating_add(walk.limit).max(0) as u64;
    for kind in Kind::ALL {
        let count_of = |tag: Uuid| -> u64 {
            rows.iter()
                .find(|r| r.get::<Uuid, _>(0) == tag && r.get::<String, _>(1) == kind.source_type())
                .map_or(0, |r| r.get::<i64, _>(2).max(0) as u64)
        };
        let counts: Vec<(Uuid, u64)> = request
            .tags
            .ids
            .iter()
            .map(|t| (*t, count_of(*t)))
            .collect();
        shapes.set(
            kind,
            choose_shape(mode, &counts, count_of(Uuid::nil()), needed),
        );
    }
    Ok(shapes)
}

/// One shape per partition.
#[derive(Clone, Debug, Default)]
pub struct Shapes {
    regular: Option<Shape>,
    auto: Option<Shape>,
}

impl Shapes {
    fn set(&mut self, kind: Kind, shape: Shape) {
        match kind {
            Kind::Regular => self.regular = Some(shape),
            Kind::Auto => self.auto = Some(shape),
        }
    }

    fn get(&self, kind: Kind) -> &Shape {
        let shape = match kind {
            Kind::Regular => &self.regular,
            Kind::Auto => &self.auto,
        };
        shape.as_ref().unwrap_or(&Shape::Walk)
    }
}

pub(super) fn page_statement(
    request: &PageRequest<'_>,
    walk: &Walk<'_>,
    shapes: &Shapes,
) -> Statement {
    let mut stmt = Statement::default();
    let dir = walk.order.sql();
    let per_branch = walk.offset.saturating_add(walk.limit);
    stmt.push("WITH page AS (SELECT * FROM (");
    let mut first = true;
    for (kind, scope) in request.sources.selected() {
        if !first {
            stmt.push(" UNION ALL ");
        }
        first = false;
        let sort = request.sort.column();
        stmt.push(&format!(
            "(SELECT c.id, '{}'::text AS source_type, c.{sort} AS sort_value FROM ",
            kind.source_type()
        ));
        match shapes.get(kind) {
            Shape::Walk => {
                stmt.push(&format!("{} c WHERE TRUE", kind.table()));
                write_filters(&mut stmt, kind, scope, request);
            }
            Shape::Postings { tags } => {
                write_postings_source(&mut stmt, kind, tags, request.tags.mode);
                write_scope_and_search(&mut stmt, scope, request.search);
            }
        }
        if let Some((cursor, inclusive)) = walk.after {
            write_bound(&mut stmt, request.sort, walk.order, cursor, inclusive);
        }
        let limit = stmt.bind(per_branch);
        stmt.push(&format!(
            " ORDER BY c.{sort} {dir}, c.id {dir} LIMIT {limit})"
        ));
    }
    let limit = stmt.bind(walk.limit);
    let offset = stmt.bind(walk.offset);
    stmt.push(&format!(
        ") branches ORDER BY sort_value {dir}, id {dir} LIMIT {limit} OFFSET {offset}) \
         SELECT c.id, c.title, c.content_type, c.content_data, c.path_thumb, c.path_thumbs_alt_res::text, \
                c.prompt, c.creator_id, u.username, c.item_metadata::text, c.is_private, c.quality_score, \
                c.created_at, c.updated_at, c.source_type \
           FROM page p \
           JOIN content_items_all c ON c.id = p.id AND c.source_type = p.source_type \
           JOIN users u ON u.id = c.creator_id \
          ORDER BY p.sort_value {dir}, p.id {dir}"
    ));
    stmt
}

/// Whether any row lies after `cursor` in walk order: the cheap check behind `has_previous`
/// and `has_next` on cursor pages.
pub async fn rows_exist(
    pool: &sqlx::PgPool,
    request: &PageRequest<'_>,
    walk: &Walk<'_>,
) -> Result<bool, DbError> {
    let started = Instant::now();
    let mut stmt = Statement::default();
    stmt.push("SELECT FALSE");
    for (kind, scope) in request.sources.selected() {
        stmt.push(&format!(
            " OR EXISTS (SELECT 1 FROM {} c WHERE TRUE",
            kind.table()
        ));
        write_filters(&mut stmt, kind, scope, request);
        if let Some((cursor, inclusive)) = walk.after {
            write_bound(&mut stmt, request.sort, walk.order, cursor, inclusive);
        }
        stmt.push(")");
    }
    let exists: bool = stmt.into_query().fetch_one(pool).await?.try_get(0)?;
    observe("probe", started);
    Ok(exists)
}

/// The creator, tag and search conditions of one partition's branch.
pub(super) fn write_filters(
    stmt: &mut Statement,
    kind: Kind,
    scope: CreatorScope,
    request: &PageRequest<'_>,
) {
    write_tag_filter(stmt, kind, request.tags);
    write_scope_and_search(stmt, scope, request.search);
}

/// The rows of a partition that carry the tags, read from the posting lists: for `all`, the
/// rarest tag's list joined with each other tag's (PostgreSQL merges or hashes the sorted
/// lists); for `any`, the distinct union of the lists. Leaves a `WHERE` open for more conditions.
fn write_postings_source(stmt: &mut Statement, kind: Kind, tags: &[Uuid], mode: Option<TagMatch>) {
    let source = kind.content_source();
    let table = kind.table();
    if mode == Some(TagMatch::Any) && tags.len() > 1 {
        let p = stmt.bind(tags.to_vec());
        stmt.push(&format!(
            "(SELECT DISTINCT content_id FROM content_tags WHERE tag_id = ANY({p}) AND content_source = '{source}') t0 \
             JOIN {table} c ON c.id = t0.content_id WHERE TRUE"
        ));
        return;
    }
    stmt.push("content_tags t0");
    for (i, tag) in tags.iter().enumerate().skip(1) {
        let p = stmt.bind(*tag);
        stmt.push(&format!(
            " JOIN content_tags t{i} ON t{i}.content_id = t0.content_id AND t{i}.content_source = '{source}' AND t{i}.tag_id = {p}"
        ));
    }
    let p = stmt.bind(tags[0]);
    stmt.push(&format!(" JOIN {table} c ON c.id = t0.content_id WHERE t0.tag_id = {p} AND t0.content_source = '{source}'"));
}

fn write_scope_and_search(stmt: &mut Statement, scope: CreatorScope, search: &[String]) {
    match scope {
        CreatorScope::Everyone => {}
        CreatorScope::Only(user) => {
            let p = stmt.bind(user);
            stmt.push(&format!(" AND c.creator_id = {p}"));
        }
        CreatorScope::Except(user) => {
            let p = stmt.bind(user);
            stmt.push(&format!(" AND c.creator_id <> {p}"));
        }
    }
    for token in search {
        let p = stmt.bind(ilike_pattern(token));
        stmt.push(&format!(" AND (c.title ILIKE {p} OR c.prompt ILIKE {p})"));
    }
}

/// Tag probes against `content_tags`, matching the partition's own `content_source` (upstream
/// compared it with `source_type`, so regular items never matched).
fn write_tag_filter(stmt: &mut Statement, kind: Kind, tags: &Tags) {
    let source = kind.content_source();
    match (tags.ids.as_slice(), tags.mode) {
        ([], _) | (_, None) => {}
        ([tag], _) => {
            let p = stmt.bind(*tag);
            stmt.push(&format!(
                " AND EXISTS (SELECT 1 FROM content_tags ct WHERE ct.tag_id = {p} AND ct.content_source = '{source}' AND ct.content_id = c.id)"
            ));
        }
        (ids, Some(TagMatch::Any)) => {
            let p = stmt.bind(ids.to_vec());
            stmt.push(&format!(
                " AND EXISTS (SELECT 1 FROM content_tags ct WHERE ct.tag_id = ANY({p}) AND ct.content_source = '{source}' AND ct.content_id = c.id)"
            ));
        }
        (ids, Some(TagMatch::All)) => {
            // One correlated count instead of one EXISTS per tag: the same work per row, but
            // planning stays flat as tags are added.
            let p = stmt.bind(ids.to_vec());
            let k = stmt.bind(ids.len() as i64);
            stmt.push(&format!(
                " AND (SELECT count(*) FROM content_tags ct WHERE ct.content_id = c.id AND ct.content_source = '{source}' AND ct.tag_id = ANY({p})) = {k}"
            ));
        }
    }
}

/// Rows strictly after (or, `inclusive`, at or after) the cursor in walk order `order`.
/// PostgreSQL sorts NULL above every value (last ascending, first descending); the
/// `quality_score` conditions spell that out because row comparisons with NULL are unknown.
fn write_bound(
    stmt: &mut Statement,
    sort: SortField,
    order: Order,
    cursor: &Cursor,
    inclusive: bool,
) {
    let eq = if inclusive { "=" } else { "" };
    let (lt, gt) = (format!("<{eq}"), format!(">{eq}"));
    let id = stmt.bind(cursor.id);
    match (sort, cursor.quality) {
        (SortField::QualityScore, Some(Some(q))) => {
            let q = stmt.bind(q);
            match order {
                Order::Desc => stmt.push(&format!(
                    " AND c.quality_score IS NOT NULL AND (c.quality_score, c.id) {lt} ({q}, {id})"
                )),
                Order::Asc => stmt.push(&format!(
                    " AND ((c.quality_score, c.id) {gt} ({q}, {id}) OR c.quality_score IS NULL)"
                )),
            };
        }
        (SortField::QualityScore, _) => {
            match order {
                Order::Desc => stmt.push(&format!(
                    " AND (c.quality_score IS NOT NULL OR c.id {lt} {id})"
                )),
                Order::Asc => {
                    stmt.push(&format!(" AND c.quality_score IS NULL AND c.id {gt} {id}"))
                }
            };
        }
        (SortField::CreatedAt, _) => {
            let ts = stmt.bind(cursor.created_at);
            let op = if order == Order::Desc { lt } else { gt };
            stmt.push(&format!(" AND (c.created_at, c.id) {op} ({ts}, {id})"));
        }
    }
}

fn item_row(row: &sqlx::postgres::PgRow) -> Result<ItemRow, DbError> {
    let source_type: String = row.try_get(14)?;
    Ok(ItemRow {
        id: i64::from(row.try_get::<i32, _>(0)?),
        title: row.try_get(1)?,
        content_type: row.try_get(2)?,
        content_data: row.try_get(3)?,
        path_thumb: row.try_get(4)?,
        path_thumbs_alt_res: row.try_get(5)?,
        prompt: row.try_get(6)?,
        creator_id: row.try_get(7)?,
        creator_username: row.try_get(8)?,
        item_metadata: row.try_get(9)?,
        is_private: row.try_get(10)?,
        quality_score: row.try_get(11)?,
        created_at: row.try_get(12)?,
        updated_at: row.try_get(13)?,
        kind: Kind::from_source_type(&source_type)
            .ok_or_else(|| DbError::Other(format!("unexpected source_type {source_type:?}")))?,
    })
}
