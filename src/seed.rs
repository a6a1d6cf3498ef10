//! Synthetic gallery data, generated set-based in PostgreSQL.
//!
//! Every value is a hash of (row id, column salt, seed), so the same arguments give the same
//! database. `zipf` gives a skewed tag distribution (top tag on 71% of items, rarest on 2%, 8.4
//! tags per item, like the peer measurements in sql-notes.md); `dense` gives Genonaut's demo
//! shape (each tag on ~74% of items, ~75 tags per item). 5.5% of items are regular, the rest
//! auto, with disjoint ids. The first 50 items of each partition belong to the admin user.
//!
//! Loading drops the secondary indexes of the content and tag tables and rebuilds them after
//! (a sorted build is far cheaper than a million incremental GiST/GIN inserts), skips triggers
//! while loading, then rebuilds the proxy's counters and runs VACUUM ANALYZE.

use std::time::Instant;

use anyhow::{bail, Context};
use sqlx::{Connection, Executor, PgConnection, Row};
use uuid::Uuid;

/// Genonaut's admin user (`DB_USER_ADMIN_UUID`).
pub const ADMIN_USER: Uuid = Uuid::from_u128(0x121e194b_4caa_4b81_ad4f_86ca3919d5b9);

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Distribution {
    Zipf,
    Dense,
}

#[derive(Clone, Debug)]
pub struct SeedOptions {
    pub items: u64,
    pub distribution: Distribution,
    pub seed: u64,
    pub users: u32,
    /// Delete existing gallery rows first instead of refusing.
    pub replace: bool,
}

/// Tag names. The first 106 are used by `zipf` (in popularity order), the first 101 by `dense`.
const TAG_NAMES: &[&str] = &[
    "anime",
    "portrait",
    "landscape",
    "4k",
    "photorealistic",
    "neon",
    "cinematic lighting",
    "illustration",
    "fantasy",
    "sci-fi",
    "character design",
    "digital art",
    "concept art",
    "pastel",
    "moody",
    "cyberpunk",
    "watercolor",
    "oil painting",
    "minimalist",
    "surreal",
    "vintage",
    "retro",
    "steampunk",
    "noir",
    "vibrant",
    "dark",
    "colorful",
    "monochrome",
    "sketch",
    "3d render",
    "low poly",
    "pixel art",
    "chibi",
    "kawaii",
    "gothic",
    "baroque",
    "art nouveau",
    "art deco",
    "impressionist",
    "abstract",
    "pop art",
    "ukiyo-e",
    "isometric",
    "macro",
    "aerial",
    "underwater",
    "space",
    "nature",
    "urban",
    "architecture",
    "interior",
    "still life",
    "food",
    "animals",
    "wildlife",
    "mythology",
    "horror",
    "whimsical",
    "cozy",
    "epic",
    "dramatic",
    "serene",
    "ethereal",
    "glowing",
    "misty",
    "rainy",
    "snowy",
    "sunset",
    "sunrise",
    "night",
    "golden hour",
    "studio lighting",
    "soft focus",
    "bokeh",
    "wide angle",
    "close-up",
    "symmetrical",
    "dynamic pose",
    "action",
    "romantic",
    "melancholic",
    "nostalgic",
    "futuristic",
    "medieval",
    "victorian",
    "tribal",
    "cosmic",
    "botanical",
    "geometric",
    "textured",
    "matte",
    "glossy",
    "grainy",
    "hdr",
    "lineart",
    "cel shaded",
    "painterly",
    "hyperdetailed",
    "volumetric light",
    "film still",
    "polaroid",
    "double exposure",
    "tilt shift",
    "infrared",
    "long exposure",
    "silhouette",
];

