//! Keyset cursors in the upstream format.
//!
//! A cursor is base64url (with `=` padding) of `json.dumps({"id":…, "src":…, "ts":…},
//! sort_keys=True)`, Python's default separators included. gallery-proxy writes exactly that
//! for `created_at` sorts. For `quality_score` sorts it adds the row's score as `"qs"` so the
//! cursor can position the next page (upstream's cursor cannot, and repeats page 1); the key
//! sorts between `id` and `src`, so the text is still sorted-key JSON.

use base64::engine::general_purpose::{URL_SAFE, URL_SAFE_NO_PAD};
use base64::Engine;
use chrono::NaiveDateTime;

use super::pyfloat::write_py_float;
use super::query::{Kind, SortField};
use super::render::write_timestamp;

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Cursor {
    pub id: i64,
    pub kind: Kind,
    pub created_at: NaiveDateTime,
    /// Present only in cursors written for a `quality_score` sort (`Some(None)`: a NULL score).
    pub quality: Option<Option<f64>>,
}

/// Longest cursor accepted; real ones are about 90 characters.
const MAX_CURSOR_LEN: usize = 512;

impl Cursor {
    pub fn encode(&self) -> String {
        let mut json = String::with_capacity(96);
        json.push_str("{\"id\": ");
        json.push_str(&self.id.to_string());
        if let Some(quality) = self.quality {
            json.push_str(", \"qs\": ");
            match quality {
                Some(q) => write_py_float(&mut json, q),
                None => json.push_str("null"),
            }
        }
        json.push_str(", \"src\": \"");
        json.push_str(self.kind.source_type());
        json.push_str("\", \"ts\": \"");
        write_timestamp(&mut json, self.created_at);
        json.push_str("\"}");
        URL_SAFE.encode(json)
    }

    /// Decodes a cursor for a query sorted by `sort`. `None` means the cursor is not one this
    /// API wrote for that sort; the caller answers 400.
    pub fn decode(text: &str, sort: SortField) -> Option<Cursor> {
        let text = text.trim();
        if text.len() > MAX_CURSOR_LEN {
            return None;
        }
        let bytes = URL_SAFE
            .decode(text)
            .or_else(|_| URL_SAFE_NO_PAD.decode(text.trim_end_matches('=')))
            .ok()?;
        let value: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
        let object = value.as_object()?;
        let id = object.get("id")?.as_i64()?;
        let kind = Kind::from_source_type(object.get("src")?.as_str()?)?;
        let created_at = parse_iso_timestamp(object.get("ts")?.as_str()?)?;
        let quality = match sort {
            SortField::CreatedAt => None,
            SortField::QualityScore => match object.get("qs")? {
                serde_json::Value::Null => Some(None),
                v => Some(Some(v.as_f64().filter(|q| q.is_finite())?)),
            },
        };
        Some(Cursor {
            id,
            kind,
            created_at,
            quality,
        })
    }
}

/// Python's `datetime.isoformat()` output for naive timestamps (`T` or space separator, 0–6
/// fraction digits).
fn parse_iso_timestamp(s: &str) -> Option<NaiveDateTime> {
    ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f"]
        .iter()
        .find_map(|f| NaiveDateTime::parse_from_str(s, f).ok())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;

    fn ts(h: u32, m: u32, s: u32, micro: u32) -> NaiveDateTime {
        NaiveDate::from_ymd_opt(2025, 9, 21)
            .unwrap()
            .and_hms_micro_opt(h, m, s, micro)
            .unwrap()
    }

    #[test]
    fn encodes_the_upstream_bytes() {
        // From the contract: {"id": 3000070, "src": "auto", "ts": "2025-09-21T03:59:12.123456"}.
        let c = Cursor {
            id: 3000070,
            kind: Kind::Auto,
            created_at: ts(3, 59, 12, 123456),
            quality: None,
        };
        assert_eq!(c.encode(), "eyJpZCI6IDMwMDAwNzAsICJzcmMiOiAiYXV0byIsICJ0cyI6ICIyMDI1LTA5LTIxVDAzOjU5OjEyLjEyMzQ1NiJ9");
        // Observed O1's next_cursor, item 1688027.
        let c = Cursor {
            id: 1688027,
            kind: Kind::Auto,
            created_at: ts(3, 53, 14, 376366),
            quality: None,
        };
        assert_eq!(c.encode(), "eyJpZCI6IDE2ODgwMjcsICJzcmMiOiAiYXV0byIsICJ0cyI6ICIyMDI1LTA5LTIxVDAzOjUzOjE0LjM3NjM2NiJ9");
    }

    #[test]
    fn zero_microseconds_are_omitted_and_padding_kept() {
        // Observed O13: {"id": 1116807, "src": "auto", "ts": "2025-05-15T17:47:38"}.
        let created_at = NaiveDate::from_ymd_opt(2025, 5, 15)
            .unwrap()
            .and_hms_opt(17, 47, 38)
            .unwrap();
        let c = Cursor {
            id: 1116807,
            kind: Kind::Auto,
            created_at,
            quality: None,
        };
        assert_eq!(
            c.encode(),
            "eyJpZCI6IDExMTY4MDcsICJzcmMiOiAiYXV0byIsICJ0cyI6ICIyMDI1LTA1LTE1VDE3OjQ3OjM4In0="
        );
    }

    #[test]
    fn round_trips_for_both_sorts() {
        let c = Cursor {
            id: 7,
            kind: Kind::Regular,
            created_at: ts(1, 2, 3, 4),
            quality: Some(Some(0.81)),
        };
        assert_eq!(
            Cursor::decode(&c.encode(), SortField::QualityScore),
            Some(c)
        );
        let c = Cursor {
            quality: Some(None),
            ..c
        };
        assert_eq!(
            Cursor::decode(&c.encode(), SortField::QualityScore),
            Some(c)
        );
        let c = Cursor { quality: None, ..c };
        assert_eq!(Cursor::decode(&c.encode(), SortField::CreatedAt), Some(c));
    }

    #[test]
    fn rejects_what_it_did_not_write() {
        for bad in ["garbage", "", "e30=", "eyJpZCI6IDF9"] {
            assert_eq!(Cursor::decode(bad, SortField::CreatedAt), None, "{bad}");
        }
        // A created_at cursor has no position for a quality sort.
        let c = Cursor {
            id: 7,
            kind: Kind::Auto,
            created_at: ts(1, 2, 3, 4),
            quality: None,
        };
        assert_eq!(Cursor::decode(&c.encode(), SortField::QualityScore), None);
    }
}
