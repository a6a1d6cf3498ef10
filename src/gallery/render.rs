//! Rows → the exact JSON bytes of the upstream response.
//!
//! Starlette writes `json.dumps(…, separators=(",", ":"), ensure_ascii=False)`: no spaces,
//! non-ASCII as UTF-8, keys in insertion order, floats as Python `repr`, timestamps as naive
//! `isoformat()`. The layout is written by hand rather than through serde so that the key order
//! and number forms are visibly the contract's, and a 25-item page costs one buffer.

use std::fmt::Write;

use chrono::{NaiveDateTime, Timelike};
use uuid::Uuid;

use super::jsonb::write_compact_jsonb;
use super::pyfloat::write_py_float;
use super::query::Kind;

/// One gallery item as read from the database. jsonb columns stay PostgreSQL text.
#[derive(Clone, Debug, PartialEq)]
pub struct ItemRow {
    pub id: i64,
    pub title: String,
    pub content_type: String,
    pub content_data: String,
    pub path_thumb: Option<String>,
    pub path_thumbs_alt_res: Option<String>,
    pub prompt: String,
    pub creator_id: Uuid,
    pub creator_username: String,
    pub item_metadata: Option<String>,
    pub is_private: bool,
    pub quality_score: Option<f64>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub kind: Kind,
}

/// The `pagination` object.
#[derive(Clone, Debug, PartialEq)]
pub struct Pagination {
    pub page: u64,
    pub page_size: u32,
    pub total_count: u64,
    pub has_next: bool,
    pub has_previous: bool,
    pub next_cursor: Option<String>,
    pub prev_cursor: Option<String>,
}

impl Pagination {
    pub fn total_pages(&self) -> u64 {
        self.total_count.div_ceil(u64::from(self.page_size))
    }
}

/// The `stats` object: counts from `gen_source_stats`, about the request's user only.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Stats {
    pub user_regular_count: i64,
    pub user_auto_count: i64,
    pub community_regular_count: i64,
    pub community_auto_count: i64,
}

/// Renders a full answer: items, pagination (with cursor keys) and, when asked, stats.
pub fn render_page(items: &[ItemRow], pagination: &Pagination, stats: Option<&Stats>) -> String {
    let mut out = String::with_capacity(256 + items.len() * 900);
    out.push_str("{\"items\":[");
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        write_item(&mut out, item);
    }
    out.push_str("],\"pagination\":");
    write_pagination(&mut out, pagination, true);
    if let Some(stats) = stats {
        out.push_str(",\"stats\":");
        write_stats(&mut out, stats);
    }
    out.push('}');
    out
}

/// Upstream's early-empty answer: no cursor keys, and `stats` always present.
pub fn render_early_empty(page: u64, page_size: u32, stats: &Stats) -> String {
    let pagination = Pagination {
        page,
        page_size,
        total_count: 0,
        has_next: false,
        has_previous: false,
        next_cursor: None,
        prev_cursor: None,
    };
    let mut out = String::with_capacity(256);
    out.push_str("{\"items\":[],\"pagination\":");
    write_pagination(&mut out, &pagination, false);
    out.push_str(",\"stats\":");
    write_stats(&mut out, stats);
    out.push('}');
    out
}

