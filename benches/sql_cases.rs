//! Times the canonical uncached gallery queries on a seeded database, through the proxy's own
//! query code: the page query, the count, and the whole answer (both at once, rendered).
//!
//!     DATABASE_URL=postgres://postgres@127.0.0.1/gallery_bench \
//!         cargo bench --bench sql_cases -- [--runs N] [--explain docs/sql-plans.md]
//!
//! Prints a Markdown table of medians and p90s (milliseconds, wall clock from the client).

use std::time::{Duration, Instant};

use gallery_proxy::config::DatabaseSettings;
use gallery_proxy::gallery::cursor::Cursor;
use gallery_proxy::gallery::params::{parse, Limits};
use gallery_proxy::gallery::query::{Position, SortField};
use gallery_proxy::gallery::GalleryQuery;
use gallery_proxy::service::GalleryService;
use gallery_proxy::store::postgres::{self, PageRequest, Walk};
use sqlx::Row;

const ADMIN: &str = "121e194b-4caa-4b81-ad4f-86ca3919d5b9";

struct Case {
    name: &'static str,
    query: String,
}

fn median_and_p90(mut samples: Vec<Duration>) -> (f64, f64) {
    samples.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    (
        ms(samples[samples.len() / 2]),
        ms(samples[(samples.len() * 9).div_ceil(10) - 1]),
    )
}

fn request(query: &GalleryQuery) -> PageRequest<'_> {
    PageRequest {
        sources: &query.sources,
        tags: &query.tags,
        search: &query.search,
        sort: query.sort,
    }
}

