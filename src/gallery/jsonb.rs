//! Re-serializes PostgreSQL's `jsonb` text output the way the upstream API does.
//!
//! Upstream, psycopg2 parses each jsonb column with `json.loads` (keys keep jsonb order,
//! numbers with a fraction become Python floats) and Starlette writes it back compactly. So the
//! bytes differ from PostgreSQL's text in two ways only: no spaces after `:` and `,`, and numbers
//! with a fraction in Python float form (`1.50` becomes `1.5`). String escaping is the same on
//! both sides (`\"`, `\\`, `\n`… and `\u00XX` for other control characters, nothing else), so
//! strings are copied byte for byte. Walking the text avoids building a value tree per item.

use super::pyfloat::write_py_float;

/// Appends the compact, Python-normalized form of `text`, which must be PostgreSQL jsonb output.
pub fn write_compact_jsonb(out: &mut String, text: &str) {
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'"' => {
                let start = i;
                i += 1;
                while i < bytes.len() {
                    match bytes[i] {
                        b'\\' => i += 2,
                        b'"' => {
                            i += 1;
                            break;
                        }
                        _ => i += 1,
                    }
                }
                out.push_str(&text[start..i.min(bytes.len())]);
            }
            b' ' | b'\n' | b'\t' | b'\r' => i += 1,
            b'-' | b'0'..=b'9' => {
                let start = i;
                while i < bytes.len()
                    && matches!(bytes[i], b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9')
                {
                    i += 1;
                }
                write_number(out, &text[start..i]);
            }
            _ => {
                // Structural characters and the literals true/false/null, copied as they are.
                let start = i;
                i += 1;
                while i < bytes.len() && bytes[i].is_ascii_alphabetic() {
                    i += 1;
                }
                out.push_str(&text[start..i]);
            }
        }
    }
}

/// Python's `json.loads` keeps a number without fraction or exponent as an exact int and turns
/// every other number into a float.
fn write_number(out: &mut String, literal: &str) {
    if literal.contains(['.', 'e', 'E']) {
        match literal.parse::<f64>() {
            Ok(x) => write_py_float(out, x),
            Err(_) => out.push_str(literal),
        }
    } else {
        out.push_str(literal);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn compact(text: &str) -> String {
        let mut s = String::new();
        write_compact_jsonb(&mut s, text);
        s
    }

    #[test]
    fn removes_separator_spaces_and_keeps_key_order() {
        let pg = r#"{"tags": ["2D", "anime"], "style": "anime", "prompt": "a, b: c", "resolution": "1024x768"}"#;
        assert_eq!(
            compact(pg),
            r#"{"tags":["2D","anime"],"style":"anime","prompt":"a, b: c","resolution":"1024x768"}"#
        );
    }

    #[test]
    fn numbers_follow_python() {
        assert_eq!(
            compact(r#"{"a": 1.50, "b": 100000, "c": 0.00000015, "d": -3}"#),
            r#"{"a":1.5,"b":100000,"c":1.5e-07,"d":-3}"#
        );
        assert_eq!(
            compact("[1.0, 12345678901234567890123]"),
            "[1.0,12345678901234567890123]"
        );
    }

    #[test]
    fn strings_are_copied_verbatim() {
        let pg = r#"{"q": "say \"hi\" \\ \n", "u": "héllo ☃", "c": "\u0001"}"#;
        assert_eq!(
            compact(pg),
            r#"{"q":"say \"hi\" \\ \n","u":"héllo ☃","c":"\u0001"}"#
        );
    }

    #[test]
    fn literals_and_empty_containers() {
        assert_eq!(
            compact(r#"{"a": true, "b": false, "c": null, "d": [], "e": {}}"#),
            r#"{"a":true,"b":false,"c":null,"d":[],"e":{}}"#
        );
    }
}
