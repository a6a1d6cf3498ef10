//! Invalidation on writes against the real PostgreSQL (triggers, outbox, LISTEN) and Redis:
//! every kind of write reaches the cache, unaffected entries stay hits, a fill that read before
//! a write is never served after it (memory and Redis), two proxies sharing Redis both drop the
//! old answer, purges need the token, dropped connections (the listener alone, or all of them
//! as in a database restart) lose nothing, old events are pruned, and bulk writes produce a
//! bounded number of events.
//!
//! "Fresh" is checked against the same server code with both tiers off (a direct read of the
//! same query), right after the server reports the write's events applied: no polling for the
//! right answer, so a stale read fails the test.

mod common;

use std::sync::Arc;

use common::{request, Reply, TestDb, TestRedis, TestServer};
use gallery_proxy::app::BuildOptions;
use gallery_proxy::readthrough::FillPause;
use gallery_proxy::store::postgres::outbox;
use uuid::Uuid;

const ALL4: &str = "content_source_types=user-regular&content_source_types=user-auto&content_source_types=community-regular&content_source_types=community-auto";
const REGULAR: &str = "content_source_types=user-regular&content_source_types=community-regular";
const AUTO: &str = "content_source_types=user-auto&content_source_types=community-auto";
const U: &str = "121e194b-4caa-4b81-ad4f-86ca3919d5b9";

fn status(reply: &Reply) -> &str {
    reply.header("cache-status").unwrap_or("")
}

fn is_memory_hit(reply: &Reply) -> bool {
    let status = status(reply);
    status.contains("; hit") && status.contains("detail=memory")
}