fn write_item(out: &mut String, item: &ItemRow) {
    let _ = write!(out, "{{\"id\":{},\"title\":", item.id);
    write_str(out, &item.title);
    out.push_str(",\"content_type\":");
    write_str(out, &item.content_type);
    out.push_str(",\"content_data\":");
    write_str(out, &item.content_data);
    out.push_str(",\"path_thumb\":");
    write_opt_str(out, item.path_thumb.as_deref());
    out.push_str(",\"path_thumbs_alt_res\":");
    write_opt_jsonb(out, item.path_thumbs_alt_res.as_deref());
    out.push_str(",\"prompt\":");
    write_str(out, &item.prompt);
    out.push_str(",\"creator_id\":\"");
    out.push_str(
        item.creator_id
            .hyphenated()
            .encode_lower(&mut Uuid::encode_buffer()),
    );
    out.push_str("\",\"creator_username\":");
    write_str(out, &item.creator_username);
    out.push_str(",\"item_metadata\":");
    write_opt_jsonb(out, item.item_metadata.as_deref());
    out.push_str(",\"is_private\":");
    out.push_str(if item.is_private { "true" } else { "false" });
    out.push_str(",\"quality_score\":");
    match item.quality_score {
        Some(q) => write_py_float(out, q),
        None => out.push_str("null"),
    }
    out.push_str(",\"created_at\":\"");
    write_timestamp(out, item.created_at);
    out.push_str("\",\"updated_at\":\"");
    write_timestamp(out, item.updated_at);
    out.push_str("\",\"source_type\":\"");
    out.push_str(item.kind.source_type());
    out.push_str("\"}");
}

fn write_pagination(out: &mut String, p: &Pagination, with_cursors: bool) {
    let _ = write!(
        out,
        "{{\"page\":{},\"page_size\":{},\"total_count\":{},\"total_pages\":{},\"has_next\":{},\"has_previous\":{}",
        p.page,
        p.page_size,
        p.total_count,
        p.total_pages(),
        p.has_next,
        p.has_previous
    );
    if with_cursors {
        out.push_str(",\"next_cursor\":");
        write_opt_str(out, p.next_cursor.as_deref());
        out.push_str(",\"prev_cursor\":");
        write_opt_str(out, p.prev_cursor.as_deref());
    }
    out.push('}');
}

fn write_stats(out: &mut String, s: &Stats) {
    let _ = write!(
        out,
        "{{\"user_regular_count\":{},\"user_auto_count\":{},\"community_regular_count\":{},\"community_auto_count\":{}}}",
        s.user_regular_count, s.user_auto_count, s.community_regular_count, s.community_auto_count
    );
}

/// Python `datetime.isoformat()` of a naive timestamp: the fraction only when non-zero, and
/// then always six digits.
pub fn write_timestamp(out: &mut String, t: NaiveDateTime) {
    let _ = write!(out, "{}", t.format("%Y-%m-%dT%H:%M:%S"));
    let micros = t.nanosecond() / 1_000;
    if micros != 0 {
        let _ = write!(out, ".{micros:06}");
    }
}

fn write_opt_str(out: &mut String, s: Option<&str>) {
    match s {
        Some(s) => write_str(out, s),
        None => out.push_str("null"),
    }
}

fn write_opt_jsonb(out: &mut String, text: Option<&str>) {
    match text {
        Some(text) => write_compact_jsonb(out, text),
        None => out.push_str("null"),
    }
}

