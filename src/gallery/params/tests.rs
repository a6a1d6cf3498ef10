//! Parser tests: upstream's exact error bodies (the contract's observed responses) and the
//! normalization the rest of the proxy relies on.

use super::*;
use crate::gallery::query::{CreatorScope, Position};

const U: &str = "121e194b-4caa-4b81-ad4f-86ca3919d5b9";
const ALL4: &str = "content_source_types=user-regular&content_source_types=user-auto&content_source_types=community-regular&content_source_types=community-auto";

fn parse_ok(q: &str) -> GalleryQuery {
    parse(q, &Limits::default()).unwrap_or_else(|e| panic!("{q}: {e:?}"))
}

fn error_body(q: &str) -> (u16, String) {
    let e = parse(q, &Limits::default()).expect_err(q);
    (e.status(), String::from_utf8(e.body()).unwrap())
}

#[test]
fn defaults() {
    let q = parse_ok("");
    assert_eq!((q.page, q.page_size, q.include_stats), (1, 10, false));
    assert_eq!(q.sources.regular, Some(CreatorScope::Everyone));
    assert_eq!(q.sources.auto, Some(CreatorScope::Everyone));
    assert_eq!((q.sort, q.order), (SortField::CreatedAt, Order::Desc));
    assert_eq!(q.position, Position::Offset);
}