/// Tags by how many items carry them, most first.
async fn tags_by_popularity(db: &TestDb) -> Vec<Uuid> {
    let mut conn = db.connect().await;
    sqlx::query_scalar(
        "SELECT tag_id FROM content_tags GROUP BY tag_id ORDER BY count(*) DESC, tag_id",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap()
}

fn q(sources: &str, rest: &str) -> String {
    format!("{sources}&user_id={U}&page_size=5{rest}")
}

/// A cached server (memory and Redis) and an uncached one on the same database.
struct Pair {
    cached: TestServer,
    direct: TestServer,
}

impl Pair {
    async fn new(db: &TestDb, redis: &TestRedis) -> Pair {
        Pair {
            cached: TestServer::start_with(db, |s| redis.configure(s)).await,
            direct: TestServer::uncached(db).await,
        }
    }

    /// Asserts the cached server answers `query` exactly as a direct read does.
    async fn assert_fresh(&self, query: &str, why: &str) -> Reply {
        let cached = self.cached.gallery(query).await;
        let direct = self.direct.gallery(query).await;
        assert_eq!(cached.status, 200, "{why}: {}", cached.text());
        assert_eq!(
            cached.text(),
            direct.text(),
            "{why}: stale answer ({})",
            status(&cached)
        );
        cached
    }
}

#[tokio::test]
async fn every_kind_of_write_reaches_the_cache() {
    let db = TestDb::seeded().await;
    let redis = TestRedis::new();
    let pair = Pair::new(&db, &redis).await;
    let tags = tags_by_popularity(&db).await;
    let (popular, second) = (tags[0], tags[1]);
    let newest_regular_with_popular = format!(
        "(SELECT c.id FROM content_items c JOIN content_tags ct ON ct.content_id = c.id \
           AND ct.content_source = 'regular' AND ct.tag_id = '{popular}' \
          ORDER BY c.created_at DESC, c.id DESC LIMIT 1)"
    );
    let cases: Vec<(&str, String, String)> = vec![
        (
            "a tag added to an item",
            q(ALL4, &format!("&tag={popular}")),
            format!(
                "INSERT INTO content_tags SELECT c.id, 'auto', '{popular}' FROM content_items_auto c \
                  WHERE NOT EXISTS (SELECT 1 FROM content_tags WHERE content_id = c.id \
                                      AND content_source = 'auto' AND tag_id = '{popular}') \
                  ORDER BY c.created_at DESC LIMIT 1"
            ),
        ),
        (
            "a tag removed from an item",
            q(ALL4, &format!("&tag={popular}")),
            format!(
                "DELETE FROM content_tags WHERE tag_id = '{popular}' AND content_source = 'auto' \
                   AND content_id = (SELECT max(content_id) FROM content_tags \
                                      WHERE tag_id = '{popular}' AND content_source = 'auto')"
            ),
        ),
        (
            "content added",
            q(ALL4, ""),
            format!(
                "INSERT INTO content_items_auto (title, content_type, content_data, creator_id, \
                   created_at, updated_at, prompt) VALUES ('fresh', 'image', 'x.png', '{U}', \
                   now() AT TIME ZONE 'utc', now() AT TIME ZONE 'utc', 'todo')"
            ),
        ),
        (
            "content removed",
            q(ALL4, ""),
            "DELETE FROM content_items_auto WHERE id = (SELECT id FROM content_items_auto \
               ORDER BY created_at DESC, id DESC LIMIT 1)"
                .to_string(),
        ),
        (
            "a quality score changed",
            q(REGULAR, &format!("&tag={popular}")),
            format!(
                "UPDATE content_items SET quality_score = 0.123 WHERE id = {newest_regular_with_popular}"
            ),
        ),
        (
            "metadata changed (shown, not filtered)",
            q(REGULAR, &format!("&tag={popular}")),
            format!(
                "UPDATE content_items SET item_metadata = jsonb_set(coalesce(item_metadata, '{{}}'), \
                   '{{style}}', '\"changed\"') WHERE id = {newest_regular_with_popular}"
            ),
        ),
        (
            "a creator renamed",
            q(REGULAR, ""),
            "UPDATE users SET username = username || '_renamed' WHERE id = \
               (SELECT creator_id FROM content_items ORDER BY created_at DESC, id DESC LIMIT 1)"
                .to_string(),
        ),
        (
            "stats refreshed",
            q(ALL4, "&include_stats=true"),
            "DELETE FROM gen_source_stats; INSERT INTO gen_source_stats (user_id, source_type, count) \
               VALUES (NULL, 'regular', 12345), (NULL, 'auto', 67890)"
                .to_string(),
        ),
        (
            "a tag deleted",
            q(ALL4, &format!("&tag={second}")),
            format!("DELETE FROM tags WHERE id = '{second}'"),
        ),
    ];
    for (why, query, write) in cases {
        pair.cached.gallery(&query).await;
        let before = pair.cached.gallery(&query).await;
        assert!(
            is_memory_hit(&before),
            "{why}: primed ({})",
            status(&before)
        );
        db.execute(&write).await;
        pair.cached.caught_up().await;
        let after = pair.assert_fresh(&query, why).await;
        assert_ne!(
            after.text(),
            before.text(),
            "{why}: the write changes the answer"
        );
    }
}

#[tokio::test]
async fn entries_a_write_cannot_affect_stay_hits() {
    let db = TestDb::seeded().await;
    let redis = TestRedis::new();
    let pair = Pair::new(&db, &redis).await;
    let tags = tags_by_popularity(&db).await;
    let (popular, other) = (tags[0], tags[4]);
    let tagged = q(ALL4, &format!("&tag={popular}"));
    let other_tag_auto = q(AUTO, &format!("&tag={other}"));
    let untagged = q(ALL4, "");
    let untagged_regular = q(REGULAR, "");
    let queries = [&tagged, &other_tag_auto, &untagged, &untagged_regular];
    for query in queries {
        pair.cached.gallery(query).await;
    }

    // Genonaut's flow: an item is committed before its tags. Only untagged queries over its
    // partition can change.
    db.execute(&format!(
        "INSERT INTO content_items_auto (title, content_type, content_data, creator_id, created_at, \
           updated_at, prompt) VALUES ('untagged', 'image', 'x.png', '{U}', \
           now() AT TIME ZONE 'utc', now() AT TIME ZONE 'utc', 'todo')"
    ))
    .await;
    pair.cached.caught_up().await;
    for query in [&tagged, &other_tag_auto, &untagged_regular] {
        let reply = pair.cached.gallery(query).await;
        assert!(is_memory_hit(&reply), "{query}: {}", status(&reply));
    }
    let reply = pair
        .assert_fresh(&untagged, "untagged after an insert")
        .await;
    assert!(status(&reply).contains("fwd=miss"), "{}", status(&reply));

    // A tag added to an old auto item shown on no cached page: only that tag's entries change.
    db.execute(&format!(
        "INSERT INTO content_tags SELECT c.id, 'auto', '{popular}' FROM content_items_auto c \
          WHERE NOT EXISTS (SELECT 1 FROM content_tags WHERE content_id = c.id \
                              AND content_source = 'auto' AND tag_id = '{popular}') \
          ORDER BY c.created_at, c.id LIMIT 1"
    ))
    .await;
    pair.cached.caught_up().await;
    for query in [&other_tag_auto, &untagged, &untagged_regular] {
        let reply = pair.cached.gallery(query).await;
        assert!(is_memory_hit(&reply), "{query}: {}", status(&reply));
    }
    let reply = pair
        .assert_fresh(&tagged, "tagged after a tag insert")
        .await;
    assert!(status(&reply).contains("fwd=miss"), "{}", status(&reply));
}

#[tokio::test]
async fn a_fill_that_read_before_a_write_is_never_served_after_it() {
    let db = TestDb::seeded().await;
    let redis = TestRedis::new();
    let pause = Arc::new(FillPause::default());
    let options = BuildOptions {
        fill_pause: Some(pause.clone()),
        ..BuildOptions::default()
    };
    let adjust = |s: &mut gallery_proxy::config::Settings| redis.configure(s);
    let server = Arc::new(TestServer::start_with_options(&db, options, adjust).await);
    let direct = TestServer::uncached(&db).await;
    let popular = tags_by_popularity(&db).await[0];
    let query = q(ALL4, &format!("&tag={popular}"));

    // A cold request's fill runs its SQL, then stops before storing.
    pause.arm();
    let held = {
        let (server, query) = (server.clone(), query.clone());
        tokio::spawn(async move { server.gallery(&query).await })
    };
    pause.reached.notified().await;
    let old = direct.gallery(&query).await;

    // A write commits and its events are applied while the fill is held.
    db.execute(&format!(
        "DELETE FROM content_tags WHERE tag_id = '{popular}' AND content_source = 'auto' \
           AND content_id = (SELECT max(content_id) FROM content_tags \
                              WHERE tag_id = '{popular}' AND content_source = 'auto')"
    ))
    .await;
    server.caught_up().await;
    let new = direct.gallery(&query).await;
    assert_ne!(old.text(), new.text());

    // Released: the request that began before the write gets the old answer, unstored.
    pause.release.notify_one();
    let first = held.await.unwrap();
    assert_eq!(first.text(), old.text());
    assert!(!status(&first).contains("stored"), "{}", status(&first));

    // Memory: the next request reads anew.
    let next = server.gallery(&query).await;
    assert_eq!(next.text(), new.text(), "memory served the fenced fill");
    assert!(status(&next).contains("fwd=miss"), "{}", status(&next));

    // Redis: a process with an empty memory tier does not get it either.
    let other = TestServer::start_with(&db, adjust).await;
    let from_other = other.gallery(&query).await;
    assert_eq!(
        from_other.text(),
        new.text(),
        "Redis served the fenced fill"
    );
}

#[tokio::test]
async fn a_fenced_entry_already_in_redis_is_not_served() {
    // The other order: the fill stores first (before the write's events reach this process),
    // and another process that applied the write must not serve it from Redis.
    let db = TestDb::seeded().await;
    let redis = TestRedis::new();
    let pair = Pair::new(&db, &redis).await;
    let popular = tags_by_popularity(&db).await[0];
    let query = q(ALL4, &format!("&tag={popular}"));
    let first = pair.cached.gallery(&query).await;
    assert!(status(&first).contains("stored"), "{}", status(&first));
    db.execute(&format!(
        "DELETE FROM content_tags WHERE tag_id = '{popular}' AND content_source = 'regular' \
           AND content_id = (SELECT max(content_id) FROM content_tags \
                              WHERE tag_id = '{popular}' AND content_source = 'regular')"
    ))
    .await;
    pair.cached.caught_up().await;
    let other = TestServer::start_with(&db, |s| redis.configure(s)).await;
    other.caught_up().await;
    let reply = other.gallery(&query).await;
    assert_eq!(reply.text(), pair.direct.gallery(&query).await.text());
    assert!(
        !status(&reply).contains("detail=redis"),
        "{}",
        status(&reply)
    );
}

#[tokio::test]
async fn two_proxies_sharing_redis_both_drop_the_old_answer() {
    let db = TestDb::seeded().await;
    let redis = TestRedis::new();
    let adjust = |s: &mut gallery_proxy::config::Settings| redis.configure(s);
    let a = TestServer::start_with(&db, adjust).await;
    let b = TestServer::start_with(&db, adjust).await;
    let direct = TestServer::uncached(&db).await;
    let query = q(ALL4, "");
    let filled = a.gallery(&query).await;
    assert!(status(&filled).contains("fwd=miss"));
    let promoted = b.gallery(&query).await;
    assert!(
        status(&promoted).contains("detail=redis"),
        "{}",
        status(&promoted)
    );
    assert!(is_memory_hit(&a.gallery(&query).await));
    assert!(is_memory_hit(&b.gallery(&query).await));

    db.execute(
        "UPDATE content_items_auto SET title = 'retitled' WHERE id = \
           (SELECT id FROM content_items_auto ORDER BY created_at DESC, id DESC LIMIT 1)",
    )
    .await;
    a.caught_up().await;
    b.caught_up().await;
    let fresh = direct.gallery(&query).await.text();
    assert!(fresh.contains("retitled"));
    assert_eq!(a.gallery(&query).await.text(), fresh, "proxy A");
    assert_eq!(b.gallery(&query).await.text(), fresh, "proxy B");
}

#[tokio::test]
async fn purges_need_the_token_and_reach_the_entries() {
    let db = TestDb::seeded().await;
    let redis = TestRedis::new();
    let server = TestServer::start_with(&db, |s| {
        redis.configure(s);
        s.invalidation.purge_token = Some("s3cret".into());
    })
    .await;
    let popular = tags_by_popularity(&db).await[0];
    let tagged = q(ALL4, &format!("&tag={popular}"));
    let untagged = q(ALL4, "");
    server.gallery(&tagged).await;
    server.gallery(&untagged).await;

    let purge = |path: String, token: Option<&'static str>| {
        let admin = server.admin;
        async move {
            let mut headers = vec![];
            if let Some(token) = token {
                headers.push(("authorization", format!("Bearer {token}")));
            }
            let headers: Vec<(&str, &str)> =
                headers.iter().map(|(n, v)| (*n, v.as_str())).collect();
            request(admin, "POST", &path, &headers).await
        }
    };
    for token in [None, Some("wrong")] {
        for path in ["/purge/all".to_string(), format!("/purge/tag/{popular}")] {
            let reply = purge(path.clone(), token).await;
            assert_eq!(reply.status, 401, "{path} with {token:?}");
        }
    }
    server.caught_up().await;
    assert!(
        is_memory_hit(&server.gallery(&tagged).await),
        "nothing purged"
    );
    assert!(
        is_memory_hit(&server.gallery(&untagged).await),
        "nothing purged"
    );

    // By tag (an upper-case spelling): only the tagged entry goes.
    let reply = purge(
        format!("/purge/tag/{}", popular.to_string().to_uppercase()),
        Some("s3cret"),
    )
    .await;
    assert_eq!(reply.status, 202, "{}", reply.text());
    server.caught_up().await;
    assert!(status(&server.gallery(&tagged).await).contains("fwd=miss"));
    assert!(is_memory_hit(&server.gallery(&untagged).await));

    // By query: that query's entry.
    let reply = purge(format!("/purge/query?{untagged}"), Some("s3cret")).await;
    assert_eq!(reply.status, 202, "{}", reply.text());
    server.caught_up().await;
    assert!(status(&server.gallery(&untagged).await).contains("fwd=miss"));
    assert!(is_memory_hit(&server.gallery(&tagged).await));

    // Everything.
    assert_eq!(purge("/purge/all".into(), Some("s3cret")).await.status, 202);
    server.caught_up().await;
    assert!(status(&server.gallery(&tagged).await).contains("fwd=miss"));
    assert!(status(&server.gallery(&untagged).await).contains("fwd=miss"));
    assert_eq!(
        purge("/purge/query?page=0".into(), Some("s3cret"))
            .await
            .status,
        422,
        "a bad query is the gallery route's own error"
    );
}