/// A JSON string as Python's encoder writes it with `ensure_ascii=False`.
pub fn write_str(out: &mut String, s: &str) {
    out.push('"');
    let mut start = 0;
    for (i, c) in s.char_indices() {
        let escaped = match c {
            '"' => "\\\"",
            '\\' => "\\\\",
            '\n' => "\\n",
            '\r' => "\\r",
            '\t' => "\\t",
            '\u{08}' => "\\b",
            '\u{0c}' => "\\f",
            c if (c as u32) < 0x20 => "",
            _ => continue,
        };
        out.push_str(&s[start..i]);
        if escaped.is_empty() {
            let _ = write!(out, "\\u{:04x}", c as u32);
        } else {
            out.push_str(escaped);
        }
        start = i + c.len_utf8();
    }
    out.push_str(&s[start..]);
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;

    /// The contract's observed O13 body, byte for byte.
    #[test]
    fn renders_observed_o13_exactly() {
        let created = NaiveDate::from_ymd_opt(2025, 5, 15)
            .unwrap()
            .and_hms_opt(17, 47, 38)
            .unwrap();
        let item = ItemRow {
            id: 1116807,
            title: "close-up of a neon city street".into(),
            content_type: "image".into(),
            content_data: "io/storage/images/bf864af7-b95c-4e08-806f-0d8c92db3322.png".into(),
            path_thumb: None,
            path_thumbs_alt_res: None,
            prompt: "todo".into(),
            creator_id: "03ae27c0-fed8-46d1-b483-9c8898dbcc75".parse().unwrap(),
            creator_username: "rusty_willow160".into(),
            item_metadata: Some(r#"{"tags": ["character design"], "style": "illustration", "prompt": "close-up of a neon city street on a windy cliff, painterly brushstrokes, 8k", "resolution": "2048x2048"}"#.into()),
            is_private: false,
            quality_score: Some(0.3),
            created_at: created,
            updated_at: created,
            kind: Kind::Auto,
        };
        let cursor =
            "eyJpZCI6IDExMTY4MDcsICJzcmMiOiAiYXV0byIsICJ0cyI6ICIyMDI1LTA1LTE1VDE3OjQ3OjM4In0="
                .to_string();
        let pagination = Pagination {
            page: 1,
            page_size: 1,
            total_count: 119624,
            has_next: true,
            has_previous: false,
            next_cursor: Some(cursor.clone()),
            prev_cursor: Some(cursor),
        };
        let want = r#"{"items":[{"id":1116807,"title":"close-up of a neon city street","content_type":"image","content_data":"io/storage/images/bf864af7-b95c-4e08-806f-0d8c92db3322.png","path_thumb":null,"path_thumbs_alt_res":null,"prompt":"todo","creator_id":"03ae27c0-fed8-46d1-b483-9c8898dbcc75","creator_username":"rusty_willow160","item_metadata":{"tags":["character design"],"style":"illustration","prompt":"close-up of a neon city street on a windy cliff, painterly brushstrokes, 8k","resolution":"2048x2048"},"is_private":false,"quality_score":0.3,"created_at":"2025-05-15T17:47:38","updated_at":"2025-05-15T17:47:38","source_type":"auto"}],"pagination":{"page":1,"page_size":1,"total_count":119624,"total_pages":119624,"has_next":true,"has_previous":false,"next_cursor":"eyJpZCI6IDExMTY4MDcsICJzcmMiOiAiYXV0byIsICJ0cyI6ICIyMDI1LTA1LTE1VDE3OjQ3OjM4In0=","prev_cursor":"eyJpZCI6IDExMTY4MDcsICJzcmMiOiAiYXV0byIsICJ0cyI6ICIyMDI1LTA1LTE1VDE3OjQ3OjM4In0="}}"#;
        let got = render_page(&[item], &pagination, None);
        assert_eq!(got, want);
        assert_eq!(got.len(), 938);
    }

    /// Observed O6, the early-empty answer (242 bytes).
    #[test]
    fn renders_observed_early_empty() {
        let stats = Stats {
            user_regular_count: 189,
            user_auto_count: 2266,
            community_regular_count: 64625,
            community_auto_count: 1110375,
        };
        assert_eq!(
            render_early_empty(1, 25, &stats),
            r#"{"items":[],"pagination":{"page":1,"page_size":25,"total_count":0,"total_pages":0,"has_next":false,"has_previous":false},"stats":{"user_regular_count":189,"user_auto_count":2266,"community_regular_count":64625,"community_auto_count":1110375}}"#
        );
    }

    #[test]
    fn strings_escape_like_python() {
        let mut s = String::new();
        write_str(&mut s, "a\"b\\c\nd\u{1}é\u{7f}\u{2028}");
        assert_eq!(s, "\"a\\\"b\\\\c\\nd\\u0001é\u{7f}\u{2028}\"");
    }

    #[test]
    fn timestamps_keep_six_fraction_digits() {
        let t = NaiveDate::from_ymd_opt(2025, 7, 26)
            .unwrap()
            .and_hms_micro_opt(15, 1, 35, 238240)
            .unwrap();
        let mut s = String::new();
        write_timestamp(&mut s, t);
        assert_eq!(s, "2025-07-26T15:01:35.238240");
    }
}