#[test]
fn observed_422_bodies() {
    let base = format!(
        "{ALL4}&tag=c33a03d4-d74d-42b1-b9bb-4835c45229a9&sort_field=created_at&sort_order=desc"
    );
    assert_eq!(
        error_body(&format!("page=0&page_size=25&{base}&user_id={U}")),
        (422, r#"{"detail":[{"type":"greater_than_equal","loc":["query","page"],"msg":"Input should be greater than or equal to 1","input":"0","ctx":{"ge":1}}]}"#.into())
    );
    assert_eq!(
        error_body(&format!("page=1&page_size=1001&{base}&user_id={U}")),
        (422, r#"{"detail":[{"type":"less_than_equal","loc":["query","page_size"],"msg":"Input should be less than or equal to 1000","input":"1001","ctx":{"le":1000}}]}"#.into())
    );
    assert_eq!(
        error_body(&format!("page=abc&page_size=25&{base}&user_id={U}")),
        (422, r#"{"detail":[{"type":"int_parsing","loc":["query","page"],"msg":"Input should be a valid integer, unable to parse string as an integer","input":"abc"}]}"#.into())
    );
    assert_eq!(
        error_body(&format!("page=1&page_size=25&{base}&user_id=not-a-uuid")).1,
        r#"{"detail":[{"type":"uuid_parsing","loc":["query","user_id"],"msg":"Input should be a valid UUID, invalid character: expected an optional prefix of `urn:uuid:` followed by [0-9a-fA-F-], found `n` at 1","input":"not-a-uuid","ctx":{"error":"invalid character: expected an optional prefix of `urn:uuid:` followed by [0-9a-fA-F-], found `n` at 1"}}]}"#
    );
    // O23: three failures in declaration order, in one body of 603 bytes.
    let (status, body) = error_body(&format!(
        "page=0&page_size=0&{ALL4}&user_id=x&tag=c33a03d4-d74d-42b1-b9bb-4835c45229a9"
    ));
    assert_eq!(status, 422);
    assert_eq!(body.len(), 603);
    assert!(body.starts_with(r#"{"detail":[{"type":"greater_than_equal","loc":["query","page"]"#));
}

#[test]
fn observed_400_bodies() {
    assert_eq!(
        error_body(&format!("{ALL4}&user_id={U}&content_source_types=bogus")),
        (400, r#"{"detail":"Invalid content_source_type: bogus. Must be one of: community-regular, user-regular, community-auto, user-auto"}"#.into())
    );
    assert_eq!(
        error_body(&format!(
            "content_source_types=user-regular,user-auto&user_id={U}"
        ))
        .1,
        r#"{"detail":"Invalid content_source_type: user-regular,user-auto. Must be one of: community-regular, user-regular, community-auto, user-auto"}"#
    );
    assert_eq!(
        error_body("content_types=regular,video"),
        (
            400,
            r#"{"detail":"Invalid content type: video. Must be one of: regular, auto"}"#.into()
        )
    );
    assert_eq!(
        error_body("tag_match=some"),
        (
            400,
            r#"{"detail":"tag_match must be either 'any' or 'all'"}"#.into()
        )
    );
    assert_eq!(error_body("creator_filter=mine").0, 400);
}

#[test]
fn all_422s_come_before_400s() {
    assert_eq!(error_body("tag_match=some&page=0").0, 422);
}

#[test]
fn fixed_upstream_bugs_are_400s() {
    for q in [
        "sort_field=nope",
        "sort_field=title;drop",
        "sort_order=sideways",
        "cursor=garbage",
        "sort_field=",
    ] {
        assert_eq!(error_body(q).0, 400, "{q}");
    }
    assert_eq!(parse_ok("sort_order=DESC").order, Order::Desc);
    assert_eq!(parse_ok("sort_order=Asc").order, Order::Asc);
    assert_eq!(parse_ok("cursor=%20").position, Position::Offset);
}

#[test]
fn sources_resolve_per_partition() {
    let q = parse_ok(&format!(
        "content_source_types=user-regular&content_source_types=community-auto&user_id={U}"
    ));
    let u = Uuid::parse_str(U).unwrap();
    assert_eq!(q.sources.regular, Some(CreatorScope::Only(u)));
    assert_eq!(q.sources.auto, Some(CreatorScope::Except(u)));
    assert!(parse_ok(&format!("content_source_types=&user_id={U}"))
        .sources
        .is_empty());
    assert!(
        parse_ok(ALL4).sources.is_empty(),
        "no user_id: early empty, as upstream"
    );
    assert!(parse_ok(&format!("content_types=&user_id={U}"))
        .sources
        .is_empty());
    let legacy = parse_ok(&format!(
        "content_types=auto&creator_filter=community&user_id={U}"
    ));
    assert_eq!(
        (legacy.sources.regular, legacy.sources.auto),
        (None, Some(CreatorScope::Except(u)))
    );
}

#[test]
fn tags_are_canonical() {
    let a = parse_ok("tag=C33A03D4-D74D-42B1-B9BB-4835C45229A9&tag_names={c33a03d4-d74d-42b1-b9bb-4835c45229a9}&tag=");
    assert_eq!(a.tags.ids.len(), 1);
    assert_eq!(a.tags.mode, Some(TagMatch::Any));
    let b = parse_ok("tag=b&tag=a&tag_match=ALL");
    assert_eq!(b.tags.mode, Some(TagMatch::All));
    assert!(b.tags.ids.windows(2).all(|w| w[0] < w[1]));
    let many: String = (0..65).map(|i| format!("tag=t{i}&")).collect();
    assert_eq!(error_body(&many).0, 400);
}

#[test]
fn query_string_decoding() {
    assert_eq!(
        parse_ok("search_term=grumpy+cat%21").search,
        ["grumpy", "cat!"]
    );
    assert_eq!(error_body("search_term=%FF").0, 400);
    assert_eq!(error_body(&"a".repeat(10_000)).0, 414);
    // Scalars: the last value wins, as in Starlette.
    assert_eq!(parse_ok("page=2&page=3").page, 3);
}

#[test]
fn lax_integers_like_pydantic() {
    assert_eq!(parse_ok("page=%202%20").page, 2);
    assert_eq!(parse_ok("page=1_0").page, 10);
    assert_eq!(parse_ok("page=3.0").page, 3);
    assert_eq!(parse_ok("page=99999999999999999999999").offset(), i64::MAX);
    for bad in ["page=1.5", "page=", "page=_1", "page=0x10"] {
        assert_eq!(error_body(bad).0, 422, "{bad}");
    }
    assert_eq!(parse_ok("backward=YES&include_stats=1").include_stats, true);
    assert_eq!(error_body("include_stats=maybe").0, 422);
}
