//! The pure pieces of a cache hit, measured alone:
//!
//!     cargo bench --bench hot_path
//!
//! - parsing the canonical query string and building its page key (a miss of the parsed-query
//!   memo does both; a hit does neither);
//! - building the key of an already parsed query;
//! - rendering the 200 with its freshness headers from a cached entry, and the 304;
//! - the invalidation fence a memory hit checks: nothing invalidated since the fill (one atomic
//!   load), and writes applied since (one map lookup per dependency, 56 for a 25-item page).

use std::hint::black_box;

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, Criterion};
use gallery_proxy::cache::{Entry, Outcome, Tier};
use gallery_proxy::gallery::key::CacheKey;
use gallery_proxy::gallery::params::{parse, Limits};
use gallery_proxy::http::gallery::cached_response;
use gallery_proxy::invalidation::deps::hash;
use gallery_proxy::invalidation::generations::Generations;
use http::HeaderValue;

const CANONICAL: &str = "page=1&page_size=25&content_source_types=user-regular&content_source_types=user-auto&content_source_types=community-regular&content_source_types=community-auto&user_id=121e194b-4caa-4b81-ad4f-86ca3919d5b9&tag=c33a03d4-d74d-42b1-b9bb-4835c45229a9&sort_field=created_at&sort_order=desc";

fn keys(c: &mut Criterion) {
    let limits = Limits::default();
    c.bench_function("parse + page key (canonical query)", |b| {
        b.iter(|| CacheKey::page(&parse(black_box(CANONICAL), &limits).unwrap()))
    });
    let three_tags = format!("{CANONICAL}&tag=0b6b2f4e-8f8a-4a59-9a43-1d2a8f1c9e11&tag=F00DFEED-0000-4000-8000-000000000001&tag_match=all&search_term=mech+pilot");
    c.bench_function("parse + page key (three tags, search)", |b| {
        b.iter(|| CacheKey::page(&parse(black_box(&three_tags), &limits).unwrap()))
    });
    let query = parse(CANONICAL, &limits).unwrap();
    c.bench_function("page key of a parsed query", |b| {
        b.iter(|| CacheKey::page(black_box(&query)))
    });
    c.bench_function("count key of a parsed query", |b| {
        b.iter(|| CacheKey::count(black_box(&query)))
    });
}

fn headers(c: &mut Criterion) {
    let entry = Entry::new(Bytes::from(vec![b'x'; 18_004]), 1_764_800_000_000, 412_000);
    let cache_control = HeaderValue::from_static("no-cache");
    let now = 1_764_800_030_000;
    c.bench_function("200 with freshness headers (memory hit)", |b| {
        b.iter(|| {
            cached_response(
                black_box(&entry),
                Outcome::Hit(Tier::Memory),
                now,
                &cache_control,
                None,
            )
        })
    });
    let etag = entry.etag.clone();
    c.bench_function("304 for a matching If-None-Match", |b| {
        b.iter(|| {
            cached_response(
                black_box(&entry),
                Outcome::Hit(Tier::Memory),
                now,
                &cache_control,
                Some(&etag),
            )
        })
    });
    c.bench_function("Cache-Status value", |b| {
        b.iter(|| black_box(Outcome::Hit(Tier::Redis)).cache_status(black_box(382)))
    });
}

fn fence(c: &mut Criterion) {
    let generations = Generations::new(3_600_000);
    let deps: Vec<u64> = (0..56).map(|i| hash(&format!("item:auto:{i}"))).collect();
    let fence = generations.fence();
    c.bench_function("fence check, nothing invalidated since", |b| {
        b.iter(|| generations.is_current(black_box(fence), black_box(&deps)))
    });
    // 10,000 other dependencies invalidated since the fill: the slow path, still current.
    for i in 0..10_000 {
        generations.apply(&[hash(&format!("tag:auto:{i}"))], 0);
    }
    c.bench_function("fence check, 56 dependencies after 10,000 writes", |b| {
        b.iter(|| generations.is_current(black_box(fence), black_box(&deps)))
    });
}

criterion_group!(benches, keys, headers, fence);
criterion_main!(benches);
