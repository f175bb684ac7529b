//! Drift reports: each column's reference and current samples over the same bins
//! ([`distribution()`]), and the report as one self-contained HTML page ([`html::render`]).

pub mod distribution;
pub mod html;

pub use distribution::distribution;

/// A number as its shortest text that reads back to the same `f64`: `1`, `2.5`, `1e-7`.
/// Plain decimals between 1e-5 and 1e16, scientific notation outside.
pub fn format_number(value: f64) -> String {
    let magnitude = value.abs();
    if value == 0.0 {
        "0".to_owned()
    } else if !value.is_finite() || (1e-5..1e16).contains(&magnitude) {
        format!("{value}")
    } else {
        format!("{value:e}")
    }
}

#[cfg(test)]
mod tests {
    use super::format_number;

    #[test]
    fn numbers_print_shortest_round_trip() {
        assert_eq!(format_number(1.0), "1");
        assert_eq!(format_number(2.5), "2.5");
        assert_eq!(format_number(-0.0), "0");
        assert_eq!(format_number(0.1 + 0.2), "0.30000000000000004");
        assert_eq!(format_number(1e-7), "1e-7");
        assert_eq!(format_number(1.5e300), "1.5e300");
        assert_eq!(format_number(123456.0), "123456");
        for value in [1.0 / 3.0, 1e-300, 6.02e23, -42.125] {
            assert_eq!(format_number(value).parse::<f64>().unwrap(), value);
        }
    }
}
