//! What a cached answer depends on, as the names the database triggers emit
//! (`migrations/0005_change_events.sql` lists them). Pure: from the query and what the page
//! showed.
//!
//! An entry depends on `all`, on `part:{p}` for each partition it reads, on its own key, on
//! its filter (`tag:{p}:{id}` per tag, or `set:{p}` when it has no tag filter), on every item
//! and creator it shows, and on `stats` when it carries the stats object. Why that is enough:
//! a row can enter, leave or move within a query only if the query is untagged (`set:{p}`) or
//! names one of the row's tags (`tag:{p}:{id}`); the triggers report both for every row added,
//! removed or changed in a column that filters or sorts. A change only to what a row shows
//! reaches the pages that show it (`item:`), and a username the pages of that creator (`user:`).

use std::hash::{Hash, Hasher};

use uuid::Uuid;

use crate::gallery::key::CacheKey;
use crate::gallery::query::{GalleryQuery, Kind};

/// The dependencies of one entry: names (for Redis and the outbox) and their hashes (for the
/// in-process generations, checked on every memory hit).
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Deps {
    names: Vec<String>,
    hashes: Vec<u64>,
}

/// Rows a page showed, and whether its stats came from the live counters (an empty
/// `gen_source_stats`) rather than the table.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Shown {
    pub items: Vec<(Kind, i64)>,
    pub creators: Vec<Uuid>,
    pub stats: Option<StatsSource>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StatsSource {
    /// `gen_source_stats`, refreshed by Genonaut.
    Table,
    /// The proxy's exact counters (the table was empty): as fresh as the rows themselves.
    Counters,
}

impl Deps {
    pub fn from_names(mut names: Vec<String>) -> Deps {
        names.sort_unstable();
        names.dedup();
        let hashes = names.iter().map(|n| hash(n)).collect();
        Deps { names, hashes }
    }

    pub fn names(&self) -> &[String] {
        &self.names
    }

    pub fn hashes(&self) -> &[u64] {
        &self.hashes
    }

    /// Both sets together (a page built on a cached count depends on both).
    pub fn union(&self, other: &Deps) -> Deps {
        Deps::from_names(self.names.iter().chain(&other.names).cloned().collect())
    }

    /// Bytes a cache tier should count for these.
    pub fn weight(&self) -> usize {
        self.names.iter().map(|n| n.len() + 32).sum()
    }
}

/// The in-process identity of a dependency name. Two names sharing a hash only cost an extra
/// miss, never a stale answer.
pub fn hash(name: &str) -> u64 {
    let mut hasher = std::hash::DefaultHasher::new();
    name.hash(&mut hasher);
    hasher.finish()
}

pub const ALL: &str = "all";
pub const STATS: &str = "stats";

pub fn part(kind: Kind) -> String {
    format!("part:{}", kind.source_type())
}

pub fn set(kind: Kind) -> String {
    format!("set:{}", kind.source_type())
}

pub fn tag(kind: Kind, id: &Uuid) -> String {
    format!("tag:{}:{}", kind.source_type(), id.hyphenated())
}

pub fn item(kind: Kind, id: i64) -> String {
    format!("item:{}:{id}", kind.source_type())
}

pub fn user(id: &Uuid) -> String {
    format!("user:{}", id.hyphenated())
}

pub fn key(key: &CacheKey) -> String {
    format!("key:{}", key.hex())
}

/// What selects the rows of `query`: the dependencies its `total_count` has.
fn filter(query: &GalleryQuery, names: &mut Vec<String>) {
    names.push(ALL.to_string());
    for (kind, _) in query.sources.selected() {
        names.push(part(kind));
        if query.tags.is_empty() {
            names.push(set(kind));
        }
        for id in &query.tags.ids {
            names.push(tag(kind, id));
        }
    }
}

/// The dependencies of the count entry `count_key` of `query`.
pub fn of_count(query: &GalleryQuery, count_key: &CacheKey) -> Deps {
    let mut names = vec![key(count_key)];
    filter(query, &mut names);
    Deps::from_names(names)
}

/// The dependencies of the page entry `page_key` of `query`, which showed `shown`.
pub fn of_page(query: &GalleryQuery, page_key: &CacheKey, shown: &Shown) -> Deps {
    let mut names = vec![key(page_key)];
    filter(query, &mut names);
    for (kind, id) in &shown.items {
        names.push(item(*kind, *id));
    }
    for creator in &shown.creators {
        names.push(user(creator));
    }
    match shown.stats {
        None => {}
        Some(StatsSource::Table) => names.push(STATS.to_string()),
        Some(StatsSource::Counters) => {
            names.push(STATS.to_string());
            for kind in Kind::ALL {
                names.push(set(kind));
            }
        }
    }
    Deps::from_names(names)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gallery::params::parse;
    use crate::gallery::query::Kind;

    fn query(raw: &str) -> GalleryQuery {
        parse(raw, &Default::default()).expect("valid query")
    }

    #[test]
    fn tagged_queries_depend_on_their_tags_not_on_the_row_set() {
        let q = query("tag=6ba7b810-9dad-11d1-80b4-00c04fd430c8&content_source_types=community-auto&user_id=121e194b-4caa-4b81-ad4f-86ca3919d5b9");
        let key = CacheKey::page(&q);
        let deps = of_page(&q, &key, &Shown::default());
        let names = deps.names();
        assert!(names.contains(&"tag:auto:6ba7b810-9dad-11d1-80b4-00c04fd430c8".to_string()));
        assert!(names.contains(&"part:auto".to_string()));
        assert!(!names.iter().any(|n| n.starts_with("set:")));
        assert!(!names.iter().any(|n| n.contains("items")), "{names:?}");
        assert!(names.contains(&format!("key:{}", key.hex())));
    }

    #[test]
    fn untagged_pages_depend_on_the_row_set_and_what_they_show() {
        let q = query("page_size=2");
        let key = CacheKey::page(&q);
        let creator = Uuid::from_u128(7);
        let shown = Shown {
            items: vec![(Kind::Regular, 3), (Kind::Auto, 3)],
            creators: vec![creator],
            stats: Some(StatsSource::Counters),
        };
        let names = of_page(&q, &key, &shown).names().to_vec();
        for expected in [
            "all",
            "set:items",
            "set:auto",
            "item:items:3",
            "item:auto:3",
            "stats",
        ] {
            assert!(
                names.contains(&expected.to_string()),
                "{expected} in {names:?}"
            );
        }
        assert!(names.contains(&user(&creator)));
        let hashes = of_page(&q, &key, &shown);
        assert_eq!(hashes.hashes().len(), hashes.names().len());
    }

    #[test]
    fn names_are_deduplicated_and_order_free() {
        let a = Deps::from_names(vec!["b".into(), "a".into(), "b".into()]);
        let b = Deps::from_names(vec!["a".into(), "b".into()]);
        assert_eq!(a, b);
        assert_eq!(a.union(&b), b);
    }
}
