//! The consistency check of invariant 2: random tag and content writes interleaved with random
//! reads through two proxies sharing Redis, while a background reader keeps filling entries
//! (so fills race the writes). After each write's events are applied, every checked read must
//! equal a direct read of the same query (both tiers off): zero mismatches.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use common::{TestDb, TestRedis, TestServer};
use uuid::Uuid;

const ALL4: &str = "content_source_types=user-regular&content_source_types=user-auto&content_source_types=community-regular&content_source_types=community-auto";
const U: &str = "121e194b-4caa-4b81-ad4f-86ca3919d5b9";

/// Rounds of (reads, one write, apply, checked reads).
const ROUNDS: usize = 120;

struct World {
    tags: Vec<Uuid>,
    users: Vec<Uuid>,
}

impl World {
    async fn load(db: &TestDb) -> World {
        let mut conn = db.connect().await;
        let tags = sqlx::query_scalar(
            "SELECT tag_id FROM content_tags GROUP BY tag_id ORDER BY count(*) DESC, tag_id",
        )
        .fetch_all(&mut conn)
        .await
        .unwrap();
        let users = sqlx::query_scalar("SELECT id FROM users ORDER BY id")
            .fetch_all(&mut conn)
            .await
            .unwrap();
        World { tags, users }
    }

    /// Queries a gallery page asks: tags popular and rare, any and all, partitions, a user's
    /// own items, both sorts, a search, stats, a later page.
    fn queries(&self) -> Vec<String> {
        let (a, b, rare) = (self.tags[0], self.tags[1], self.tags[self.tags.len() / 2]);
        let base = format!("{ALL4}&user_id={U}&page_size=10");
        vec![
            base.clone(),
            format!("{base}&tag={a}"),
            format!("{base}&tag={rare}"),
            format!("{base}&tag={a}&tag={b}&tag_match=any"),
            format!("{base}&tag={a}&tag={b}&tag_match=all"),
            format!("{base}&sort_field=quality_score"),
            format!("{base}&tag={b}&sort_field=quality_score&sort_order=asc"),
            format!("{base}&search_term=cat"),
            format!("{base}&include_stats=true"),
            format!("{base}&page=2&tag={a}"),
            format!("content_source_types=user-regular&content_source_types=user-auto&user_id={U}&page_size=10"),
            format!("content_source_types=community-auto&user_id={U}&page_size=10&tag={b}"),
            format!("content_source_types=user-regular&content_source_types=community-regular&user_id={U}&page_size=10"),
        ]
    }

    /// One random write, as one transaction of SQL. Targets lean to the newest items, which
    /// the cached pages show.
    fn write(&self, rng: &mut fastrand::Rng, n: usize) -> String {
        let tag = self.tags[rng.usize(..self.tags.len())];
        let (table, source) = if rng.bool() {
            ("content_items_auto", "auto")
        } else {
            ("content_items", "regular")
        };
        let pick = format!(
            "(SELECT id FROM {table} ORDER BY created_at DESC, id DESC OFFSET {} LIMIT 1)",
            rng.usize(..15)
        );
        let user = self.users[rng.usize(..self.users.len())];
        match rng.usize(..11) {
            0 => format!(
                "INSERT INTO content_tags VALUES ({pick}, '{source}', '{tag}') ON CONFLICT DO NOTHING"
            ),
            1 => format!(
                "DELETE FROM content_tags WHERE content_source = '{source}' AND content_id = {pick} \
                   AND tag_id = (SELECT tag_id FROM content_tags WHERE content_source = '{source}' \
                                   AND content_id = {pick} ORDER BY tag_id LIMIT 1)"
            ),
            2 => format!(
                "UPDATE {table} SET quality_score = {} WHERE id = {pick}",
                rng.u32(..1000) as f64 / 1000.0
            ),
            3 => format!("UPDATE {table} SET title = 'cat number {n}' WHERE id = {pick}"),
            4 => format!(
                "UPDATE {table} SET created_at = now() AT TIME ZONE 'utc' WHERE id = \
                   (SELECT id FROM {table} ORDER BY created_at, id OFFSET {} LIMIT 1)",
                rng.usize(..500)
            ),
            5 => format!(
                "INSERT INTO {table} (title, content_type, content_data, creator_id, created_at, \
                   updated_at, prompt) VALUES ('new {n}', 'image', 'x.png', '{user}', \
                   now() AT TIME ZONE 'utc', now() AT TIME ZONE 'utc', 'todo')"
            ),
            // An item and its tags in one transaction.
            6 => format!(
                "WITH item AS (INSERT INTO {table} (title, content_type, content_data, creator_id, \
                   created_at, updated_at, prompt) VALUES ('tagged {n}', 'image', 'x.png', '{U}', \
                   now() AT TIME ZONE 'utc', now() AT TIME ZONE 'utc', 'todo') RETURNING id) \
                 INSERT INTO content_tags SELECT id, '{source}', '{tag}' FROM item"
            ),
            7 => format!("DELETE FROM {table} WHERE id = {pick}"),
            8 => format!(
                "UPDATE users SET username = 'user_{n}_' || left(id::text, 8) WHERE id = \
                   (SELECT creator_id FROM {table} WHERE id = {pick})"
            ),
            9 => format!(
                "DELETE FROM gen_source_stats; INSERT INTO gen_source_stats (user_id, source_type, count) \
                   VALUES (NULL, 'regular', {n}), (NULL, 'auto', {}), ('{U}', 'regular', 3)",
                n * 7
            ),
            _ => format!(
                "UPDATE {table} SET item_metadata = jsonb_set(coalesce(item_metadata, '{{}}'), \
                   '{{style}}', to_jsonb('style {n}'::text)) WHERE id = {pick}"
            ),
        }
    }
}

