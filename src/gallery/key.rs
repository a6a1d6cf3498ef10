//! [`GalleryQuery`] → cache keys (invariant 1: equivalent queries share one entry, different
//! queries never do).
//!
//! A key is built from the parsed query, never the raw URL, so everything `params::parse`
//! normalizes (tag spellings, order and duplicates, source-type order, defaults, `sort_order`
//! case, parameters that cannot change the answer) is normalized here too. What can change the
//! answer is written out in full, in a fixed order, with unambiguous separators; the digest of
//! that text names the entry in both tiers.
//!
//! Two keys per query: the page key (the whole body) and the count key (only what
//! `total_count` depends on), so every page of one query shares one cached count.

use std::fmt::Write;

use sha2::{Digest, Sha256};

use super::query::{CreatorScope, GalleryQuery, Order, Position, SortField, TagMatch};

/// Bumped whenever the rendered body, the entry encoding or the key text changes, so a new
/// release never answers from an older release's Redis entries.
pub const KEY_VERSION: &str = "v1";

/// A cache key: the canonical text (kept for logs and tests) and its SHA-256.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct CacheKey {
    text: String,
    digest: [u8; 32],
}

impl CacheKey {
    fn from_text(text: String) -> CacheKey {
        let digest = Sha256::digest(text.as_bytes()).into();
        CacheKey { text, digest }
    }

    /// The key of the whole response body for `query`.
    pub fn page(query: &GalleryQuery) -> CacheKey {
        let mut text = String::with_capacity(160);
        text.push_str(KEY_VERSION);
        text.push_str("|page|");
        if query.sources.is_empty() {
            // Upstream's early-empty answer: only the echoed page fields and the stats of the
            // user (which every early-empty body carries) can differ.
            let _ = write!(text, "empty|p={}|n={}|", query.page, query.page_size);
            write_user(&mut text, query.user_id);
            return CacheKey::from_text(text);
        }
        let _ = write!(text, "p={}|n={}|", query.page, query.page_size);
        match &query.position {
            Position::Offset => text.push_str("at=offset|"),
            Position::Cursor { cursor, backward } => {
                // Re-encoded: a cursor without `=` padding or with surrounding blanks is the
                // same position.
                let _ = write!(text, "at=cursor:{}:{}|", cursor.encode(), backward);
            }
        }
        let sort = match query.sort {
            SortField::CreatedAt => "created_at",
            SortField::QualityScore => "quality_score",
        };
        let order = match query.order {
            Order::Asc => "asc",
            Order::Desc => "desc",
        };
        let _ = write!(text, "sort={sort}:{order}|");
        write_filter(&mut text, query);
        if query.include_stats {
            text.push_str("stats=");
            write_user(&mut text, query.user_id);
        }
        CacheKey::from_text(text)
    }

    /// The key of `total_count` for `query`: its filters only (not page, sort, position or
    /// stats). `None` for the early-empty answer, which has no count to share.
    pub fn count(query: &GalleryQuery) -> Option<CacheKey> {
        if query.sources.is_empty() {
            return None;
        }
        let mut text = String::with_capacity(120);
        text.push_str(KEY_VERSION);
        text.push_str("|count|");
        write_filter(&mut text, query);
        Some(CacheKey::from_text(text))
    }

    pub fn text(&self) -> &str {
        &self.text
    }

    pub fn digest(&self) -> &[u8; 32] {
        &self.digest
    }

    /// Lower-case hex of the digest, for Redis key names.
    pub fn hex(&self) -> String {
        let mut hex = String::with_capacity(64);
        for byte in self.digest {
            let _ = write!(hex, "{byte:02x}");
        }
        hex
    }
}

/// What selects the rows: partitions with their creator scopes, tags, search tokens.
fn write_filter(text: &mut String, query: &GalleryQuery) {
    for (name, scope) in [
        ("regular", query.sources.regular),
        ("auto", query.sources.auto),
    ] {
        text.push_str(name);
        text.push('=');
        match scope {
            None => text.push('-'),
            Some(CreatorScope::Everyone) => text.push('*'),
            Some(CreatorScope::Only(user)) => {
                let _ = write!(text, "only:{}", user.hyphenated());
            }
            Some(CreatorScope::Except(user)) => {
                let _ = write!(text, "except:{}", user.hyphenated());
            }
        }
        text.push('|');
    }
    text.push_str("tags=");
    match query.tags.mode {
        None => {}
        Some(TagMatch::Any) => text.push_str("any:"),
        Some(TagMatch::All) => text.push_str("all:"),
    }
    for (i, id) in query.tags.ids.iter().enumerate() {
        if i > 0 {
            text.push(',');
        }
        let _ = write!(text, "{}", id.hyphenated());
    }
    text.push_str("|search=");
    // Every token must match (AND), so their order and repeats do not change the answer.
    let mut tokens: Vec<&str> = query.search.iter().map(String::as_str).collect();
    tokens.sort_unstable();
    tokens.dedup();
    // JSON string array: tokens may hold any character, so they need real quoting.
    text.push_str(&serde_json::to_string(&tokens).expect("strings serialize"));
    text.push('|');
}

fn write_user(text: &mut String, user: Option<uuid::Uuid>) {
    match user {
        Some(user) => {
            let _ = write!(text, "user:{}|", user.hyphenated());
        }
        None => text.push_str("user:-|"),
    }
}

#[cfg(test)]
mod tests;
