//! The search term as upstream's `parse_search_query` splits it: text in double quotes is one
//! phrase (`\"` escapes a quote inside it; blank phrases are dropped), the rest splits on
//! whitespace into words. Each token must appear in the title or the prompt (ILIKE, so case
//! does not matter, and `%`/`_` keep their LIKE meaning as upstream).

use super::tag_id::is_python_whitespace;

pub fn parse_search_terms(term: &str) -> Vec<String> {
    let mut tokens = Vec::new();
    let mut rest = String::new();
    let mut chars = term.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '"' {
            rest.push(c);
            continue;
        }
        let mut phrase = String::new();
        let mut closed = false;
        while let Some(p) = chars.next() {
            match p {
                '\\' if chars.peek() == Some(&'"') => {
                    phrase.push('"');
                    chars.next();
                }
                '"' => {
                    closed = true;
                    break;
                }
                _ => phrase.push(p),
            }
        }
        if closed {
            let phrase = phrase.trim_matches(is_python_whitespace);
            if !phrase.is_empty() {
                tokens.push(phrase.to_string());
            }
            rest.push(' ');
        } else {
            // An unclosed quote is an ordinary character.
            rest.push('"');
            rest.push_str(&phrase);
        }
    }
    tokens.extend(
        rest.split(is_python_whitespace)
            .filter(|w| !w.is_empty())
            .map(str::to_string),
    );
    tokens
}

/// The ILIKE pattern for one token. The token's characters are kept, `%` and `_` included, but a
/// backslash is doubled: upstream passes it through as LIKE's escape character, so a term
/// ending in `\` made PostgreSQL fail the whole request.
pub fn ilike_pattern(token: &str) -> String {
    format!("%{}%", token.replace('\\', "\\\\"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_and_phrases() {
        assert_eq!(parse_search_terms("  mech   pilot "), ["mech", "pilot"]);
        assert_eq!(
            parse_search_terms(r#"cat "grumpy old" dog"#),
            ["grumpy old", "cat", "dog"]
        );
        assert_eq!(parse_search_terms(r#""say \"hi\"""#), [r#"say "hi""#]);
        assert_eq!(parse_search_terms(r#""  " x"#), ["x"]);
        assert_eq!(parse_search_terms(r#"open "quote"#), ["open", "\"quote"]);
        assert!(parse_search_terms("   ").is_empty());
    }

    #[test]
    fn patterns_escape_only_backslash() {
        assert_eq!(ilike_pattern("50%_off"), "%50%_off%");
        assert_eq!(ilike_pattern(r"a\"), r"%a\\%");
    }
}
