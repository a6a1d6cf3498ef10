//! The text pydantic puts in a `uuid_parsing` error.
//!
//! pydantic-core parses with the Rust `uuid` crate and prints its error, but the release it pins
//! words errors differently from current ones (1-based positions, the `urn:uuid:` hint). This is
//! that release's error classification, so 422 bodies match upstream byte for byte whatever
//! `uuid` version this crate builds with.

/// Describes why `input` is not a UUID. Only meaningful for strings that failed to parse.
pub fn describe_uuid_error(input: &str) -> String {
    let bytes = input.as_bytes();
    let (body, offset, simple) = match bytes {
        [b'{', inner @ .., b'}'] => (inner, 1, false),
        [b'u', b'r', b'n', b':', b'u', b'u', b'i', b'd', b':', inner @ ..] => {
            (inner, "urn:uuid:".len(), false)
        }
        _ => (bytes, 0, true),
    };
    let body = std::str::from_utf8(body).expect("sliced at ASCII bytes of a str");

    let mut hyphens = 0;
    let mut group_bounds = [0usize; 4];
    for (index, character) in body.char_indices() {
        if character == '-' {
            if hyphens < 4 {
                group_bounds[hyphens] = index;
            }
            hyphens += 1;
        } else if !character.is_ascii_hexdigit() {
            return format!(
                "invalid character: expected an optional prefix of `urn:uuid:` followed by [0-9a-fA-F-], found `{character}` at {}",
                index + offset + 1
            );
        }
    }
    if hyphens == 0 && simple {
        return format!(
            "invalid length: expected length 32 for simple format, found {}",
            input.len()
        );
    }
    if hyphens != 4 {
        return format!("invalid group count: expected 5, found {}", hyphens + 1);
    }
    const BLOCK_STARTS: [usize; 5] = [0, 9, 14, 19, 24];
    const GROUP_LENGTHS: [usize; 5] = [8, 4, 4, 4, 12];
    for group in 0..4 {
        if group_bounds[group] != BLOCK_STARTS[group + 1] - 1 {
            let len = group_bounds[group].saturating_sub(BLOCK_STARTS[group]);
            return format!(
                "invalid group length in group {group}: expected {}, found {len}",
                GROUP_LENGTHS[group]
            );
        }
    }
    format!(
        "invalid group length in group 4: expected 12, found {}",
        input.len().saturating_sub(BLOCK_STARTS[4])
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn observed_messages() {
        let hint = "invalid character: expected an optional prefix of `urn:uuid:` followed by [0-9a-fA-F-], found";
        assert_eq!(
            describe_uuid_error("not-a-uuid"),
            format!("{hint} `n` at 1")
        );
        assert_eq!(describe_uuid_error("x"), format!("{hint} `x` at 1"));
        assert_eq!(describe_uuid_error("{abcg}"), format!("{hint} `g` at 5"));
    }

    #[test]
    fn length_and_group_messages() {
        assert_eq!(
            describe_uuid_error(""),
            "invalid length: expected length 32 for simple format, found 0"
        );
        assert_eq!(
            describe_uuid_error("abc"),
            "invalid length: expected length 32 for simple format, found 3"
        );
        assert_eq!(
            describe_uuid_error("ab-cd"),
            "invalid group count: expected 5, found 2"
        );
        assert_eq!(
            describe_uuid_error("c33a03d-d74d-42b1-b9bb-4835c45229a9"),
            "invalid group length in group 0: expected 8, found 7"
        );
    }
}
