//! Which query shape reads a partition's rows: pure, from the exact per-tag counts the proxy
//! keeps (the planner's own estimates are what go wrong, see docs/sql.md).
//!
//! - `Walk`: read the partition's `(sort, id)` index in order and probe `content_tags` for each
//!   row, stopping after `needed` matches. Cost grows with rows walked, `needed / selectivity`.
//! - `Postings`: read the tag's posting list (`(tag_id, content_source, content_id)` index),
//!   intersect or unite it with the other tags' lists, look up the matching items and sort them.
//!   Cost grows with the posting list and the number of matches.

use uuid::Uuid;

use super::query::TagMatch;

#[derive(Clone, Debug, PartialEq)]
pub enum Shape {
    Walk,
    /// Drive from posting lists; for `all`, `tags` is ordered rarest first.
    Postings {
        tags: Vec<Uuid>,
    },
}

/// Measured costs per row on this machine (docs/sql.md): an index probe of `content_tags`
/// from a walked row, a sequential posting-list entry, and fetching a matched item to sort it.
const PROBE_US: f64 = 4.5;
const POSTING_US: f64 = 0.3;
const FETCH_US: f64 = 5.0;

/// Chooses the shape for one partition holding `items` rows, whose tags carry `counts` items
/// each there, when `needed` rows (offset + page) must be produced.
pub fn choose_shape(mode: TagMatch, counts: &[(Uuid, u64)], items: u64, needed: u64) -> Shape {
    if counts.is_empty() || items == 0 {
        return Shape::Walk;
    }
    let n = items as f64;
    let (matches, postings) = match mode {
        // Independent tags: the share that has every one of them.
        TagMatch::All => {
            let share: f64 = counts.iter().map(|(_, c)| *c as f64 / n).product();
            let rarest = counts.iter().map(|(_, c)| *c).min().unwrap_or(0) as f64;
            (share * n, rarest * counts.len() as f64)
        }
        TagMatch::Any => {
            let none: f64 = counts
                .iter()
                .map(|(_, c)| 1.0 - (*c as f64 / n).min(1.0))
                .product();
            (
                (1.0 - none) * n,
                counts.iter().map(|(_, c)| *c as f64).sum(),
            )
        }
    };
    let walked = if matches < 1.0 {
        n
    } else {
        (needed as f64 * n / matches).min(n)
    };
    let walk_cost = walked * PROBE_US;
    let postings_cost = postings * POSTING_US + matches.min(n) * FETCH_US;
    if postings_cost < walk_cost {
        let mut tags: Vec<(Uuid, u64)> = counts.to_vec();
        tags.sort_by_key(|(id, c)| (*c, *id));
        Shape::Postings {
            tags: tags.into_iter().map(|(id, _)| id).collect(),
        }
    } else {
        Shape::Walk
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(n: u128) -> Uuid {
        Uuid::from_u128(n)
    }

    const AUTO: u64 = 1_110_375;

    #[test]
    fn popular_and_moderately_rare_tags_walk() {
        assert_eq!(
            choose_shape(TagMatch::Any, &[(t(1), 788_000)], AUTO, 25),
            Shape::Walk
        );
        assert_eq!(
            choose_shape(TagMatch::Any, &[(t(1), 23_000)], AUTO, 25),
            Shape::Walk
        );
        let top5 = [
            (t(1), 788_000),
            (t(2), 700_000),
            (t(3), 600_000),
            (t(4), 500_000),
            (t(5), 420_000),
        ];
        assert_eq!(choose_shape(TagMatch::All, &top5, AUTO, 25), Shape::Walk);
    }

    #[test]
    fn rare_intersections_drive_from_the_rarest_list() {
        let rare = [(t(1), 23_500), (t(2), 22_200), (t(3), 24_000)];
        assert_eq!(
            choose_shape(TagMatch::All, &rare, AUTO, 25),
            Shape::Postings {
                tags: vec![t(2), t(1), t(3)]
            }
        );
    }

    #[test]
    fn deep_pages_of_rare_tags_drive_from_postings() {
        assert!(matches!(
            choose_shape(TagMatch::Any, &[(t(1), 23_000)], AUTO, 20_000),
            Shape::Postings { .. }
        ));
    }

    #[test]
    fn unknown_or_empty_tags_drive_from_postings() {
        // A tag on no item: walking would read the whole partition to find nothing.
        assert!(matches!(
            choose_shape(TagMatch::Any, &[(t(9), 0)], AUTO, 25),
            Shape::Postings { .. }
        ));
    }
}
