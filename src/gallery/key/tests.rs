//! Property tests of invariant 1 against an independent statement of what an answer depends on.
//!
//! A request is generated as a [`Spec`] (what the client means) and written out in many
//! spellings. [`meaning`] says, without the parser, which parts of a spec can change the answer.
//! Then: every spelling of one spec gives one key, and two specs give one key exactly when
//! their meanings are equal.

use std::collections::BTreeSet;

use proptest::prelude::*;

use super::CacheKey;
use crate::gallery::params::{parse, Limits};

const TAGS: [&str; 3] = [
    "c33a03d4-d74d-42b1-b9bb-4835c45229a9",
    "0b6b2f4e-8f8a-4a59-9a43-1d2a8f1c9e11",
    "f00dfeed-0000-4000-8000-000000000001",
];
const USERS: [&str; 2] = [
    "121e194b-4caa-4b81-ad4f-86ca3919d5b9",
    "3ae5e7ca-332c-4836-9a3b-a2b61ae43754",
];
const SOURCES: [&str; 4] = [
    "user-regular",
    "user-auto",
    "community-regular",
    "community-auto",
];
const SEARCHES: [&str; 3] = ["cat", "cat dog", "mech pilot"];

/// What a client asks for, before any spelling.
#[derive(Clone, Debug)]
struct Spec {
    tags: BTreeSet<usize>,
    all: bool,
    /// `None`: no content_source_types parameter (legacy defaults: everything).
    sources: Option<BTreeSet<usize>>,
    user: Option<usize>,
    page: u64,
    page_size: u32,
    quality_sort: bool,
    ascending: bool,
    search: Option<usize>,
    include_stats: bool,
}

fn spec() -> impl Strategy<Value = Spec> {
    (
        prop::collection::btree_set(0..3usize, 0..=3),
        any::<bool>(),
        prop::option::of(prop::collection::btree_set(0..4usize, 0..=4)),
        prop::option::of(0..2usize),
        1..3u64,
        prop::sample::select(vec![10u32, 25]),
        any::<bool>(),
        any::<bool>(),
        prop::option::of(0..3usize),
        any::<bool>(),
    )
        .prop_map(
            |(
                tags,
                all,
                sources,
                user,
                page,
                page_size,
                quality_sort,
                ascending,
                search,
                stats,
            )| {
                Spec {
                    tags,
                    all,
                    sources,
                    user,
                    page,
                    page_size,
                    quality_sort,
                    ascending,
                    search,
                    include_stats: stats,
                }
            },
        )
}

/// How a spec is written: every choice here must leave the answer unchanged.
#[derive(Clone, Debug)]
struct Spelling {
    /// Per tag: lower, upper, braces, urn, no hyphens.
    uuid_style: Vec<u8>,
    /// Repeat each tag/source this many extra times.
    repeats: u8,
    /// Rotate parameter order.
    rotate: usize,
    /// Send `tag_names` instead of `tag` for odd tags.
    tag_names: bool,
    /// Write defaults explicitly (page=1, page_size=10, sort_field=created_at, ...).
    explicit_defaults: bool,
    upper_case_keywords: bool,
    /// An unknown parameter, and user_id where no filter uses it.
    noise: bool,
}

