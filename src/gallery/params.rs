//! Query string → [`GalleryQuery`], with the upstream API's validation order and error bodies.
//!
//! Order of checks, as upstream: pydantic's 422 for every malformed typed parameter (page,
//! page_size, backward, user_id, include_stats, in declaration order), then the 400 checks
//! (content_source_types, legacy content_types/creator_filter, tag_match). gallery-proxy adds its
//! own 400s after those: sort_field and sort_order from a fixed list, the tag and search limits,
//! and cursors it cannot decode.

use percent_encoding::percent_decode;
use serde_json::json;
use uuid::Uuid;

use super::cursor::Cursor;
use super::error::{ApiError, FieldError};
use super::query::{
    CreatorScope, GalleryQuery, Kind, Order, Position, SortField, Sources, TagMatch, Tags,
};
use super::search::parse_search_terms;
use super::tag_id::resolve_tag;
use super::uuid_error::describe_uuid_error;

/// Bounds on what one request may ask for (invariant 6: bounded everything).
#[derive(Clone, Debug)]
pub struct Limits {
    pub max_query_bytes: usize,
    pub max_tags: usize,
    pub max_search_chars: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_query_bytes: 8192,
            max_tags: 64,
            max_search_chars: 256,
        }
    }
}

/// The four `content_source_types`, in the order upstream's error message listed them once
/// (a Python set: upstream's order changes between restarts, so no client relies on it).
const SOURCE_TYPE_NAMES: &str = "community-regular, user-regular, community-auto, user-auto";

/// Decoded `name=value` pairs, in request order.
pub struct QueryPairs(Vec<(String, String)>);

impl QueryPairs {
    /// Splits like Python's `parse_qsl(keep_blank_values=True)`: `&` separates, `+` is a space,
    /// a pair without `=` has an empty value. Percent-escapes that are not UTF-8 are rejected
    /// (upstream would silently turn them into U+FFFD).
    pub fn parse(query: &str) -> Result<QueryPairs, ApiError> {
        let mut pairs = Vec::new();
        for segment in query.split('&').filter(|s| !s.is_empty()) {
            let (name, value) = segment.split_once('=').unwrap_or((segment, ""));
            pairs.push((decode_component(name)?, decode_component(value)?));
        }
        Ok(QueryPairs(pairs))
    }