#[tokio::test]
async fn reads_after_the_lag_match_the_database() {
    let db = TestDb::seeded().await;
    let redis = TestRedis::new();
    let adjust = |s: &mut gallery_proxy::config::Settings| {
        redis.configure(s);
        // A second read soon after each wake-up: rounds wait for two.
        s.invalidation.poll_ms = 20;
    };
    let proxies = Arc::new([
        TestServer::start_with(&db, adjust).await,
        TestServer::start_with(&db, adjust).await,
    ]);
    let direct = TestServer::uncached(&db).await;
    let world = World::load(&db).await;
    let queries = Arc::new(world.queries());

    // Background reads through both proxies, unchecked: fills racing the writes.
    let stop = Arc::new(AtomicBool::new(false));
    let background = {
        let (proxies, queries, stop) = (proxies.clone(), queries.clone(), stop.clone());
        tokio::spawn(async move {
            let mut rng = fastrand::Rng::with_seed(1);
            let mut reads = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let proxy = &proxies[rng.usize(..2)];
                let reply = proxy.gallery(&queries[rng.usize(..queries.len())]).await;
                assert_eq!(reply.status, 200, "{}", reply.text());
                reads += 1;
            }
            reads
        })
    };

    let mut rng = fastrand::Rng::with_seed(20261204);
    let mut mismatches = Vec::new();
    let mut checked = 0;
    for round in 0..ROUNDS {
        for _ in 0..3 {
            let proxy = &proxies[rng.usize(..2)];
            proxy.gallery(&queries[rng.usize(..queries.len())]).await;
        }
        let write = world.write(&mut rng, round);
        db.execute(&write).await;
        for proxy in proxies.iter() {
            proxy.caught_up().await;
        }
        for _ in 0..4 {
            let which = rng.usize(..2);
            let query = &queries[rng.usize(..queries.len())];
            let cached = proxies[which].gallery(query).await;
            let fresh = direct.gallery(query).await;
            checked += 1;
            if cached.text() != fresh.text() {
                mismatches.push(format!(
                    "round {round}, proxy {which}, after `{write}`: {query} ({})",
                    cached.header("cache-status").unwrap_or("")
                ));
            }
        }
    }
    stop.store(true, Ordering::Relaxed);
    let background_reads = background.await.unwrap();
    assert!(
        mismatches.is_empty(),
        "{} stale reads of {checked}:\n{}",
        mismatches.len(),
        mismatches.join("\n")
    );
    assert!(background_reads > 0);
    println!("{checked} checked reads, {background_reads} background reads, 0 stale");
}