/// The walk the service uses for this query.
fn walk(query: &GalleryQuery) -> Walk<'_> {
    match &query.position {
        Position::Offset => Walk {
            order: query.order,
            after: None,
            offset: query.offset(),
            limit: i64::from(query.page_size),
        },
        Position::Cursor { cursor, backward } => Walk {
            order: if *backward {
                query.order.reversed()
            } else {
                query.order
            },
            after: Some((cursor, false)),
            offset: 0,
            limit: i64::from(query.page_size) + 1,
        },
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let runs: usize = args
        .iter()
        .position(|a| a == "--runs")
        .map_or(11, |i| args[i + 1].parse().unwrap());
    let explain_to = args
        .iter()
        .position(|a| a == "--explain")
        .map(|i| args[i + 1].clone());
    let url = std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/gallery_bench".into());
    let settings = DatabaseSettings {
        url: url.clone(),
        max_connections: 4,
        ..DatabaseSettings::default()
    };
    let pool = postgres::pool(&settings)?;
    let service = GalleryService::new(pool.clone(), settings.statement_timeout_ms_duration());

    let items: i64 = sqlx::query_scalar("SELECT count(*) FROM content_items_all")
        .fetch_one(&pool)
        .await?;
    // Tags by how many items carry them (from the proxy's counters).
    let tags: Vec<(String, i64)> = sqlx::query(
        "SELECT tag_id::text, sum(n)::int8 FROM gallery_proxy.item_counts
          WHERE tag_id <> '00000000-0000-0000-0000-000000000000' GROUP BY tag_id ORDER BY 2 DESC, 1",
    )
    .fetch_all(&pool)
    .await?
    .iter()
    .map(|r| (r.get(0), r.get(1)))
    .collect();
    let share = |t: &(String, i64)| t.1 as f64 / items as f64;
    let rare = tags
        .iter()
        .min_by_key(|t| (share(t) * 1000.0 - 20.0).abs() as i64)
        .unwrap();
    let rarest: Vec<&(String, i64)> = tags.iter().rev().take(3).collect();
    println!(
        "{items} items; top tag on {:.1}%, rare tag on {:.1}%, rarest three on {:.1}%/{:.1}%/{:.1}%\n",
        share(&tags[0]) * 100.0,
        share(rare) * 100.0,
        share(rarest[0]) * 100.0,
        share(rarest[1]) * 100.0,
        share(rarest[2]) * 100.0
    );

    let canonical = format!(
        "page_size=25&content_source_types=user-regular&content_source_types=user-auto&content_source_types=community-regular&content_source_types=community-auto&user_id={ADMIN}&sort_field=created_at&sort_order=desc"
    );
    let tag = |i: usize| format!("tag={}", tags[i].0);
    let mut cases = vec![
        Case { name: "no tag", query: canonical.clone() },
        Case { name: "one popular tag", query: format!("{canonical}&{}", tag(0)) },
        Case { name: "one rare tag (~2%)", query: format!("{canonical}&tag={}", rare.0) },
        Case { name: "two tags any", query: format!("{canonical}&{}&{}", tag(0), tag(1)) },
        Case { name: "three tags all", query: format!("{canonical}&{}&{}&{}&tag_match=all", tag(0), tag(1), tag(2)) },
        Case {
            name: "five tags all",
            query: format!("{canonical}&{}&{}&{}&{}&{}&tag_match=all", tag(0), tag(1), tag(2), tag(3), tag(4)),
        },
        Case {
            name: "three rare tags all",
            query: format!("{canonical}&tag={}&tag={}&tag={}&tag_match=all", rarest[0].0, rarest[1].0, rarest[2].0),
        },
        Case {
            name: "one tag, user's own items",
            query: format!("page_size=25&content_source_types=user-regular&content_source_types=user-auto&user_id={ADMIN}&{}", tag(0)),
        },
        Case { name: "one tag + two-word search", query: format!("{canonical}&{}&search_term=mech+pilot", tag(0)) },
        Case { name: "page 2000, one popular tag", query: format!("{canonical}&{}&page=2000", tag(0)) },
    ];
    // The same position as page 2000, reached by the cursor of page 1999's last item.
    let deep = parse(
        &format!("{canonical}&{}&page=1999", tag(0)),
        &Limits::default(),
    )
    .unwrap();
    let rows = postgres::fetch_page(&pool, &request(&deep), &walk(&deep)).await?;
    let last = rows.last().expect("page 1999 has rows");
    let cursor = Cursor {
        id: last.id,
        kind: last.kind,
        created_at: last.created_at,
        quality: (deep.sort == SortField::QualityScore).then_some(last.quality_score),
    };
    cases.push(Case {
        name: "page 2000 by cursor",
        query: format!("{canonical}&{}&cursor={}", tag(0), cursor.encode()),
    });

    let mut explain =
        String::from("# EXPLAIN (ANALYZE, BUFFERS) of the canonical gallery queries\n\n");
    explain.push_str(&format!(
        "Made by `cargo bench --bench sql_cases -- --explain docs/sql-plans.md` on {items} items (zipf). \
         Counts of 0 or 1 tag without search are lookups in gallery_proxy.item_counts and have no plan here.\n\n"
    ));
    println!("| case | page median | page p90 | count median | count p90 | answer median | total_count |");
    println!("|---|---:|---:|---:|---:|---:|---:|");
    for case in &cases {
        let query = parse(&case.query, &Limits::default())
            .map_err(|e| anyhow::anyhow!("{}: {e:?}", case.name))?;
        // Pages back to back, then counts, then whole answers: a multi-second count scan
        // between two pages would evict the pages' index blocks from the 128 MB buffer cache.
        // The first run of each is a warm-up and is not counted.
        let mut page = vec![];
        for _ in 0..=runs {
            let t = Instant::now();
            postgres::fetch_page(&pool, &request(&query), &walk(&query)).await?;
            page.push(t.elapsed());
        }
        let mut count = vec![];
        let mut total = 0;
        for _ in 0..=runs {
            let t = Instant::now();
            total = postgres::count_items(&pool, &request(&query)).await?;
            count.push(t.elapsed());
        }
        let mut answer = vec![];
        for _ in 0..=runs {
            let t = Instant::now();
            service
                .answer(&query)
                .await
                .map_err(|e| anyhow::anyhow!("{e:?}"))?;
            answer.push(t.elapsed());
        }
        let (page, count, answer) = (page.split_off(1), count.split_off(1), answer.split_off(1));
        let (pm, p9) = median_and_p90(page);
        let (cm, c9) = median_and_p90(count);
        let (am, _) = median_and_p90(answer);
        println!(
            "| {} | {pm:.2} ms | {p9:.2} ms | {cm:.2} ms | {c9:.2} ms | {am:.2} ms | {total} |",
            case.name
        );
        if explain_to.is_some() {
            let (page_plan, count_plan) =
                postgres::explain(&pool, &request(&query), &walk(&query)).await?;
            explain.push_str(&format!(
                "## {}\n\n`{}`\n\nPage:\n\n```\n{page_plan}\n```\n\n",
                case.name, case.query
            ));
            if let Some(plan) = count_plan {
                explain.push_str(&format!("Count:\n\n```\n{plan}\n```\n\n"));
            }
        }
    }
    if let Some(path) = explain_to {
        std::fs::write(&path, explain)?;
        println!("\nplans written to {path}");
    }
    Ok(())
}