    /// The last value of a scalar parameter, as Starlette's `QueryParams.get` returns it.
    fn last(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// Every value of a repeated parameter, `None` if it is absent.
    fn all(&self, name: &str) -> Option<Vec<&str>> {
        let values: Vec<&str> = self
            .0
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .collect();
        (!values.is_empty()).then_some(values)
    }
}

fn decode_component(raw: &str) -> Result<String, ApiError> {
    let spaced = raw.replace('+', " ");
    let bytes: Vec<u8> = percent_decode(spaced.as_bytes()).collect();
    String::from_utf8(bytes).map_err(|_| {
        ApiError::BadRequest(format!(
            "Invalid percent-encoding in query string: {raw:?} is not UTF-8"
        ))
    })
}

/// Parses and validates a raw query string (without the `?`).
pub fn parse(query: &str, limits: &Limits) -> Result<GalleryQuery, ApiError> {
    if query.len() > limits.max_query_bytes {
        return Err(ApiError::QueryTooLong {
            len: query.len(),
            limit: limits.max_query_bytes,
        });
    }
    let pairs = QueryPairs::parse(query)?;

    // 422s: every typed parameter is checked, and all failures are reported together.
    let mut errors = Vec::new();
    let page = check(
        &mut errors,
        pairs
            .last("page")
            .map(|v| parse_int(v, "page", Some(1), None)),
    );
    let page_size = check(
        &mut errors,
        pairs
            .last("page_size")
            .map(|v| parse_int(v, "page_size", Some(1), Some(1000))),
    );
    let backward = check(
        &mut errors,
        pairs.last("backward").map(|v| parse_bool(v, "backward")),
    );
    let user_id = check(
        &mut errors,
        pairs.last("user_id").map(|v| parse_uuid(v, "user_id")),
    );
    let include_stats = check(
        &mut errors,
        pairs
            .last("include_stats")
            .map(|v| parse_bool(v, "include_stats")),
    );
    if !errors.is_empty() {
        return Err(ApiError::Unprocessable(errors));
    }
    let page = page.flatten().map_or(1, |p| p as u64);
    let page_size = page_size.flatten().map_or(10, |p| p as u32);
    let backward = backward.flatten().unwrap_or(false);
    let user_id = user_id.flatten();
    let include_stats = include_stats.flatten().unwrap_or(false);

    // 400s, upstream's first.
    let sources = match pairs.all("content_source_types") {
        Some(values) => parse_source_types(&values, user_id)?,
        None => parse_legacy_sources(
            pairs.last("content_types"),
            pairs.last("creator_filter"),
            user_id,
        )?,
    };
    let tag_match = match pairs.last("tag_match").map(str::to_lowercase).as_deref() {
        None | Some("any") => TagMatch::Any,
        Some("all") => TagMatch::All,
        Some(_) => {
            return Err(ApiError::BadRequest(
                "tag_match must be either 'any' or 'all'".into(),
            ))
        }
    };

    // gallery-proxy's own 400s: upstream has no check here and fails (500) or guesses.
    let sort_field = pairs.last("sort_field").unwrap_or("created_at");
    let sort = SortField::parse(sort_field).ok_or_else(|| {
        ApiError::BadRequest(format!("sort_field must be one of: {}", SortField::NAMES))
    })?;
    let order = match pairs.last("sort_order").map(str::to_lowercase).as_deref() {
        None | Some("desc") => Order::Desc,
        Some("asc") => Order::Asc,
        Some(_) => {
            return Err(ApiError::BadRequest(
                "sort_order must be either 'asc' or 'desc'".into(),
            ))
        }
    };
    let tags = parse_tags(&pairs, tag_match, limits)?;
    let search = match pairs.last("search_term") {
        Some(term) if term.chars().count() > limits.max_search_chars => {
            return Err(ApiError::BadRequest(format!(
                "search_term must be at most {} characters",
                limits.max_search_chars
            )))
        }
        Some(term) => parse_search_terms(term),
        None => Vec::new(),
    };
    let position = match pairs.last("cursor").filter(|c| !c.trim().is_empty()) {
        None => Position::Offset,
        Some(text) => {
            let cursor = Cursor::decode(text, sort).ok_or_else(|| {
                ApiError::BadRequest("Invalid cursor: use a next_cursor or prev_cursor from a response with the same sort".into())
            })?;
            Position::Cursor { cursor, backward }
        }
    };

    Ok(GalleryQuery {
        page,
        page_size,
        position,
        sources,
        user_id,
        search,
        sort,
        order,
        tags,
        include_stats,
    })
}

/// Records a failed check and keeps going, so the 422 lists every bad parameter.
fn check<T>(
    errors: &mut Vec<FieldError>,
    result: Option<Result<T, FieldError>>,
) -> Option<Option<T>> {
    match result {
        None => Some(None),
        Some(Ok(v)) => Some(Some(v)),
        Some(Err(e)) => {
            errors.push(e);
            None
        }
    }
}

/// pydantic's lax `str → int`: surrounding whitespace, a sign, `_` between digits and a zero
/// fraction (`"2.0"`) are accepted. Values beyond i64 saturate: they are valid upstream and
/// just point past the last page.
fn parse_int(
    raw: &str,
    param: &'static str,
    ge: Option<i64>,
    le: Option<i64>,
) -> Result<i64, FieldError> {
    let parsing_error = || FieldError {
        kind: "int_parsing",
        param,
        msg: "Input should be a valid integer, unable to parse string as an integer".into(),
        input: raw.to_string(),
        ctx: None,
    };
    let text = raw.trim();
    let text = match text.split_once('.') {
        Some((whole, fraction)) if !fraction.is_empty() && fraction.bytes().all(|b| b == b'0') => {
            whole
        }
        Some(_) => return Err(parsing_error()),
        None => text,
    };
    let (negative, digits) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    if digits.is_empty()
        || digits.starts_with('_')
        || digits.ends_with('_')
        || digits.contains("__")
        || !digits.bytes().all(|b| b.is_ascii_digit() || b == b'_')
    {
        return Err(parsing_error());
    }
    let magnitude = digits
        .bytes()
        .filter(u8::is_ascii_digit)
        .fold(0i64, |acc, d| {
            acc.saturating_mul(10).saturating_add(i64::from(d - b'0'))
        });
    let value = if negative { -magnitude } else { magnitude };
    if let Some(ge) = ge.filter(|ge| value < *ge) {
        return Err(FieldError {
            kind: "greater_than_equal",
            param,
            msg: format!("Input should be greater than or equal to {ge}"),
            input: raw.to_string(),
            ctx: Some(json!({ "ge": ge })),
        });
    }
    if let Some(le) = le.filter(|le| value > *le) {
        return Err(FieldError {
            kind: "less_than_equal",
            param,
            msg: format!("Input should be less than or equal to {le}"),
            input: raw.to_string(),
            ctx: Some(json!({ "le": le })),
        });
    }
    Ok(value)
}

/// pydantic's lax `str → bool`.
fn parse_bool(raw: &str, param: &'static str) -> Result<bool, FieldError> {
    match raw.to_lowercase().as_str() {
        "1" | "on" | "t" | "true" | "y" | "yes" => Ok(true),
        "0" | "off" | "f" | "false" | "n" | "no" => Ok(false),
        _ => Err(FieldError {
            kind: "bool_parsing",
            param,
            msg: "Input should be a valid boolean, unable to interpret input".into(),
            input: raw.to_string(),
            ctx: None,
        }),
    }
}

/// pydantic's `str → UUID` (hyphenated, simple, braced or `urn:uuid:`), with its error text.
fn parse_uuid(raw: &str, param: &'static str) -> Result<Uuid, FieldError> {
    Uuid::parse_str(raw).map_err(|_| {
        let error = describe_uuid_error(raw);
        FieldError {
            kind: "uuid_parsing",
            param,
            msg: format!("Input should be a valid UUID, {error}"),
            input: raw.to_string(),
            ctx: Some(json!({ "error": error })),
        }
    })
}

/// `content_source_types`: repeated values from a fixed set. Empty values are ignored; a
/// request whose values are all empty (`content_source_types=`) selects nothing. Without a
/// user_id nothing is selected either, as upstream (every clause needs the user).
fn parse_source_types(values: &[&str], user_id: Option<Uuid>) -> Result<Sources, ApiError> {
    let mut user = [false; 2];
    let mut community = [false; 2];
    for value in values.iter().filter(|v| !v.is_empty()) {
        let (slot, kind) = match *value {
            "user-regular" => (&mut user, 0),
            "user-auto" => (&mut user, 1),
            "community-regular" => (&mut community, 0),
            "community-auto" => (&mut community, 1),
            other => {
                return Err(ApiError::BadRequest(format!(
                    "Invalid content_source_type: {other}. Must be one of: {SOURCE_TYPE_NAMES}"
                )))
            }
        };
        slot[kind] = true;
    }
    let mut sources = Sources::default();
    if let Some(user_id) = user_id {
        for (i, kind) in Kind::ALL.into_iter().enumerate() {
            let scope = match (user[i], community[i]) {
                (true, true) => Some(CreatorScope::Everyone),
                (true, false) => Some(CreatorScope::Only(user_id)),
                (false, true) => Some(CreatorScope::Except(user_id)),
                (false, false) => None,
            };
            sources.set(kind, scope);
        }
    }
    Ok(sources)
}

/// The legacy pair: `content_types` (comma list, default both) and `creator_filter`, which
/// applies only when a user_id is given.
fn parse_legacy_sources(
    content_types: Option<&str>,
    creator_filter: Option<&str>,
    user_id: Option<Uuid>,
) -> Result<Sources, ApiError> {
    let kinds: Vec<&str> = match content_types {
        None => vec!["regular", "auto"],
        Some(list) => list
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .collect(),
    };
    let mut selected = [false; 2];
    for kind in &kinds {
        match *kind {
            "regular" => selected[0] = true,
            "auto" => selected[1] = true,
            other => {
                return Err(ApiError::BadRequest(format!(
                    "Invalid content type: {other}. Must be one of: regular, auto"
                )))
            }
        }
    }
    let scope = match (creator_filter.unwrap_or("all"), user_id) {
        ("all" | "user" | "community", None) | ("all", Some(_)) => CreatorScope::Everyone,
        ("user", Some(u)) => CreatorScope::Only(u),
        ("community", Some(u)) => CreatorScope::Except(u),
        _ => {
            return Err(ApiError::BadRequest(
                "creator_filter must be one of: all, user, community".into(),
            ))
        }
    };
    let mut sources = Sources::default();
    for (i, kind) in Kind::ALL.into_iter().enumerate() {
        sources.set(kind, selected[i].then_some(scope));
    }
    Ok(sources)
}

/// `tag` then `tag_names`, empty values skipped, each resolved to a UUID.
fn parse_tags(pairs: &QueryPairs, mode: TagMatch, limits: &Limits) -> Result<Tags, ApiError> {
    let raw: Vec<&str> = ["tag", "tag_names"]
        .iter()
        .flat_map(|name| pairs.all(name).unwrap_or_default())
        .filter(|v| !v.is_empty())
        .collect();
    let tags = Tags::new(raw.iter().map(|r| resolve_tag(r)).collect(), mode);
    if tags.ids.len() > limits.max_tags {
        return Err(ApiError::BadRequest(format!(
            "At most {} distinct tags may be given",
            limits.max_tags
        )));
    }
    Ok(tags)
}

#[cfg(test)]
mod tests;