#[tokio::test]
async fn dropped_connections_lose_no_invalidation() {
    let db = TestDb::seeded().await;
    let redis = TestRedis::new();
    let pair = Pair::new(&db, &redis).await;
    let query = q(ALL4, "");
    pair.cached.gallery(&query).await;
    pair.cached.caught_up().await;
    let mut conn = db.connect().await;
    // The LISTEN connection alone; then every connection at once, as a database restart does.
    // Each time the write lands while the consumer is reconnecting.
    for (which, at_least, title) in [
        ("query LIKE 'LISTEN%'", 1, "while away"),
        ("pid <> pg_backend_pid()", 2, "after a restart"),
    ] {
        let killed: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity \
              WHERE datname = current_database() AND {which}"
        )))
        .fetch_one(&mut conn)
        .await
        .unwrap();
        assert!(killed >= at_least, "{which}: {killed} connections");
        db.execute(&format!(
            "UPDATE content_items_auto SET title = '{title}' WHERE id = \
               (SELECT id FROM content_items_auto ORDER BY created_at DESC, id DESC LIMIT 1)"
        ))
        .await;
        pair.cached.caught_up().await;
        let reply = pair.assert_fresh(&query, which).await;
        assert!(reply.text().contains(title));
    }
}

#[tokio::test]
async fn an_event_committed_after_a_later_one_is_still_applied() {
    let db = TestDb::seeded().await;
    let redis = TestRedis::new();
    let pair = Pair::new(&db, &redis).await;
    let tags = tags_by_popularity(&db).await;
    let (early, late) = (
        q(ALL4, &format!("&tag={}", tags[0])),
        q(ALL4, &format!("&tag={}", tags[1])),
    );
    pair.cached.gallery(&early).await;
    pair.cached.gallery(&late).await;
    let remove_newest = |tag: Uuid| {
        format!(
            "DELETE FROM content_tags WHERE tag_id = '{tag}' AND content_source = 'auto' \
               AND content_id = (SELECT max(content_id) FROM content_tags \
                                  WHERE tag_id = '{tag}' AND content_source = 'auto')"
        )
    };

    // The first transaction takes its outbox ids, then waits; a second one commits after it.
    let mut first = db.connect().await;
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "BEGIN; {}",
        remove_newest(tags[0])
    )))
    .execute(&mut first)
    .await
    .unwrap();
    db.execute(&remove_newest(tags[1])).await;
    pair.cached.caught_up().await;
    pair.assert_fresh(&late, "the later id, committed first")
        .await;

    sqlx::raw_sql("COMMIT").execute(&mut first).await.unwrap();
    pair.cached.caught_up().await;
    pair.assert_fresh(&early, "the earlier id, committed last")
        .await;
}

