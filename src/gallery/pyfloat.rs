//! Python's `repr(float)`, which is how the upstream API writes every float (`1.0`, `1e-05`).
//!
//! Rust's shortest round-trip formatting finds the same digits as Python's; only the layout
//! differs (Python switches to exponent form below 1e-4 and from 1e16 up, and writes `e-05`).

use std::fmt::Write;

/// Appends `repr(x)` as CPython 3 writes it. Non-finite values have no JSON form upstream (the
/// encoder refuses them and the request fails), so callers must not pass them; they are written
/// as `null` to keep the output valid JSON.
pub fn write_py_float(out: &mut String, x: f64) {
    if !x.is_finite() {
        out.push_str("null");
        return;
    }
    // `{:e}` gives the shortest digits that round-trip, e.g. "1.234e-5" or "-5e0".
    let sci = format!("{x:e}");
    let (mantissa, exp) = sci
        .split_once('e')
        .expect("LowerExp always writes an exponent");
    let exp: i32 = exp.parse().expect("LowerExp exponent is an integer");
    let (negative, mantissa) = match mantissa.strip_prefix('-') {
        Some(m) => (true, m),
        None => (false, mantissa),
    };
    let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    if negative {
        out.push('-');
    }
    // Python's rule (float_repr_style 'short'): with decpt the position of the decimal point
    // relative to the digits, use fixed notation when -4 < decpt <= 16.
    let decpt = exp + 1;
    if decpt > -4 && decpt <= 16 {
        if decpt <= 0 {
            out.push_str("0.");
            for _ in 0..(-decpt) {
                out.push('0');
            }
            out.push_str(&digits);
        } else {
            let decpt = decpt as usize;
            if digits.len() <= decpt {
                out.push_str(&digits);
                for _ in digits.len()..decpt {
                    out.push('0');
                }
                out.push_str(".0");
            } else {
                out.push_str(&digits[..decpt]);
                out.push('.');
                out.push_str(&digits[decpt..]);
            }
        }
    } else {
        out.push_str(&digits[..1]);
        if digits.len() > 1 {
            out.push('.');
            out.push_str(&digits[1..]);
        }
        let _ = write!(out, "e{}{:02}", if exp < 0 { '-' } else { '+' }, exp.abs());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repr(x: f64) -> String {
        let mut s = String::new();
        write_py_float(&mut s, x);
        s
    }

    /// Expected strings printed by CPython 3.11's `repr` for the same values.
    #[test]
    fn matches_cpython_repr() {
        let cases: &[(f64, &str)] = &[
            (0.0, "0.0"),
            (-0.0, "-0.0"),
            (1.0, "1.0"),
            (0.53, "0.53"),
            (0.3, "0.3"),
            (0.85, "0.85"),
            (1e16, "1e+16"),
            (1e15, "1000000000000000.0"),
            (123456789012345678.0, "1.2345678901234568e+17"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (1.5e-7, "1.5e-07"),
            (2.5, "2.5"),
            (1.0 / 3.0, "0.3333333333333333"),
            (100.0, "100.0"),
            (1e22, "1e+22"),
            (12345.678, "12345.678"),
            (9007199254740992.0, "9007199254740992.0"),
            (5e-324, "5e-324"),
            (f64::MAX, "1.7976931348623157e+308"),
            (0.1 + 0.2, "0.30000000000000004"),
            (-2.5, "-2.5"),
        ];
        for (x, want) in cases {
            assert_eq!(repr(*x), *want, "repr({x:?})");
        }
    }

    #[test]
    fn round_trips() {
        for x in [0.1, 7.0e-5, 3.14159, 1e100, -1e-100, 0.99] {
            assert_eq!(repr(x).parse::<f64>().unwrap(), x);
        }
    }
}
