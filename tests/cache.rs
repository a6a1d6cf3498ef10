//! The two cache tiers against the real Redis and PostgreSQL: hits, shared entries for
//! equivalent spellings, Redis TTLs, promotion, one fill per key, Redis outages, ETag/304, and
//! stale answers with time under the test's control.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{eventually, get, request, Forwarder, Reply, TestDb, TestRedis, TestServer};
use gallery_proxy::cache::clock::{ManualClock, SystemClock};
use gallery_proxy::gallery::key::CacheKey;
use gallery_proxy::gallery::params::{parse, Limits};
use sqlx::PgConnection;

const ALL4: &str = "content_source_types=user-regular&content_source_types=user-auto&content_source_types=community-regular&content_source_types=community-auto";
const U: &str = "121e194b-4caa-4b81-ad4f-86ca3919d5b9";

fn status(reply: &Reply) -> &str {
    reply.header("cache-status").unwrap_or("")
}

fn age(reply: &Reply) -> u64 {
    reply.header("age").unwrap().parse().unwrap()
}

/// The `ttl=` member of Cache-Status.
fn ttl(reply: &Reply) -> i64 {
    status(reply)
        .split("; ")
        .find_map(|m| m.strip_prefix("ttl="))
        .unwrap()
        .parse()
        .unwrap()
}

/// Headers that must not depend on the tier that answered.
fn tier_independent(reply: &Reply) -> Vec<(String, String)> {
    reply
        .headers
        .iter()
        .filter(|(n, _)| !matches!(n.as_str(), "date" | "age" | "cache-status"))
        .cloned()
        .collect()
}

/// Holds an exclusive lock on `table` in an open transaction until dropped or released: every
/// statement reading the table waits.
async fn lock(db: &TestDb, table: &str) -> PgConnection {
    let mut conn = db.connect().await;
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "BEGIN; LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE"
    )))
    .execute(&mut conn)
    .await
    .unwrap();
    conn
}

async fn release(mut conn: PgConnection) {
    sqlx::raw_sql("ROLLBACK").execute(&mut conn).await.unwrap();
}

/// Statements of the proxy (other connections to this database) waiting for a lock.
async fn waiting_statements(db: &TestDb) -> i64 {
    let mut conn = db.connect().await;
    sqlx::query_scalar(
        "SELECT count(*) FROM pg_stat_activity
         WHERE datname = current_database() AND wait_event_type = 'Lock'",
    )
    .fetch_one(&mut conn)
    .await
    .unwrap()
}

#[tokio::test]
async fn second_request_is_a_memory_hit_with_the_same_headers() {
    let db = TestDb::seeded().await;
    let server = TestServer::start(&db).await;
    let q = format!("page_size=3&{ALL4}&user_id={U}");
    let first = server.gallery(&q).await;
    assert_eq!(first.status, 200);
    assert!(
        status(&first).starts_with("gallery-proxy; fwd=miss; stored; ttl="),
        "{}",
        status(&first)
    );
    assert!(status(&first).ends_with("; detail=postgres"));
    let ttl_first = ttl(&first);
    assert!((299..=600).contains(&ttl_first), "{ttl_first}");
    let second = server.gallery(&q).await;
    assert!(
        status(&second).starts_with("gallery-proxy; hit; ttl="),
        "{}",
        status(&second)
    );
    assert!(status(&second).ends_with("; detail=memory"));
    assert_eq!(second.body, first.body);
    assert_eq!(tier_independent(&second), tier_independent(&first));
    assert_eq!(first.header("cache-control"), Some("no-cache"));
    assert!(first.header("etag").unwrap().starts_with('"'));
}