#[tokio::test]
async fn readiness_says_when_the_outbox_cannot_be_read() {
    let db = TestDb::seeded().await;
    let server = TestServer::start(&db).await;
    server.caught_up().await;
    assert_eq!(common::get(server.admin, "/readyz").await.status, 200);
    // The outbox gone (as on a database never migrated to 0005): requests still read
    // PostgreSQL, but this process can no longer hear about writes.
    db.execute("ALTER TABLE gallery_proxy.change_events RENAME TO change_events_gone")
        .await;
    common::eventually("readiness to turn", || async {
        common::get(server.admin, "/readyz").await.status == 503
    })
    .await;
    let reply = common::get(server.admin, "/readyz").await;
    assert_eq!(reply.json()["invalidation"], "behind", "{}", reply.text());
    db.execute("ALTER TABLE gallery_proxy.change_events_gone RENAME TO change_events")
        .await;
    common::eventually("readiness to come back", || async {
        common::get(server.admin, "/readyz").await.status == 200
    })
    .await;
}

#[tokio::test]
async fn old_events_are_pruned_and_their_ids_remembered() {
    let db = TestDb::seeded().await;
    let pool = sqlx::PgPool::connect(&db.url).await.unwrap();
    db.execute(
        "INSERT INTO gallery_proxy.change_events (dep, written_at) \
           VALUES ('tag:auto:old', now() - interval '2 hours'), ('set:auto', now())",
    )
    .await;
    let pruned = outbox::prune(&pool, 3_600_000).await.unwrap();
    assert_eq!(pruned, 1, "only the event older than the retention");
    let left: Vec<String> = sqlx::query_scalar("SELECT dep FROM gallery_proxy.change_events")
        .fetch_all(&pool)
        .await
        .unwrap();
    assert_eq!(left, vec!["set:auto".to_string()]);
    let through = outbox::pruned_through(&pool).await.unwrap();
    let remaining: i64 = sqlx::query_scalar("SELECT min(id) FROM gallery_proxy.change_events")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert!(
        through >= 1 && through < remaining,
        "{through} < {remaining}"
    );
    pool.close().await;
}

