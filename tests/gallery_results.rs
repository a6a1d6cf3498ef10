//! The route's answers against an independent computation (tests/common/model.rs): every
//! filter, sort and page, offset and cursor, including the upstream bugs the proxy fixes.

mod common;

use common::model::{Filter, Model, Scope};
use common::{TestDb, TestServer, ADMIN};
use uuid::Uuid;

const ALL4: &str = "content_source_types=user-regular&content_source_types=user-auto&content_source_types=community-regular&content_source_types=community-auto";

fn ids(reply: &serde_json::Value) -> Vec<(i64, String)> {
    reply["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["id"].as_i64().unwrap(),
                i["source_type"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// A query in both forms: the URL parameters and the model's filter.
struct Case {
    name: String,
    params: String,
    filter: Filter,
}

fn cases(model: &Model) -> Vec<Case> {
    let admin: Uuid = ADMIN.parse().unwrap();
    let popular = model.tags_by_popularity();
    let (top, second, third) = (popular[0].0, popular[1].0, popular[2].0);
    let rare = popular.iter().rev().find(|(_, n)| *n >= 40).unwrap().0;
    let tag = |t: &Uuid| format!("tag={t}");
    let mut cases = vec![
        Case { name: "no filter".into(), params: String::new(), filter: Filter::default() },
        Case { name: "all four sources".into(), params: format!("{ALL4}&user_id={ADMIN}"), filter: Filter::default() },
        Case { name: "popular tag".into(), params: tag(&top), filter: Filter { tags: vec![top], ..Filter::default() } },
        Case { name: "rare tag".into(), params: tag(&rare), filter: Filter { tags: vec![rare], ..Filter::default() } },
        Case {
            name: "two tags any".into(),
            params: format!("{}&{}", tag(&second), tag(&rare)),
            filter: Filter { tags: vec![second, rare], ..Filter::default() },
        },
        Case {
            name: "two tags all".into(),
            params: format!("{}&tag_names={}&tag_match=all", tag(&top), second),
            filter: Filter { tags: vec![top, second], all: true, ..Filter::default() },
        },
        Case {
            name: "three tags all".into(),
            params: format!("{}&{}&{}&tag_match=ALL", tag(&top), tag(&second), tag(&third)),
            filter: Filter { tags: vec![top, second, third], all: true, ..Filter::default() },
        },
        Case {
            name: "two rarer tags all (posting lists)".into(),
            params: format!("{}&{}&tag_match=all", tag(&popular[10].0), tag(&popular[11].0)),
            filter: Filter { tags: vec![popular[10].0, popular[11].0], all: true, ..Filter::default() },
        },
        Case {
            name: "user's own items with a tag".into(),
            params: format!("content_source_types=user-regular&content_source_types=user-auto&user_id={ADMIN}&{}", tag(&top)),
            filter: Filter { regular: Scope::Only(admin), auto: Scope::Only(admin), tags: vec![top], ..Filter::default() },
        },
        Case {
            name: "community regular with a tag".into(),
            params: format!("content_source_types=community-regular&user_id={ADMIN}&{}", tag(&second)),
            filter: Filter { regular: Scope::Except(admin), auto: Scope::Nobody, tags: vec![second], ..Filter::default() },
        },
        Case {
            name: "two tags all, own regular and others' auto".into(),
            params: format!("content_source_types=user-regular&content_source_types=community-auto&user_id={ADMIN}&{}&{}&tag_match=all", tag(&top), tag(&second)),
            filter: Filter { regular: Scope::Only(admin), auto: Scope::Except(admin), tags: vec![top, second], all: true, ..Filter::default() },
        },
        Case {
            name: "two tags any, others' regular and own auto".into(),
            params: format!("content_source_types=community-regular&content_source_types=user-auto&user_id={ADMIN}&{}&{}", tag(&second), tag(&rare)),
            filter: Filter { regular: Scope::Except(admin), auto: Scope::Only(admin), tags: vec![second, rare], ..Filter::default() },
        },
        Case {
            name: "mixed scopes".into(),
            params: format!("content_source_types=user-regular&content_source_types=community-auto&user_id={ADMIN}"),
            filter: Filter { regular: Scope::Only(admin), auto: Scope::Except(admin), ..Filter::default() },
        },
        Case {
            name: "legacy content_types and creator_filter".into(),
            params: format!("content_types=regular&creator_filter=community&user_id={ADMIN}"),
            filter: Filter { regular: Scope::Except(admin), auto: Scope::Nobody, ..Filter::default() },
        },
        Case {
            name: "tag and two-word search".into(),
            params: format!("{}&search_term=mech+pilot", tag(&top)),
            filter: Filter { tags: vec![top], search: vec!["mech".into(), "pilot".into()], ..Filter::default() },
        },
        Case {
            name: "quoted phrase search, upper case".into(),
            params: "search_term=%22GRUMPY%20CAT%22".into(),
            filter: Filter { search: vec!["grumpy cat".into()], ..Filter::default() },
        },
    ];
    // Every case again under the other sorts.
    let base: Vec<(String, String, Filter)> = cases
        .iter()
        .map(|c| (c.name.clone(), c.params.clone(), c.filter.clone()))
        .collect();
    for (name, params, filter) in base {
        for (sort, order, quality_sort, descending) in [
            ("created_at", "asc", false, false),
            ("quality_score", "desc", true, true),
            ("quality_score", "ASC", true, false),
        ] {
            cases.push(Case {
                name: format!("{name}, {sort} {order}"),
                params: format!("{params}&sort_field={sort}&sort_order={order}"),
                filter: Filter {
                    quality_sort,
                    descending,
                    ..filter.clone()
                },
            });
        }
    }
    cases
}

/// Page 1, page 2 and the last page of every case: items, total_count and the flags.
#[tokio::test]
async fn offset_pages_match_the_model() {
    let db = TestDb::seeded().await;
    // Some NULL scores, so quality sorts cover PostgreSQL's NULL placement.
    db.execute("UPDATE content_items_auto SET quality_score = NULL WHERE id % 17 = 0")
        .await;
    let model = Model::load(&db).await;
    let server = TestServer::uncached(&db).await;
    let size = 25usize;
    for case in cases(&model) {
        let expected = model.select(&case.filter);
        assert!(
            !expected.is_empty(),
            "{}: the case selects nothing; pick other data",
            case.name
        );
        let total = expected.len();
        let last_page = total.div_ceil(size);
        for page in [1, 2, last_page, last_page + 1] {
            let reply = server
                .gallery(&format!("page={page}&page_size={size}&{}", case.params))
                .await;
            assert_eq!(reply.status, 200, "{}: {}", case.name, reply.text());
            let body = reply.json();
            let want: Vec<_> = expected
                .iter()
                .skip((page - 1) * size)
                .take(size)
                .cloned()
                .collect();
            assert_eq!(ids(&body), want, "{} page {page}", case.name);
            let p = &body["pagination"];
            assert_eq!(p["total_count"], total as u64, "{} page {page}", case.name);
            assert_eq!(p["total_pages"], last_page as u64, "{}", case.name);
            assert_eq!(p["has_next"], page < last_page, "{} page {page}", case.name);
            assert_eq!(p["has_previous"], page > 1, "{} page {page}", case.name);
            assert_eq!(p["page"], page as u64);
            assert_eq!(p["page_size"], size as u64);
        }
    }
}

/// Following next_cursor from page 1 visits every item once, in order; prev pages come back
/// the same way with backward=true.
#[tokio::test]
async fn cursor_walks_cover_every_item_in_both_directions() {
    let db = TestDb::seeded().await;
    db.execute("UPDATE content_items SET quality_score = NULL WHERE id % 5 = 0")
        .await;
    let model = Model::load(&db).await;
    let server = TestServer::uncached(&db).await;
    let cases = cases(&model);
    let size = 40usize;
    for case in cases.iter().filter(|c| {
        [
            "popular tag",
            "rare tag",
            "two tags all",
            "mixed scopes",
            "popular tag, quality_score desc",
            "rare tag, quality_score ASC",
            "no filter, created_at asc",
        ]
        .contains(&c.name.as_str())
    }) {
        let expected = model.select(&case.filter);
        let mut seen = Vec::new();
        let mut pages = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let query = match &cursor {
                None => format!("page_size={size}&{}", case.params),
                Some(c) => format!("page_size={size}&{}&cursor={c}", case.params),
            };
            let body = server.gallery(&query).await.json();
            let page = ids(&body);
            let p = &body["pagination"];
            assert_eq!(p["total_count"], expected.len() as u64, "{}", case.name);
            assert_eq!(
                p["has_next"],
                seen.len() + page.len() < expected.len(),
                "{} after {}",
                case.name,
                seen.len()
            );
            assert_eq!(
                p["has_previous"],
                !seen.is_empty(),
                "{} after {}",
                case.name,
                seen.len()
            );
            seen.extend(page.iter().cloned());
            pages.push((
                page,
                body["pagination"]["prev_cursor"]
                    .as_str()
                    .map(str::to_string),
            ));
            match p["next_cursor"].as_str() {
                Some(next) if p["has_next"] == true => cursor = Some(next.to_string()),
                _ => break,
            }
        }
        assert_eq!(seen, expected, "{}: the forward walk", case.name);

        // From each page's first item, backward=true gives the page before it.
        for window in pages.windows(2) {
            let (previous, _) = &window[0];
            let (_, prev_cursor) = &window[1];
            let prev_cursor = prev_cursor
                .as_ref()
                .expect("cursor pages carry prev_cursor");
            let body = server
                .gallery(&format!(
                    "page_size={size}&{}&cursor={prev_cursor}&backward=true",
                    case.params
                ))
                .await
                .json();
            assert_eq!(&ids(&body), previous, "{}: backward", case.name);
            assert_eq!(body["pagination"]["has_next"], true);
        }
    }
}

/// Upstream only ever returned auto items under a tag filter; both partitions match here, and
/// `any` and `all` mean what they say in items and counts alike.
#[tokio::test]
async fn fixed_upstream_bugs() {
    let db = TestDb::seeded().await;
    let model = Model::load(&db).await;
    let server = TestServer::uncached(&db).await;
    let popular = model.tags_by_popularity();
    let (a, b) = (popular[0].0, popular[1].0);

    let body = server
        .gallery(&format!("content_types=regular&tag={a}&page_size=5"))
        .await
        .json();
    assert_eq!(body["items"].as_array().unwrap().len(), 5);
    assert!(ids(&body).iter().all(|(_, src)| src == "items"));

    let any = server.gallery(&format!("tag={a}&tag={b}")).await.json();
    let all = server
        .gallery(&format!("tag={a}&tag={b}&tag_match=all"))
        .await
        .json();
    let count = |f: Filter| model.select(&f).len() as u64;
    assert_eq!(
        any["pagination"]["total_count"],
        count(Filter {
            tags: vec![a, b],
            ..Filter::default()
        })
    );
    assert_eq!(
        all["pagination"]["total_count"],
        count(Filter {
            tags: vec![a, b],
            all: true,
            ..Filter::default()
        })
    );
    assert!(any["pagination"]["total_count"].as_u64() > all["pagination"]["total_count"].as_u64());

    // Two spellings of one tag are one tag (upstream's count saw two).
    let upper = a.to_string().to_uppercase();
    let twice = server
        .gallery(&format!("tag={a}&tag={upper}&tag_match=all"))
        .await
        .json();
    assert_eq!(
        twice["pagination"]["total_count"],
        count(Filter {
            tags: vec![a],
            ..Filter::default()
        })
    );
}

/// Counts the proxy keeps follow writes at once: the triggers run in the writing transaction.
#[tokio::test]
async fn counts_follow_writes() {
    let db = TestDb::seeded().await;
    let model = Model::load(&db).await;
    let server = TestServer::uncached(&db).await;
    let tag = model.tags_by_popularity()[3].0;
    let before = server.gallery(&format!("tag={tag}")).await.json()["pagination"]["total_count"]
        .as_u64()
        .unwrap();
    db.execute(&format!(
        "INSERT INTO content_items (id, title, content_type, content_data, creator_id, created_at, updated_at, prompt)
         VALUES (900001, 'new', 'image', 'x', '{ADMIN}', now(), now(), 'todo');
         INSERT INTO content_tags VALUES (900001, 'regular', '{tag}');"
    ))
    .await;
    let after = server.gallery(&format!("tag={tag}")).await.json();
    assert_eq!(
        after["pagination"]["total_count"].as_u64().unwrap(),
        before + 1
    );
    assert_eq!(after["items"][0]["id"], 900001, "newest first");
    assert_eq!(
        after["items"][0]["item_metadata"]["tags"]
            .as_array()
            .unwrap()
            .len(),
        1,
        "Genonaut's sync trigger ran"
    );
    db.execute("DELETE FROM content_items WHERE id = 900001")
        .await;
    let gone = server.gallery(&format!("tag={tag}")).await.json();
    assert_eq!(gone["pagination"]["total_count"].as_u64().unwrap(), before);
}

/// Upstream's early-empty answers: no items, no cursor keys, stats always.
#[tokio::test]
async fn early_empty_answers() {
    let db = TestDb::seeded().await;
    let server = TestServer::uncached(&db).await;
    for query in [
        format!("content_source_types=&user_id={ADMIN}&page_size=25"),
        format!("content_types=&user_id={ADMIN}"),
        ALL4.to_string(),
    ] {
        let reply = server.gallery(&query).await;
        assert_eq!(reply.status, 200);
        let body = reply.json();
        assert_eq!(body["items"].as_array().unwrap().len(), 0, "{query}");
        let keys: Vec<&String> = body["pagination"].as_object().unwrap().keys().collect();
        assert_eq!(
            keys,
            [
                "page",
                "page_size",
                "total_count",
                "total_pages",
                "has_next",
                "has_previous"
            ]
        );
        assert!(body["stats"].is_object(), "{query}");
    }
    let with_user = server
        .gallery(&format!("content_types=&user_id={ADMIN}"))
        .await
        .json();
    assert_eq!(
        with_user["stats"]["user_regular_count"], 50,
        "the admin owns 50 items per partition"
    );
    let without = server.gallery(ALL4).await.json();
    assert_eq!(without["stats"]["user_regular_count"], 0);
    assert_eq!(without["stats"]["community_regular_count"], 165);
}

/// Deep offsets are reached through the per-day counts; every deep page must still be exactly
/// the model's, in both directions, and shift by one after an item is added at the top.
#[tokio::test]
async fn deep_offsets_are_exact() {
    let db = TestDb::seeded().await;
    let server = TestServer::uncached(&db).await;
    let model = Model::load(&db).await;
    let top = model.tags_by_popularity()[0].0;
    let size = 10usize;
    let check = |model: &Model| {
        let mut cases = Vec::new();
        for (params, tags) in [
            (String::new(), vec![]),
            (format!("tag={top}"), vec![top]),
            (format!("{ALL4}&user_id={ADMIN}&tag={top}"), vec![top]),
        ] {
            for (order, descending) in [("desc", true), ("asc", false)] {
                let expected = model.select(&Filter {
                    tags: tags.clone(),
                    descending,
                    ..Filter::default()
                });
                cases.push((format!("{params}&sort_order={order}"), expected));
            }
        }
        cases
    };
    for round in 0..2 {
        let model = Model::load(&db).await;
        for (params, expected) in check(&model) {
            let last = expected.len().div_ceil(size);
            for page in (201..=last + 1).step_by(13).chain([last]) {
                let body = server
                    .gallery(&format!("page={page}&page_size={size}&{params}"))
                    .await
                    .json();
                let want: Vec<_> = expected
                    .iter()
                    .skip((page - 1) * size)
                    .take(size)
                    .cloned()
                    .collect();
                assert_eq!(ids(&body), want, "round {round}, {params}, page {page}");
            }
        }
        if round == 0 {
            // A new item at the very top moves every deep page by one.
            db.execute(&format!(
                "INSERT INTO content_items_auto (id, title, content_type, content_data, creator_id, created_at, updated_at, prompt)
                 VALUES (900002, 'newest', 'image', 'x', '{ADMIN}', '2026-01-01', '2026-01-01', 'todo');
                 INSERT INTO content_tags VALUES (900002, 'auto', '{top}');"
            ))
            .await;
        }
    }
    let model = Model::load(&db).await;
    assert_eq!(
        model.select(&Filter {
            tags: vec![top],
            ..Filter::default()
        })[0]
            .0,
        900002
    );
    let _ = &model;
}
