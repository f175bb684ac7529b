//! Durations as written in pipelines: `500ms`, `30s`, `10m`, `1h30m`, `2d`.

use std::time::Duration;

/// Parses a duration made of one or more `<whole number><unit>` parts, units `ms`, `s`, `m`,
/// `h`, `d`. A bare number is refused: the unit is never guessed.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    if text.is_empty() {
        return Err("a duration cannot be empty; write it like 30s, 10m or 1h30m".to_owned());
    }
    let mut total = Duration::ZERO;
    let mut rest = text;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return Err(format!(
                "'{text}' is not a duration; write it like 30s, 10m or 1h30m"
            ));
        }
        let number: u64 = rest[..digits]
            .parse()
            .map_err(|_| format!("'{text}' is too long a duration"))?;
        rest = &rest[digits..];
        let unit_len = rest.bytes().take_while(u8::is_ascii_alphabetic).count();
        let (unit, after) = rest.split_at(unit_len);
        let millis_per_unit: u64 = match unit {
            "ms" => 1,
            "s" => 1_000,
            "m" => 60_000,
            "h" => 3_600_000,
            "d" => 86_400_000,
            "" => {
                return Err(format!("'{text}' needs a unit after {number}: ms, s, m, h or d"));
            }
            other => {
                return Err(format!(
                    "'{text}' has an unknown unit '{other}': use ms, s, m, h or d"
                ));
            }
        };
        let millis = number
            .checked_mul(millis_per_unit)
            .ok_or_else(|| format!("'{text}' is too long a duration"))?;
        total = total
            .checked_add(Duration::from_millis(millis))
            .ok_or_else(|| format!("'{text}' is too long a duration"))?;
        rest = after;
    }
    Ok(total)
}