#[tokio::test]
async fn a_bulk_backfill_produces_a_bounded_number_of_events() {
    let db = TestDb::seeded().await;
    let mut conn = db.connect().await;
    let before: i64 = sqlx::query_scalar("SELECT count(*) FROM gallery_proxy.change_events")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    let inserted = sqlx::query(
        "INSERT INTO content_tags (content_id, content_source, tag_id) \
         SELECT c.id, 'auto', t.id FROM content_items_auto c CROSS JOIN tags t \
          WHERE NOT EXISTS (SELECT 1 FROM content_tags ct WHERE ct.content_id = c.id \
                              AND ct.content_source = 'auto' AND ct.tag_id = t.id) \
          LIMIT 100000",
    )
    .execute(&mut conn)
    .await
    .unwrap()
    .rows_affected();
    assert_eq!(inserted, 100_000);
    let events: Vec<String> =
        sqlx::query_scalar("SELECT dep FROM gallery_proxy.change_events ORDER BY id OFFSET $1")
            .bind(before)
            .fetch_all(&mut conn)
            .await
            .unwrap();
    let tags: i64 = sqlx::query_scalar("SELECT count(*) FROM tags")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    // One per tag written, the first 1000 items whose metadata Genonaut's trigger rewrote, and
    // one part:auto standing for the rest.
    assert!(
        events.len() as i64 <= tags + 1000 + 1,
        "{} events for a 100,000-row statement",
        events.len()
    );
    assert!(events.contains(&"part:auto".to_string()));
    assert!(events.iter().any(|e| e.starts_with("tag:auto:")));
}
