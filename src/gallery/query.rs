//! The gallery query as plain values: what a request asks for, after validation.
//!
//! Only `params::parse` builds a [`GalleryQuery`], so every value here is already checked and
//! normalized (tag ids deduplicated and sorted, sources resolved to one scope per partition).

use chrono::NaiveDateTime;
use uuid::Uuid;

use super::cursor::Cursor;

/// The two content partitions. `source_type` says `items`/`auto`; `content_tags.content_source`
/// says `regular`/`auto` for the same thing (the mismatch behind upstream's tag-filter bug).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    Regular,
    Auto,
}

impl Kind {
    pub const ALL: [Kind; 2] = [Kind::Regular, Kind::Auto];

    /// The value of `content_items_all.source_type` (and of the cursor's `src`).
    pub fn source_type(self) -> &'static str {
        match self {
            Kind::Regular => "items",
            Kind::Auto => "auto",
        }
    }

    /// The value of `content_tags.content_source` for the same partition.
    pub fn content_source(self) -> &'static str {
        match self {
            Kind::Regular => "regular",
            Kind::Auto => "auto",
        }
    }

    /// The partition table itself, so queries name it directly and never rely on pruning.
    pub fn table(self) -> &'static str {
        match self {
            Kind::Regular => "content_items",
            Kind::Auto => "content_items_auto",
        }
    }

    pub fn from_source_type(s: &str) -> Option<Kind> {
        match s {
            "items" => Some(Kind::Regular),
            "auto" => Some(Kind::Auto),
            _ => None,
        }
    }
}

/// Which creators of one partition a query includes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CreatorScope {
    Everyone,
    /// `creator_id = user` ("user-regular", or legacy `creator_filter=user`).
    Only(Uuid),
    /// `creator_id != user` ("community-*": everyone but the user).
    Except(Uuid),
}

/// One optional scope per partition; a partition with `None` contributes no rows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct Sources {
    pub regular: Option<CreatorScope>,
    pub auto: Option<CreatorScope>,
}

impl Sources {
    pub fn get(&self, kind: Kind) -> Option<CreatorScope> {
        match kind {
            Kind::Regular => self.regular,
            Kind::Auto => self.auto,
        }
    }

    pub fn set(&mut self, kind: Kind, scope: Option<CreatorScope>) {
        match kind {
            Kind::Regular => self.regular = scope,
            Kind::Auto => self.auto = scope,
        }
    }

    /// No partition selected: upstream's "early empty" answer.
    pub fn is_empty(&self) -> bool {
        self.regular.is_none() && self.auto.is_none()
    }

    /// The selected partitions with their scopes, in a fixed order.
    pub fn selected(&self) -> impl Iterator<Item = (Kind, CreatorScope)> + '_ {
        Kind::ALL
            .into_iter()
            .filter_map(|k| self.get(k).map(|s| (k, s)))
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SortField {
    CreatedAt,
    QualityScore,
}

impl SortField {
    /// The accepted `sort_field` values, in the order error messages list them.
    pub const NAMES: &'static str = "created_at, quality_score";

    pub fn parse(s: &str) -> Option<SortField> {
        match s {
            "created_at" => Some(SortField::CreatedAt),
            "quality_score" => Some(SortField::QualityScore),
            _ => None,
        }
    }

    pub fn column(self) -> &'static str {
        match self {
            SortField::CreatedAt => "created_at",
            SortField::QualityScore => "quality_score",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Order {
    Asc,
    Desc,
}

impl Order {
    pub fn sql(self) -> &'static str {
        match self {
            Order::Asc => "ASC",
            Order::Desc => "DESC",
        }
    }

    pub fn reversed(self) -> Order {
        match self {
            Order::Asc => Order::Desc,
            Order::Desc => Order::Asc,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TagMatch {
    Any,
    All,
}

/// Tag filter: ids sorted and deduplicated; `mode` is `Any` whenever there are fewer than two
/// tags, since one tag means the same in both modes.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Default)]
pub struct Tags {
    pub ids: Vec<Uuid>,
    pub mode: Option<TagMatch>,
}

impl Tags {
    pub fn new(mut ids: Vec<Uuid>, mode: TagMatch) -> Tags {
        ids.sort_unstable();
        ids.dedup();
        let mode = match ids.len() {
            0 => None,
            1 => Some(TagMatch::Any),
            _ => Some(mode),
        };
        Tags { ids, mode }
    }

    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }
}

/// Where the page starts.
#[derive(Clone, Debug, PartialEq)]
pub enum Position {
    /// `OFFSET (page - 1) * page_size`.
    Offset,
    /// Keyset from a cursor; `backward` walks toward the start and returns rows in display order.
    Cursor { cursor: Cursor, backward: bool },
}

/// A validated gallery request.
#[derive(Clone, Debug, PartialEq)]
pub struct GalleryQuery {
    /// The requested page (echoed in the answer; in cursor mode it does not move the window).
    pub page: u64,
    pub page_size: u32,
    pub position: Position,
    pub sources: Sources,
    /// The user the `stats` object is about (also the user of any creator scope).
    pub user_id: Option<Uuid>,
    /// Search tokens (phrases and words), each matched with ILIKE against title or prompt.
    pub search: Vec<String>,
    pub sort: SortField,
    pub order: Order,
    pub tags: Tags,
    pub include_stats: bool,
}

impl GalleryQuery {
    /// Rows skipped before the page in offset mode, saturating for absurd page numbers.
    pub fn offset(&self) -> i64 {
        let offset = (self.page.saturating_sub(1)).saturating_mul(u64::from(self.page_size));
        i64::try_from(offset).unwrap_or(i64::MAX)
    }
}

/// The sort key of one row: the sort column's value, then `id`, then the partition, which
/// makes the order total even where ids repeat across partitions (legacy data).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SortKey {
    pub value: SortValue,
    pub id: i64,
    pub kind: Kind,
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum SortValue {
    CreatedAt(NaiveDateTime),
    Quality(Option<f64>),
}