#[tokio::test]
async fn equivalent_spellings_share_one_entry() {
    let db = TestDb::seeded().await;
    let server = TestServer::start(&db).await;
    let (a, b) = (
        "c33a03d4-d74d-42b1-b9bb-4835c45229a9",
        "0b6b2f4e-8f8a-4a59-9a43-1d2a8f1c9e11",
    );
    let first = server
        .gallery(&format!("tag={b}&tag={a}&page_size=4"))
        .await;
    assert!(status(&first).contains("fwd=miss"));
    for spelling in [
        format!("tag={a}&tag={b}&page_size=4"),
        format!("tag={a}&tag={b}&tag={}&page_size=4", a.to_uppercase()),
        format!(
            "tag=%7B{a}%7D&tag_names={}&page=1&page_size=4&sort_order=DESC",
            b.replace('-', "")
        ),
    ] {
        let reply = server.gallery(&spelling).await;
        assert!(
            status(&reply).contains("; hit;"),
            "{spelling}: {}",
            status(&reply)
        );
        assert_eq!(reply.body, first.body);
    }
    // A query that differs is its own entry.
    let other = server
        .gallery(&format!("tag={a}&tag={b}&page_size=4&tag_match=all"))
        .await;
    assert!(status(&other).contains("fwd=miss"), "{}", status(&other));
}

#[tokio::test]
async fn redis_entries_live_between_ttl_min_and_ttl_max() {
    let db = TestDb::seeded().await;
    let redis = TestRedis::new();
    let server = TestServer::cached(&db, &redis, Arc::new(SystemClock)).await;
    for page in 1..=5 {
        let q = format!("page={page}&page_size=2&sort_field=quality_score");
        assert_eq!(server.gallery(&q).await.status, 200);
        let key = CacheKey::page(&parse(&q, &Limits::default()).unwrap());
        let name = format!("{}page:{}", redis.prefix, key.hex());
        let pttl = redis.pttl(&name).await;
        // The fill itself takes a few milliseconds of the drawn lifetime.
        assert!((299_000..=600_000).contains(&pttl), "{name}: {pttl}");
    }
    let keys = redis.keys().await;
    assert_eq!(keys.iter().filter(|k| k.contains(":page:")).count(), 5);
    assert_eq!(
        keys.iter().filter(|k| k.contains(":count:")).count(),
        1,
        "{keys:?}"
    );
    assert!(
        !keys.iter().any(|k| k.contains(":lock:")),
        "locks are released: {keys:?}"
    );
}

#[tokio::test]
async fn redis_hits_are_promoted_with_their_original_age() {
    let db = TestDb::seeded().await;
    let redis = TestRedis::new();
    let clock = ManualClock::new();
    let filler = TestServer::cached(&db, &redis, clock.clone()).await;
    let reader = TestServer::cached(&db, &redis, clock.clone()).await;
    let q = "page_size=5&sort_order=asc";
    let filled = filler.gallery(q).await;
    assert!(status(&filled).contains("fwd=miss; stored"));
    assert_eq!(age(&filled), 0);

    clock.advance_ms(100_000);
    let from_redis = reader.gallery(q).await;
    assert_eq!(
        status(&from_redis),
        format!(
            "gallery-proxy; hit; ttl={}; detail=redis",
            ttl(&filled) - 100
        )
    );
    assert_eq!(age(&from_redis), 100);
    assert_eq!(from_redis.body, filled.body);
    assert_eq!(tier_independent(&from_redis), tier_independent(&filled));

    let promoted = reader.gallery(q).await;
    assert_eq!(
        status(&promoted),
        format!(
            "gallery-proxy; hit; ttl={}; detail=memory",
            ttl(&filled) - 100
        )
    );
    assert_eq!(age(&promoted), 100);

    // The promoted entry ends when the original does, not a full TTL after promotion.
    clock.advance_ms((ttl(&filled) as u64 - 100) * 1000 + 1_000);
    let after = reader.gallery(q).await;
    assert!(
        !status(&after).contains("; hit; ttl=2"),
        "{}",
        status(&after)
    );
    assert!(
        ttl(&after) < 0 || status(&after).contains("fwd=miss"),
        "{}",
        status(&after)
    );
}

