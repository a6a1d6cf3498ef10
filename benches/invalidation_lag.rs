//! Commit-to-fresh lag of the cache under a steady write load.
//!
//!     DATABASE_URL=postgres://postgres@127.0.0.1:5432/gallery_full REDIS_URL=redis://127.0.0.1:6379 \
//!         cargo bench --bench invalidation_lag -- [--writes 300] [--load 50]
//!
//! One proxy (memory and Redis tiers) on the seeded database. In the background, `--load`
//! writes per second (a tag added to or removed from a random older auto item, one transaction
//! each, through Genonaut's own metadata trigger) and a reader keeping other tag pages cached.
//! In the foreground, `--writes` times: make sure the canonical one-tag page is a cache hit,
//! add or remove that tag on the newest auto item (its `total_count` moves by one), and from
//! the moment the commit returns, request the page back to back until it shows the new count.
//!
//! Reported, p50/p90/p99/max over the writes:
//! - commit → fresh: from the commit's return to the start of the first request that got the
//!   new answer (the lag a client sees, to within one request);
//! - commit → answer received: the same, plus that request's own time (a refill from SQL).

#[path = "support/mod.rs"]
mod support;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use gallery_proxy::app::App;
use gallery_proxy::config::Settings;
use sqlx::{Connection, PgConnection};
use support::{connect, fetch, percentile};
use uuid::Uuid;

const ADMIN: &str = "121e194b-4caa-4b81-ad4f-86ca3919d5b9";
const ALL4: &str = "content_source_types=user-regular&content_source_types=user-auto&content_source_types=community-regular&content_source_types=community-auto";

struct Args {
    writes: usize,
    load: f64,
}

fn args() -> Args {
    let argv: Vec<String> = std::env::args().collect();
    let value = |flag: &str| {
        argv.iter()
            .position(|a| a == flag)
            .and_then(|i| argv.get(i + 1).cloned())
    };
    Args {
        writes: value("--writes").map_or(300, |v| v.parse().unwrap()),
        load: value("--load").map_or(50.0, |v| v.parse().unwrap()),
    }
}

fn total_count(body: &[u8]) -> i64 {
    let value: serde_json::Value = serde_json::from_slice(body).unwrap();
    value["pagination"]["total_count"].as_i64().unwrap()
}

/// Adds `tag` to auto item `id` if it lacks it, else removes it; returns the change (+1/-1).
async fn toggle(conn: &mut PgConnection, id: i32, tag: Uuid) -> i64 {
    let removed = sqlx::query(
        "DELETE FROM content_tags WHERE content_id = $1 AND content_source = 'auto' AND tag_id = $2",
    )
    .bind(id)
    .bind(tag)
    .execute(&mut *conn)
    .await
    .unwrap()
    .rows_affected();
    if removed > 0 {
        return -1;
    }
    sqlx::query("INSERT INTO content_tags VALUES ($1, 'auto', $2)")
        .bind(id)
        .bind(tag)
        .execute(&mut *conn)
        .await
        .unwrap();
    1
}

/// `--load` writes per second on older items and other tags until the process ends.
async fn background_writes(url: String, tags: Vec<Uuid>, per_second: f64, max_id: i32) {
    let mut conn = PgConnection::connect(&url).await.unwrap();
    let mut rng = fastrand::Rng::with_seed(7);
    let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / per_second));
    loop {
        tick.tick().await;
        let id = rng.i32(1..max_id - 10_000);
        let tag = tags[rng.usize(..tags.len())];
        toggle(&mut conn, id, tag).await;
    }
}

/// Keeps other tag pages cached (and refilled after the background writes).
async fn background_reads(addr: SocketAddr, queries: Vec<String>) {
    let mut sender = connect(addr).await;
    let mut i = 0;
    loop {
        fetch(&mut sender, addr, &queries[i % queries.len()]).await;
        i += 1;
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args = args();
    let url = std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/gallery_full".into());
    let redis = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    let mut settings = Settings::default();
    settings.server.listen = "127.0.0.1:0".into();
    settings.server.admin_listen = "127.0.0.1:0".into();
    settings.database.url = url.clone();
    settings.redis.url = Some(redis);
    settings.redis.key_prefix = format!("gp-lag:{}:", std::process::id());
    let app = App::build(&settings).await.unwrap();
    let addr = app.api_addr();
    tokio::spawn(app.run(std::future::pending()));

    let mut conn = PgConnection::connect(&url).await.unwrap();
    let tags: Vec<Uuid> = sqlx::query_scalar(
        "SELECT tag_id FROM gallery_proxy.item_counts \
          WHERE tag_id <> '00000000-0000-0000-0000-000000000000' \
          GROUP BY tag_id ORDER BY sum(n) DESC, tag_id LIMIT 12",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap();
    let (measured_tag, others) = (tags[0], tags[1..].to_vec());
    let newest: i32 = sqlx::query_scalar(
        "SELECT id FROM content_items_auto ORDER BY created_at DESC, id DESC LIMIT 1",
    )
    .fetch_one(&mut conn)
    .await
    .unwrap();
    let max_id: i32 = sqlx::query_scalar("SELECT max(id) FROM content_items_auto")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    let page = |tag: Uuid| {
        format!("/api/v1/content/unified?{ALL4}&user_id={ADMIN}&page_size=25&tag={tag}")
    };
    let target = page(measured_tag);

    tokio::spawn(background_writes(
        url.clone(),
        others.clone(),
        args.load,
        max_id,
    ));
    tokio::spawn(background_reads(
        addr,
        others.iter().map(|t| page(*t)).collect(),
    ));
    tokio::time::sleep(Duration::from_secs(1)).await;

    let mut sender = connect(addr).await;
    let mut to_fresh = Vec::with_capacity(args.writes);
    let mut to_received = Vec::with_capacity(args.writes);
    let mut requests = 0usize;
    let mut rng = fastrand::Rng::with_seed(11);
    for _ in 0..args.writes {
        // Cached, and its count known.
        let count = loop {
            let (status, headers, body) = fetch(&mut sender, addr, &target).await;
            assert_eq!(status, 200);
            let cache_status = headers["cache-status"].to_str().unwrap();
            if cache_status.contains("; hit") {
                break total_count(&body);
            }
        };
        let expected = count + toggle(&mut conn, newest, measured_tag).await;
        let committed = Instant::now();
        loop {
            let started = Instant::now();
            let (_, _, body) = fetch(&mut sender, addr, &target).await;
            requests += 1;
            if total_count(&body) == expected {
                to_fresh.push(started.saturating_duration_since(committed));
                to_received.push(committed.elapsed());
                break;
            }
            assert!(committed.elapsed() < Duration::from_secs(10), "never fresh");
        }
        tokio::time::sleep(Duration::from_millis(rng.u64(20..60))).await;
    }
    to_fresh.sort();
    to_received.sort();
    println!(
        "{} measured writes on the canonical one-tag page, {} background writes/s, {} polling requests\n",
        args.writes, args.load, requests
    );
    println!("| lag | p50 ms | p90 ms | p99 ms | max ms |");
    println!("|---|---:|---:|---:|---:|");
    for (name, samples) in [
        ("commit → first fresh request", &to_fresh),
        ("commit → fresh answer received", &to_received),
    ] {
        println!(
            "| {name} | {:.2} | {:.2} | {:.2} | {:.2} |",
            percentile(samples, 0.5),
            percentile(samples, 0.9),
            percentile(samples, 0.99),
            samples.last().unwrap().as_secs_f64() * 1000.0
        );
    }
}
