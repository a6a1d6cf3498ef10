//! Tag identifiers as the upstream API resolves them.
//!
//! Upstream turns each `tag`/`tag_names` string into a UUID: first with Python's `UUID(s)`
//! (upper case, braces, `urn:uuid:` and missing hyphens all accepted), otherwise as a slug or raw
//! string through `uuid5(NAMESPACE_DNS, s)`. A hierarchy slug and the raw string give the same
//! uuid5, so one rule covers both. Tag names are never looked up, and an unknown id simply
//! matches nothing.

use uuid::Uuid;

/// Resolves one raw tag string the way upstream does. Never fails: anything that is not a UUID
/// becomes a name-based UUID that matches only a tag created under that id.
pub fn resolve_tag(raw: &str) -> Uuid {
    parse_python_uuid(raw).unwrap_or_else(|| Uuid::new_v5(&Uuid::NAMESPACE_DNS, raw.as_bytes()))
}

/// Python's `uuid.UUID(hex)`: drop `urn:` and `uuid:`, strip braces at both ends, drop hyphens,
/// then require 32 characters that `int(s, 16)` accepts.
pub fn parse_python_uuid(raw: &str) -> Option<Uuid> {
    let hex = raw.replace("urn:", "").replace("uuid:", "");
    let hex = hex.trim_matches(|c| c == '{' || c == '}').replace('-', "");
    if hex.chars().count() != 32 {
        return None;
    }
    python_int_base16(&hex).map(Uuid::from_u128)
}

/// `int(s, 16)` for a string already known to be short: surrounding whitespace, a sign, a `0x`
/// prefix and single underscores between digits are allowed. Negative values are rejected, as
/// `UUID(int=…)` would.
fn python_int_base16(s: &str) -> Option<u128> {
    let s = s.trim_matches(is_python_whitespace);
    let (negative, s) = match s.as_bytes().first() {
        Some(b'+') => (false, &s[1..]),
        Some(b'-') => (true, &s[1..]),
        _ => (false, s),
    };
    let (s, underscore_ok) = match s.get(..2) {
        Some("0x") | Some("0X") => (&s[2..], true),
        _ => (s, false),
    };
    let mut value: u128 = 0;
    let mut seen_digit = false;
    let mut previous_underscore = underscore_ok;
    let mut allow_leading_underscore = underscore_ok;
    for c in s.chars() {
        if c == '_' {
            if !(seen_digit && !previous_underscore) && !allow_leading_underscore {
                return None;
            }
            allow_leading_underscore = false;
            previous_underscore = true;
            continue;
        }
        let digit = c.to_digit(16)?;
        value = value.checked_mul(16)?.checked_add(u128::from(digit))?;
        seen_digit = true;
        previous_underscore = false;
        allow_leading_underscore = false;
    }
    if !seen_digit || previous_underscore || (negative && value != 0) {
        return None;
    }
    Some(value)
}

/// `str.strip()`'s whitespace: Unicode White_Space plus the ASCII separators 0x1c–0x1f.
pub fn is_python_whitespace(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ANIME: &str = "c33a03d4-d74d-42b1-b9bb-4835c45229a9";

    #[test]
    fn python_uuid_spellings_all_parse_to_one_id() {
        for s in [
            "C33A03D4-D74D-42B1-B9BB-4835C45229A9",
            "{c33a03d4-d74d-42b1-b9bb-4835c45229a9}",
            "urn:uuid:c33a03d4-d74d-42b1-b9bb-4835c45229a9",
            "c33a03d4d74d42b1b9bb4835c45229a9",
            "c33a03d4-d74d42b1-b9bb4835c45229a9",
        ] {
            assert_eq!(parse_python_uuid(s).unwrap().to_string(), ANIME, "{s}");
        }
    }

    #[test]
    fn non_uuids_become_uuid5_of_the_raw_string() {
        // Values printed by CPython's uuid.uuid5(uuid.NAMESPACE_DNS, s).
        assert_eq!(
            resolve_tag("anime").to_string(),
            "6e2f9be5-7116-55a8-9bc2-ce20ace35d08"
        );
        assert_eq!(
            resolve_tag("' OR 1=1 --").to_string(),
            "230be12e-2cd6-5cbd-9d0a-60979a8555aa"
        );
        assert_eq!(
            resolve_tag("héllo").to_string(),
            "5ca283f8-ff14-58cb-ba86-bf52120a3414"
        );
    }

    #[test]
    fn rejects_near_misses() {
        assert!(parse_python_uuid("c33a03d4-d74d-42b1-b9bb-4835c45229a").is_none());
        assert!(parse_python_uuid("g33a03d4-d74d-42b1-b9bb-4835c45229a9").is_none());
        assert!(parse_python_uuid("").is_none());
        assert!(parse_python_uuid("c33a03d4_d74d_42b1_b9bb_4835c452").is_some());
        assert!(parse_python_uuid("__3a03d4d74d42b1b9bb4835c45229a9").is_none());
    }
}