const SHOTS: &[&str] = &[
    "wide shot of",
    "close-up of",
    "cinematic still of",
    "aerial view of",
    "low angle shot of",
    "portrait of",
    "macro photo of",
    "concept art of",
];
const SUBJECTS: &[&str] = &[
    "a mech pilot",
    "a koi pond",
    "a neon city street",
    "a red panda",
    "an old wizard",
    "a cyberpunk samurai",
    "an ancient temple",
    "a lighthouse",
    "a grumpy cat",
    "a space station",
    "a dragon",
    "a forest spirit",
    "a steam train",
    "a desert caravan",
    "a robot chef",
    "a jazz club",
    "a mountain village",
    "a glass greenhouse",
    "a sunken ship",
    "a lantern festival",
    "a snow leopard",
    "a clockwork owl",
    "a floating island",
    "a night market",
    "a vintage car",
    "a crystal cave",
    "a samurai duel",
    "a coral reef",
    "a storm chaser",
    "a tea ceremony",
];
const SETTINGS: &[&str] = &[
    "on a quiet beach",
    "at dusk",
    "in the rain",
    "on a windy cliff",
    "under neon lights",
    "in a misty forest",
    "at golden hour",
    "in deep space",
    "on a rooftop",
    "in a busy market",
];
const STYLES: &[&str] = &[
    "painterly brushstrokes",
    "highly detailed",
    "soft pastel palette",
    "dramatic lighting",
    "watercolor texture",
    "hyperrealistic",
    "low poly",
    "ink wash",
];
const FINISHES: &[&str] = &[
    "8k",
    "award winning",
    "trending on artstation",
    "sharp focus",
    "film grain",
    "volumetric light",
];
const RESOLUTIONS: &[&str] = &[
    "512x512",
    "768x768",
    "1024x1024",
    "1024x768",
    "768x1024",
    "1536x1024",
    "2048x2048",
    "1920x1080",
];
const ART_STYLES: &[&str] = &["anime", "illustration", "photorealistic"];
const NAME_FIRST: &[&str] = &[
    "rusty", "cosmic", "lunar", "sunny", "misty", "silver", "quiet", "brave", "amber", "velvet",
    "frosty", "wild",
];
const NAME_SECOND: &[&str] = &[
    "willow", "pilot", "fox", "river", "maple", "comet", "harbor", "falcon", "meadow", "ember",
    "cedar", "tide",
];

/// Per-tag probability of being on an item, most popular first.
pub fn tag_probabilities(distribution: Distribution) -> Vec<f64> {
    match distribution {
        // Genonaut's generator samples ~76 of 103 list entries per item, two names listed twice.
        Distribution::Dense => (0..101)
            .map(|r| if r == 13 || r == 14 { 0.83 } else { 0.74 })
            .collect(),
        Distribution::Zipf => zipf_probabilities(106, 0.71, 0.02, 8.4),
    }
}