#[tokio::test]
async fn a_burst_of_identical_cold_requests_runs_one_query() {
    let db = TestDb::seeded().await;
    let server = TestServer::start(&db).await;
    let q = format!("page_size=7&{ALL4}&user_id={U}&sort_field=quality_score");
    // The page query joins users; while users is locked the one fill waits there.
    let locker = lock(&db, "users").await;
    let api = server.api;
    let mut burst = tokio::task::JoinSet::new();
    for _ in 0..200 {
        let target = format!("/api/v1/content/unified?{q}");
        burst.spawn(async move { get(api, &target).await });
    }
    let coalesced = "gallery_proxy_cache_coalesced_total";
    eventually("199 requests to join the fill", || async {
        server.metric(coalesced).await >= 199.0
    })
    .await;
    eventually("the fill to reach PostgreSQL", || async {
        waiting_statements(&db).await >= 1
    })
    .await;
    // No other request may start a query of its own.
    for _ in 0..20 {
        assert_eq!(waiting_statements(&db).await, 1);
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    release(locker).await;
    let mut leaders = 0;
    let mut bodies = std::collections::HashSet::new();
    while let Some(reply) = burst.join_next().await {
        let reply = reply.unwrap();
        assert_eq!(reply.status, 200, "{}", reply.text());
        if status(&reply).contains("collapsed") {
            assert!(status(&reply).starts_with("gallery-proxy; fwd=miss; collapsed; stored"));
        } else {
            leaders += 1;
        }
        bodies.insert(reply.body);
    }
    assert_eq!(leaders, 1);
    assert_eq!(bodies.len(), 1);
    assert_eq!(server.metric(coalesced).await, 199.0);
}

#[tokio::test]
async fn a_client_that_leaves_does_not_cancel_the_fill_it_leads() {
    let db = TestDb::seeded().await;
    let server = TestServer::start(&db).await;
    let target = "/api/v1/content/unified?page_size=6&sort_order=asc&sort_field=quality_score";
    let locker = lock(&db, "users").await;
    let api = server.api;
    let leader = tokio::spawn(async move { get(api, target).await });
    eventually("the fill to reach PostgreSQL", || async {
        waiting_statements(&db).await >= 1
    })
    .await;
    leader.abort();
    let _ = leader.await;
    let follower = tokio::spawn(async move { get(api, target).await });
    eventually("the follower to join", || async {
        server.metric("gallery_proxy_cache_coalesced_total").await >= 1.0
    })
    .await;
    release(locker).await;
    let reply = follower.await.unwrap();
    assert_eq!(reply.status, 200);
    assert!(status(&reply).contains("collapsed"), "{}", status(&reply));
}

#[tokio::test]
async fn a_dead_redis_costs_no_request() {
    let db = TestDb::seeded().await;
    let server = TestServer::start_with(&db, |s| {
        s.redis.url = Some("redis://127.0.0.1:1".into());
    })
    .await;
    for page in 1..=10 {
        let reply = server.gallery(&format!("page={page}&page_size=2")).await;
        assert_eq!(reply.status, 200, "{}", reply.text());
        assert!(
            status(&reply).contains("fwd=miss; stored"),
            "memory still stores"
        );
        assert_eq!(
            server
                .gallery(&format!("page={page}&page_size=2"))
                .await
                .status,
            200
        );
    }
    assert!(
        server
            .metric("gallery_proxy_redis_errors_total{op=\"get\"}")
            .await
            >= 1.0
    );
    assert!(
        server
            .metric("gallery_proxy_redis_skipped_total{op=\"get\"}")
            .await
            >= 1.0
    );
    assert_eq!(server.metric("gallery_proxy_redis_breaker_open").await, 1.0);
}

#[tokio::test]
async fn redis_stopping_mid_test_costs_no_request() {
    let db = TestDb::seeded().await;
    let redis = TestRedis::new();
    let forwarder = Forwarder::start().await;
    let server = TestServer::start_with(&db, |s| {
        s.redis.url = Some(forwarder.url());
        s.redis.key_prefix = redis.prefix.clone();
    })
    .await;
    for page in 1..=3 {
        assert_eq!(server.gallery(&format!("page={page}")).await.status, 200);
    }
    assert_eq!(
        redis
            .keys()
            .await
            .iter()
            .filter(|k| k.contains(":page:"))
            .count(),
        3
    );
    forwarder.cut();
    for page in 1..=20 {
        let reply = server.gallery(&format!("page={page}")).await;
        assert_eq!(reply.status, 200, "{}", reply.text());
    }
    assert!(
        server
            .metric("gallery_proxy_redis_errors_total{op=\"get\"}")
            .await
            >= 1.0
    );
}

#[tokio::test]
async fn etag_revalidation_is_a_304_with_the_same_headers() {
    let db = TestDb::seeded().await;
    let server = TestServer::start(&db).await;
    let target = "/api/v1/content/unified?page_size=2&include_stats=true";
    let full = get(server.api, target).await;
    let etag = full.header("etag").unwrap().to_string();
    let not_modified = request(server.api, "GET", target, &[("if-none-match", &etag)]).await;
    assert_eq!(not_modified.status, 304);
    assert!(not_modified.body.is_empty());
    for name in ["etag", "cache-control", "age"] {
        assert_eq!(not_modified.header(name), full.header(name), "{name}");
    }
    assert!(status(&not_modified).contains("; hit;"));
    let list = format!("\"nope\", W/{etag}");
    let weak = request(server.api, "GET", target, &[("if-none-match", &list)]).await;
    assert_eq!(weak.status, 304);
    let changed = request(server.api, "GET", target, &[("if-none-match", "\"nope\"")]).await;
    assert_eq!(changed.status, 200);
    assert_eq!(changed.body, full.body);
}

#[tokio::test]
async fn page_two_reuses_the_count_of_page_one() {
    let db = TestDb::seeded().await;
    let server = TestServer::start_with(&db, |s| s.database.statement_timeout_ms = 500).await;
    let first = server.gallery("page_size=3&sort_field=quality_score").await;
    assert_eq!(first.status, 200);
    // An untagged count reads the item counters, which an untagged page never does: with the
    // counters locked, only the cached count can answer page 2 within the statement timeout.
    let locker = lock(&db, "gallery_proxy.item_counts").await;
    let second = server
        .gallery("page_size=3&sort_field=quality_score&page=2")
        .await;
    assert_eq!(second.status, 200, "{}", second.text());
    assert_eq!(
        second.json()["pagination"]["total_count"],
        first.json()["pagination"]["total_count"]
    );
    release(locker).await;
}

fn stale_settings(s: &mut gallery_proxy::config::Settings) {
    s.cache.ttl_min_s = 10;
    s.cache.ttl_max_s = 10;
    s.cache.stale_while_revalidate_s = 30;
    s.cache.stale_if_error_s = 300;
    s.database.statement_timeout_ms = 300;
}

#[tokio::test]
async fn stale_while_revalidate_serves_the_old_entry_and_refreshes_once() {
    let db = TestDb::seeded().await;
    let clock = ManualClock::new();
    let server = TestServer::start_with_clock(&db, clock.clone(), stale_settings).await;
    let q = "page_size=2&sort_field=quality_score";
    let filled = server.gallery(q).await;
    assert_eq!(ttl(&filled), 10);
    clock.advance_ms(15_000);
    let stale = server.gallery(q).await;
    assert_eq!(
        status(&stale),
        "gallery-proxy; hit; ttl=-5; stale=revalidate; detail=memory"
    );
    assert_eq!(age(&stale), 15);
    assert_eq!(stale.body, filled.body);
    eventually("the background refresh", || async {
        let reply = server.gallery(q).await;
        status(&reply) == "gallery-proxy; hit; ttl=10; detail=memory" && age(&reply) == 0
    })
    .await;
    assert_eq!(
        server
            .metric("gallery_proxy_cache_fills_total{result=\"stored\"}")
            .await,
        2.0,
        "one fill, one refresh"
    );
}

#[tokio::test]
async fn stale_if_error_answers_when_postgres_fails() {
    let db = TestDb::seeded().await;
    let clock = ManualClock::new();
    let server = TestServer::start_with_clock(&db, clock.clone(), stale_settings).await;
    let q = "page_size=2&sort_order=asc";
    let filled = server.gallery(q).await;
    clock.advance_ms(60_000);
    let locker = lock(&db, "content_items_auto").await;
    let stale = server.gallery(q).await;
    assert_eq!(stale.status, 200, "{}", stale.text());
    assert_eq!(
        status(&stale),
        "gallery-proxy; fwd=stale; fwd-status=504; ttl=-50; stale=if-error; detail=memory"
    );
    assert_eq!(age(&stale), 60);
    assert_eq!(stale.body, filled.body);
    // Without an entry to fall back on, the error itself.
    let none = server.gallery("page_size=3&sort_order=asc").await;
    assert_eq!(none.status, 504);
    assert_eq!(none.json()["error_type"], "statement_timeout");
    // Past the stale-if-error window the entry is no answer either.
    clock.advance_ms(300_000);
    assert_eq!(server.gallery(q).await.status, 504);
    release(locker).await;
}
