//! An independent computation of what the gallery should return: every item and tag of the
//! test database loaded into memory, filtered and sorted with plain Rust. It shares no code with
//! the proxy's query path.

use std::cmp::Ordering;
use std::collections::{HashMap, HashSet};

use chrono::NaiveDateTime;
use sqlx::Row;
use uuid::Uuid;

use super::TestDb;

#[derive(Clone, Debug)]
pub struct Item {
    pub id: i64,
    /// `items` or `auto`.
    pub src: String,
    pub creator: Uuid,
    pub created_at: NaiveDateTime,
    pub quality: Option<f64>,
    pub title: String,
    pub prompt: String,
    pub tags: HashSet<Uuid>,
}

/// Which creators of one partition are wanted.
#[derive(Clone, Copy, Debug)]
pub enum Scope {
    Nobody,
    Everyone,
    Only(Uuid),
    Except(Uuid),
}

#[derive(Clone, Debug)]
pub struct Filter {
    pub regular: Scope,
    pub auto: Scope,
    pub tags: Vec<Uuid>,
    pub all: bool,
    pub search: Vec<String>,
    pub quality_sort: bool,
    pub descending: bool,
}

impl Default for Filter {
    fn default() -> Self {
        Filter {
            regular: Scope::Everyone,
            auto: Scope::Everyone,
            tags: vec![],
            all: false,
            search: vec![],
            quality_sort: false,
            descending: true,
        }
    }
}

pub struct Model {
    pub items: Vec<Item>,
    /// Tag ids by name.
    pub tags: HashMap<String, Uuid>,
}

impl Model {
    pub async fn load(db: &TestDb) -> Model {
        let mut conn = db.connect().await;
        let mut tags_of: HashMap<(i64, String), HashSet<Uuid>> = HashMap::new();
        for row in sqlx::query("SELECT content_id, content_source, tag_id FROM content_tags")
            .fetch_all(&mut conn)
            .await
            .unwrap()
        {
            let source: String = row.get(1);
            let src = if source == "regular" {
                "items".to_string()
            } else {
                source
            };
            tags_of
                .entry((i64::from(row.get::<i32, _>(0)), src))
                .or_default()
                .insert(row.get(2));
        }
        let items = sqlx::query(
            "SELECT id, source_type, creator_id, created_at, quality_score, title, prompt FROM content_items_all",
        )
        .fetch_all(&mut conn)
        .await
        .unwrap()
        .into_iter()
        .map(|row| {
            let id = i64::from(row.get::<i32, _>(0));
            let src: String = row.get(1);
            Item {
                id,
                tags: tags_of.remove(&(id, src.clone())).unwrap_or_default(),
                src,
                creator: row.get(2),
                created_at: row.get(3),
                quality: row.get(4),
                title: row.get(5),
                prompt: row.get(6),
            }
        })
        .collect();
        let tags = sqlx::query("SELECT name, id FROM tags")
            .fetch_all(&mut conn)
            .await
            .unwrap()
            .into_iter()
            .map(|row| (row.get(0), row.get(1)))
            .collect();
        Model { items, tags }
    }

    pub fn tag(&self, name: &str) -> Uuid {
        self.tags[name]
    }

    /// How many items carry each tag, most common first.
    pub fn tags_by_popularity(&self) -> Vec<(Uuid, usize)> {
        let mut counts: HashMap<Uuid, usize> = HashMap::new();
        for item in &self.items {
            for tag in &item.tags {
                *counts.entry(*tag).or_default() += 1;
            }
        }
        let mut counts: Vec<_> = counts.into_iter().collect();
        counts.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        counts
    }

    /// The ids (with partition) that `filter` selects, in display order.
    pub fn select(&self, filter: &Filter) -> Vec<(i64, String)> {
        let mut selected: Vec<&Item> = self
            .items
            .iter()
            .filter(|item| matches(item, filter))
            .collect();
        selected.sort_by(|a, b| {
            let primary = if filter.quality_sort {
                cmp_quality(a.quality, b.quality)
            } else {
                a.created_at.cmp(&b.created_at)
            };
            let ordering = primary.then(a.id.cmp(&b.id));
            if filter.descending {
                ordering.reverse()
            } else {
                ordering
            }
        });
        selected
            .into_iter()
            .map(|i| (i.id, i.src.clone()))
            .collect()
    }
}

/// PostgreSQL's default: NULL sorts above every number.
fn cmp_quality(a: Option<f64>, b: Option<f64>) -> Ordering {
    match (a, b) {
        (None, None) => Ordering::Equal,
        (None, Some(_)) => Ordering::Greater,
        (Some(_), None) => Ordering::Less,
        (Some(x), Some(y)) => x.partial_cmp(&y).unwrap(),
    }
}

fn matches(item: &Item, filter: &Filter) -> bool {
    let scope = if item.src == "items" {
        filter.regular
    } else {
        filter.auto
    };
    let creator_ok = match scope {
        Scope::Nobody => false,
        Scope::Everyone => true,
        Scope::Only(u) => item.creator == u,
        Scope::Except(u) => item.creator != u,
    };
    let tags_ok = filter.tags.is_empty()
        || if filter.all {
            filter.tags.iter().all(|t| item.tags.contains(t))
        } else {
            filter.tags.iter().any(|t| item.tags.contains(t))
        };
    let search_ok = filter.search.iter().all(|token| {
        let token = token.to_lowercase();
        item.title.to_lowercase().contains(&token) || item.prompt.to_lowercase().contains(&token)
    });
    creator_ok && tags_ok && search_ok
}