/// p(r) = floor + (top - floor) * (r^-s - n^-s) / (1 - n^-s): p(1) = top, p(n) = floor, and the
/// exponent s chosen by bisection so the probabilities sum to `mean` tags per item.
fn zipf_probabilities(n: usize, top: f64, floor: f64, mean: f64) -> Vec<f64> {
    let probabilities = |s: f64| -> Vec<f64> {
        let tail = (n as f64).powf(-s);
        (1..=n)
            .map(|r| floor + (top - floor) * ((r as f64).powf(-s) - tail) / (1.0 - tail))
            .collect()
    };
    let (mut lo, mut hi) = (1e-6, 50.0);
    for _ in 0..100 {
        let mid = (lo + hi) / 2.0;
        if probabilities(mid).iter().sum::<f64>() > mean {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    probabilities((lo + hi) / 2.0)
}

/// SQL for a uniform value in [0, 1) derived from (`id`, `salt`, `seed`).
fn unit(id: &str, salt: u32, seed: u64) -> String {
    format!("((hashint8extended(({id})::int8 * 1009 + {salt}, {seed}) & 2147483647)::float8 / 2147483648.0)")
}

fn sql_text_array(values: &[&str]) -> String {
    let quoted: Vec<String> = values
        .iter()
        .map(|v| format!("'{}'", v.replace('\'', "''")))
        .collect();
    format!("ARRAY[{}]::text[]", quoted.join(","))
}

/// `array[1 + floor(unit * len)]`: a pick from a literal list.
fn pick(values: &[&str], id: &str, salt: u32, seed: u64) -> String {
    format!(
        "({})[1 + floor({} * {})::int]",
        sql_text_array(values),
        unit(id, salt, seed),
        values.len()
    )
}

pub async fn seed(url: &str, options: &SeedOptions) -> anyhow::Result<()> {
    if options.items == 0 || options.users < 2 {
        bail!("seed needs at least 1 item and 2 users");
    }
    let started = Instant::now();
    let mut conn = PgConnection::connect_with(&crate::store::postgres::bulk_options(url)?)
        .await
        .with_context(|| format!("connecting to {url}"))?;
    let existing: i64 = sqlx::query_scalar("SELECT count(*) FROM content_items_all")
        .fetch_one(&mut conn)
        .await
        .context("the gallery tables are missing: run `gallery-proxy migrate` first")?;
    if existing > 0 && !options.replace {
        bail!("the database already holds {existing} items; pass --replace to delete them first");
    }
    let seed = options.seed;
    let total = options.items;
    let regular = ((total as f64) * 0.055).round() as u64;
    let probabilities = tag_probabilities(options.distribution);
    let tag_names = &TAG_NAMES[..probabilities.len()];

    // Triggers off while loading (the counters are rebuilt in one pass at the end).
    let superuser: bool =
        sqlx::query_scalar("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
            .fetch_one(&mut conn)
            .await?;
    if superuser {
        conn.execute("SET session_replication_role = replica")
            .await?;
    } else {
        tracing::warn!("not a superuser: triggers stay on during the load, which is slower");
    }
    if options.replace {
        conn.execute("TRUNCATE content_tags, content_items, content_items_auto, tag_cardinality_stats, gen_source_stats").await?;
    }
    let dropped = drop_secondary_indexes(&mut conn).await?;
    tracing::info!(
        indexes = dropped.len(),
        "secondary indexes dropped for the load"
    );

    // Users: the admin plus deterministic others.
    let mut users = vec![ADMIN_USER];
    users.extend(
        (1..options.users)
            .map(|i| Uuid::new_v5(&Uuid::NAMESPACE_OID, format!("user:{seed}:{i}").as_bytes())),
    );
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "INSERT INTO users (id, username, email, created_at, updated_at, preferences, is_active)
         SELECT u.id, CASE WHEN u.n = 1 THEN 'admin' ELSE {first} || '_' || {second} || u.n END,
                CASE WHEN u.n = 1 THEN 'admin@example.com' ELSE 'user' || u.n || '@example.com' END,
                timestamp '2025-04-01', timestamp '2025-04-01', '{{}}'::jsonb, {active} < 0.99
           FROM unnest($1::uuid[]) WITH ORDINALITY AS u(id, n)
         ON CONFLICT (id) DO NOTHING",
        first = pick(NAME_FIRST, "u.n", 1, seed),
        second = pick(NAME_SECOND, "u.n", 2, seed),
        active = unit("u.n", 3, seed),
    )))
    .bind(&users)
    .execute(&mut conn)
    .await?;

    // Tags with their probabilities, kept in a temp table for the two passes below.
    conn.execute(
        "CREATE TEMP TABLE seed_tags (rank int PRIMARY KEY, id uuid, name text, p float8)",
    )
    .await?;
    let tag_ids: Vec<Uuid> = tag_names
        .iter()
        .map(|n| Uuid::new_v5(&Uuid::NAMESPACE_OID, format!("tag:{seed}:{n}").as_bytes()))
        .collect();
    sqlx::query(
        "INSERT INTO seed_tags SELECT n::int, id, name, p FROM unnest($1::uuid[], $2::text[], $3::float8[]) WITH ORDINALITY AS t(id, name, p, n)",
    )
    .bind(&tag_ids)
    .bind(tag_names.iter().map(|s| s.to_string()).collect::<Vec<_>>())
    .bind(&probabilities)
    .execute(&mut conn)
    .await?;
    conn.execute(
        "INSERT INTO tags (id, name, tag_metadata, created_at, updated_at)
         SELECT id, name, '{}'::jsonb, timestamp '2025-04-01', timestamp '2025-04-01' FROM seed_tags
         ON CONFLICT DO NOTHING",
    )
    .await?;

    let has_tag = |id: &str| {
        format!(
            "{} < t.p",
            unit(&format!("{id}::int8 * 128 + t.rank"), 11, seed)
        )
    };
    for (table, source_type, content_source, first_id, last_id) in [
        ("content_items", "items", "regular", 1, regular),
        ("content_items_auto", "auto", "auto", regular + 1, total),
    ] {
        if first_id > last_id {
            continue;
        }
        let step = Instant::now();
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "INSERT INTO content_tags (content_id, content_source, tag_id)
             SELECT g.id, '{content_source}', t.id FROM generate_series({first_id}, {last_id}) AS g(id)
               CROSS JOIN seed_tags t WHERE {cond}",
            cond = has_tag("g.id"),
        )))
        .execute(&mut conn)
        .await?;
        let prompt = format!(
            "{} || ' ' || {} || ' ' || {} || ', ' || {} || ', ' || {}",
            pick(SHOTS, "g.id", 21, seed),
            pick(SUBJECTS, "g.id", 22, seed),
            pick(SETTINGS, "g.id", 23, seed),
            pick(STYLES, "g.id", 24, seed),
            pick(FINISHES, "g.id", 25, seed)
        );
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "INSERT INTO {table} (id, title, content_type, content_data, item_metadata, creator_id, created_at,
                                  updated_at, quality_score, is_private, path_thumb, prompt, path_thumbs_alt_res, source_type)
             SELECT g.id, left(p.prompt, 20 + floor({title_len} * 11)::int), 'image',
                    'io/storage/images/' || md5(g.id::text || ':{seed}')::uuid || '.png',
                    jsonb_build_object(
                        'tags', (SELECT coalesce(jsonb_agg(t.name ORDER BY t.rank), '[]'::jsonb) FROM seed_tags t WHERE {cond}),
                        'style', {style}, 'prompt', p.prompt, 'resolution', {resolution}),
                    CASE WHEN g.id - {first_id} < 50 THEN $1::uuid
                         ELSE ($2::uuid[])[2 + floor({creator} * (cardinality($2::uuid[]) - 1))::int] END,
                    ts.t, ts.t, round(({quality} * 101)::numeric - 0.5, 0)::float8 / 100,
                    {private} < 0.1, NULL, 'todo', NULL, '{source_type}'
               FROM generate_series({first_id}, {last_id}) AS g(id)
              CROSS JOIN LATERAL (SELECT {prompt} AS prompt) p
              CROSS JOIN LATERAL (SELECT timestamp '2025-05-01 04:00:00'
                                         + make_interval(secs => floor({when} * 143 * 86400 * 1e6) / 1e6) AS t) ts",
            title_len = unit("g.id", 26, seed),
            cond = has_tag("g.id"),
            style = pick(ART_STYLES, "g.id", 27, seed),
            resolution = pick(RESOLUTIONS, "g.id", 28, seed),
            creator = unit("g.id", 29, seed),
            quality = unit("g.id", 30, seed),
            private = unit("g.id", 31, seed),
            when = unit("g.id", 32, seed),
        )))
        .bind(ADMIN_USER)
        .bind(&users)
        .execute(&mut conn)
        .await?;
        tracing::info!(
            table,
            rows = last_id - first_id + 1,
            secs = step.elapsed().as_secs_f64(),
            "loaded"
        );
    }

    conn.execute(
        "INSERT INTO tag_cardinality_stats (tag_id, content_source, cardinality, updated_at)
         SELECT tag_id, content_source, count(DISTINCT content_id), now() AT TIME ZONE 'utc' FROM content_tags GROUP BY 1, 2;
         INSERT INTO gen_source_stats (user_id, source_type, count, updated_at)
         SELECT NULL::uuid, CASE source_type WHEN 'items' THEN 'regular' ELSE source_type END, count(*), now() AT TIME ZONE 'utc'
           FROM content_items_all GROUP BY source_type
         UNION ALL
         SELECT creator_id, CASE source_type WHEN 'items' THEN 'regular' ELSE source_type END, count(*), now() AT TIME ZONE 'utc'
           FROM content_items_all GROUP BY creator_id, source_type;",
    )
    .await?;
    let next_id = (total + 1).max(3_000_000) as i64;
    sqlx::query("SELECT setval('content_items_id_seq', $1, false)")
        .bind(next_id)
        .execute(&mut conn)
        .await?;

    let step = Instant::now();
    for definition in &dropped {
        sqlx::query(sqlx::AssertSqlSafe(definition.clone()))
            .execute(&mut conn)
            .await?;
    }
    tracing::info!(secs = step.elapsed().as_secs_f64(), "indexes rebuilt");
    conn.execute("SET session_replication_role = DEFAULT")
        .await?;
    conn.execute("SELECT gallery_proxy.rebuild_item_counts()")
        .await?;
    conn.execute("VACUUM (ANALYZE) users, tags, content_items, content_items_auto, content_tags, gallery_proxy.item_counts").await?;
    let content_tags: i64 = sqlx::query("SELECT count(*) FROM content_tags")
        .fetch_one(&mut conn)
        .await?
        .try_get(0)?;
    tracing::info!(
        items = total,
        regular,
        auto = total - regular,
        content_tags,
        users = users.len(),
        tags = tag_names.len(),
        secs = started.elapsed().as_secs_f64(),
        "seeded"
    );
    conn.close().await?;
    Ok(())
}