fn spelling() -> impl Strategy<Value = Spelling> {
    (
        prop::collection::vec(0..5u8, 3),
        0..2u8,
        0..12usize,
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(
            |(uuid_style, repeats, rotate, tag_names, explicit_defaults, upper, noise)| Spelling {
                uuid_style,
                repeats,
                rotate,
                tag_names,
                explicit_defaults,
                upper_case_keywords: upper,
                noise,
            },
        )
}

fn spell_uuid(id: &str, style: u8) -> String {
    match style {
        0 => id.to_string(),
        1 => id.to_uppercase(),
        2 => format!("%7B{id}%7D"),
        3 => format!("urn:uuid:{id}"),
        _ => id.replace('-', ""),
    }
}

fn write(spec: &Spec, how: &Spelling) -> String {
    let mut params: Vec<String> = Vec::new();
    for &t in &spec.tags {
        for _ in 0..=how.repeats {
            let name = if how.tag_names && t % 2 == 1 {
                "tag_names"
            } else {
                "tag"
            };
            params.push(format!("{name}={}", spell_uuid(TAGS[t], how.uuid_style[t])));
        }
    }
    let keyword = |s: &str| match how.upper_case_keywords {
        true => s.to_uppercase(),
        false => s.to_string(),
    };
    if spec.all {
        params.push(format!("tag_match={}", keyword("all")));
    } else if how.explicit_defaults {
        params.push(format!("tag_match={}", keyword("any")));
    }
    match &spec.sources {
        None => {}
        Some(set) if set.is_empty() => params.push("content_source_types=".into()),
        Some(set) => {
            for &s in set.iter().rev() {
                for _ in 0..=how.repeats {
                    params.push(format!("content_source_types={}", SOURCES[s]));
                }
            }
        }
    }
    match spec.user {
        Some(u) => params.push(format!("user_id={}", USERS[u].to_uppercase())),
        None if how.noise && spec.sources.is_none() && !spec.include_stats => {
            // Nothing reads the user: the legacy default scope is everyone, and no stats.
            params.push(format!("user_id={}", USERS[1]));
        }
        None => {}
    }
    if spec.page != 1 || how.explicit_defaults {
        params.push(format!("page={}", spec.page));
    }
    if spec.page_size != 10 || how.explicit_defaults {
        params.push(format!("page_size={}", spec.page_size));
    }
    if spec.quality_sort {
        params.push("sort_field=quality_score".into());
    } else if how.explicit_defaults {
        params.push("sort_field=created_at".into());
    }
    if spec.ascending {
        params.push(format!("sort_order={}", keyword("asc")));
    } else if how.explicit_defaults {
        params.push(format!("sort_order={}", keyword("desc")));
    }
    if let Some(s) = spec.search {
        // Extra blanks between and around words do not change the tokens.
        let term = match how.noise {
            true => format!("++{}+", SEARCHES[s].replace(' ', "+++")),
            false => SEARCHES[s].replace(' ', "+"),
        };
        params.push(format!("search_term={term}"));
    }
    if spec.include_stats {
        params.push(format!("include_stats={}", keyword("true")));
    } else if how.explicit_defaults {
        params.push("include_stats=false".into());
    }
    if how.noise {
        params.push("utm_source=newsletter".into());
    }
    let n = params.len().max(1);
    params.rotate_left(how.rotate % n);
    params.join("&")
}

/// What the answer depends on, stated from the contract rather than from the parser.
#[derive(Debug, PartialEq, Eq)]
enum Meaning {
    /// No partition selected: only the echoed page fields and the user's stats differ.
    Empty {
        page: u64,
        page_size: u32,
        user: Option<usize>,
    },
    Rows {
        page: u64,
        page_size: u32,
        quality_sort: bool,
        ascending: bool,
        /// Per partition (regular, auto): which creators, with the user where it matters.
        scopes: [Option<(&'static str, Option<usize>)>; 2],
        tags: BTreeSet<usize>,
        /// `all` only means something with two or more tags.
        all: bool,
        words: BTreeSet<&'static str>,
        stats_of: Option<Option<usize>>,
    },
}

fn meaning(spec: &Spec) -> Meaning {
    let scopes = match &spec.sources {
        None => [Some(("everyone", None)), Some(("everyone", None))],
        Some(set) => {
            let scope = |user_source: usize, community_source: usize| {
                let user = spec.user?;
                match (set.contains(&user_source), set.contains(&community_source)) {
                    (true, true) => Some(("everyone", None)),
                    (true, false) => Some(("only", Some(user))),
                    (false, true) => Some(("except", Some(user))),
                    (false, false) => None,
                }
            };
            [scope(0, 2), scope(1, 3)]
        }
    };
    if scopes == [None, None] {
        return Meaning::Empty {
            page: spec.page,
            page_size: spec.page_size,
            user: spec.user,
        };
    }
    Meaning::Rows {
        page: spec.page,
        page_size: spec.page_size,
        quality_sort: spec.quality_sort,
        ascending: spec.ascending,
        scopes,
        tags: spec.tags.clone(),
        all: spec.all && spec.tags.len() >= 2,
        words: spec
            .search
            .map(|s| SEARCHES[s].split(' ').collect())
            .unwrap_or_default(),
        stats_of: spec.include_stats.then_some(spec.user),
    }
}

/// `x` with one field taken from `other` (field 10: all of `other`), so pairs that differ in
/// one detail, where a key is most likely to be wrong, come up often.
fn near(x: &Spec, other: &Spec, field: usize) -> Spec {
    let mut y = x.clone();
    match field {
        0 => y.tags = other.tags.clone(),
        1 => y.all = other.all,
        2 => y.sources = other.sources.clone(),
        3 => y.user = other.user,
        4 => y.page = other.page,
        5 => y.page_size = other.page_size,
        6 => y.quality_sort = other.quality_sort,
        7 => y.ascending = other.ascending,
        8 => y.search = other.search,
        9 => y.include_stats = other.include_stats,
        _ => y = other.clone(),
    }
    y
}

fn key_of(query: &str) -> CacheKey {
    let parsed = parse(query, &Limits::default()).unwrap_or_else(|e| panic!("{query}: {e:?}"));
    CacheKey::page(&parsed)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2048))]

    #[test]
    fn every_spelling_of_a_request_shares_one_key(spec in spec(), a in spelling(), b in spelling()) {
        let (qa, qb) = (write(&spec, &a), write(&spec, &b));
        prop_assert_eq!(key_of(&qa), key_of(&qb), "{} vs {}", qa, qb);
    }

    #[test]
    fn keys_are_equal_exactly_when_answers_can_be(
        x in spec(), other in spec(), field in 0..11usize, a in spelling(), b in spelling()
    ) {
        let y = near(&x, &other, field);
        let (qx, qy) = (write(&x, &a), write(&y, &b));
        let same_meaning = meaning(&x) == meaning(&y);
        let same_key = key_of(&qx) == key_of(&qy);
        prop_assert_eq!(same_key, same_meaning, "{} vs {}", qx, qy);
    }

    #[test]
    fn pages_of_one_query_share_one_count(spec in spec(), a in spelling()) {
        let mut other = spec.clone();
        other.page += 1;
        other.quality_sort = !other.quality_sort;
        other.include_stats = !other.include_stats;
        let parsed = |s: &Spec| parse(&write(s, &a), &Limits::default()).unwrap();
        prop_assert_eq!(CacheKey::count(&parsed(&spec)), CacheKey::count(&parsed(&other)));
    }
}

#[test]
fn the_key_names_its_version_and_a_cursor_by_its_position() {
    let key = key_of("tag=c33a03d4-d74d-42b1-b9bb-4835c45229a9");
    assert!(key.text().starts_with("v1|page|"), "{}", key.text());
    assert_eq!(key.hex().len(), 64);
    // The same cursor with and without its `=` padding is one position.
    let padded = "eyJpZCI6IDExMTY4MDcsICJzcmMiOiAiYXV0byIsICJ0cyI6ICIyMDI1LTA1LTE1VDE3OjQ3OjM4In0=";
    assert_eq!(
        key_of(&format!("cursor={padded}")),
        key_of(&format!("cursor={}", padded.trim_end_matches('=')))
    );
    assert_ne!(
        key_of(&format!("cursor={padded}")),
        key_of(&format!("cursor={padded}&backward=true"))
    );
}