/// Drops the indexes of the content and tag tables that no constraint needs (keys and the
/// partitioned unique index stay), returning their definitions for the rebuild.
async fn drop_secondary_indexes(conn: &mut PgConnection) -> anyhow::Result<Vec<String>> {
    let rows = sqlx::query(
        "SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid)
           FROM pg_index i
          WHERE i.indrelid IN ('public.content_items'::regclass, 'public.content_items_auto'::regclass,
                               'public.content_tags'::regclass)
            AND NOT i.indisprimary AND NOT i.indisunique
            AND NOT EXISTS (SELECT 1 FROM pg_inherits h WHERE h.inhrelid = i.indexrelid)
            AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)",
    )
    .fetch_all(&mut *conn)
    .await?;
    let mut definitions = Vec::new();
    for row in rows {
        let name: String = row.try_get(0)?;
        definitions.push(row.try_get::<String, _>(1)?);
        sqlx::query(sqlx::AssertSqlSafe(format!("DROP INDEX {name}")))
            .execute(&mut *conn)
            .await?;
    }
    Ok(definitions)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zipf_matches_the_measured_shape() {
        let p = tag_probabilities(Distribution::Zipf);
        assert_eq!(p.len(), 106);
        assert!((p[0] - 0.71).abs() < 1e-9 && (p[105] - 0.02).abs() < 1e-9);
        assert!((p.iter().sum::<f64>() - 8.4).abs() < 1e-6);
        assert!(p.windows(2).all(|w| w[0] >= w[1]));
    }

    #[test]
    fn dense_is_genonauts_demo_shape() {
        let p = tag_probabilities(Distribution::Dense);
        assert_eq!(p.len(), 101);
        assert!((p.iter().sum::<f64>() - 75.4).abs() < 0.5);
    }
}
