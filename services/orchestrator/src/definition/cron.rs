//! Cron expressions of pipeline schedules: five fields, as Airflow and crontab read them.
//!
//! `minute hour day-of-month month day-of-week`, each `*`, a value, a range `a-b`, a step
//! `*/n` or `a-b/n`, or a comma list of those; months and weekdays also by name (`JAN`, `MON`;
//! Sunday is 0 or 7). `@hourly`, `@daily`, `@midnight`, `@weekly`, `@monthly`, `@yearly` and
//! `@annually` stand for their usual expressions.

/// A parsed cron expression: the set of allowed values of each field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CronSchedule {
    /// The expression as written.
    pub source: String,
    pub minutes: Vec<u8>,
    pub hours: Vec<u8>,
    pub days_of_month: Vec<u8>,
    pub months: Vec<u8>,
    /// 0 is Sunday.
    pub days_of_week: Vec<u8>,
    /// Whether the day-of-month and day-of-week fields were both restricted (crontab then
    /// fires when either matches).
    pub day_fields_both_restricted: bool,
}

struct Field {
    name: &'static str,
    min: u8,
    max: u8,
    names: &'static [&'static str],
}

const FIELDS: [Field; 5] = [
    Field {
        name: "minute",
        min: 0,
        max: 59,
        names: &[],
    },
    Field {
        name: "hour",
        min: 0,
        max: 23,
        names: &[],
    },
    Field {
        name: "day-of-month",
        min: 1,
        max: 31,
        names: &[],
    },
    Field {
        name: "month",
        min: 1,
        max: 12,
        names: &[
            "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
        ],
    },
    Field {
        name: "day-of-week",
        min: 0,
        max: 7,
        names: &["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"],
    },
];

impl CronSchedule {
    pub fn parse(source: &str) -> Result<CronSchedule, String> {
        let expanded = match source.trim() {
            "@hourly" => "0 * * * *",
            "@daily" | "@midnight" => "0 0 * * *",
            "@weekly" => "0 0 * * 0",
            "@monthly" => "0 0 1 * *",
            "@yearly" | "@annually" => "0 0 1 1 *",
            other if other.starts_with('@') => {
                return Err(format!(
                    "unknown cron shorthand '{other}': use @hourly, @daily, @weekly, @monthly or @yearly"
                ));
            }
            other => other,
        };
        let parts: Vec<&str> = expanded.split_whitespace().collect();
        if parts.len() != FIELDS.len() {
            return Err(format!(
                "a cron expression has 5 fields (minute hour day-of-month month day-of-week); '{source}' has {}",
                parts.len()
            ));
        }
        let mut sets = Vec::with_capacity(FIELDS.len());
        for (part, field) in parts.iter().zip(&FIELDS) {
            sets.push(parse_field(part, field)?);
        }
        let mut days_of_week = sets.pop().unwrap_or_default();
        if days_of_week.contains(&7) {
            days_of_week.retain(|day| *day != 7);
            if !days_of_week.contains(&0) {
                days_of_week.insert(0, 0);
            }
        }
        let months = sets.pop().unwrap_or_default();
        let days_of_month = sets.pop().unwrap_or_default();
        let hours = sets.pop().unwrap_or_default();
        let minutes = sets.pop().unwrap_or_default();
        Ok(CronSchedule {
            source: source.to_owned(),
            minutes,
            hours,
            days_of_month,
            months,
            days_of_week,
            day_fields_both_restricted: parts[2] != "*" && parts[4] != "*",
        })
    }
}

fn parse_field(text: &str, field: &Field) -> Result<Vec<u8>, String> {
    let mut allowed = vec![false; usize::from(field.max) + 1];
    for item in text.split(',') {
        let (range, step) = match item.split_once('/') {
            Some((range, step)) => {
                let step: u8 = step.parse().ok().filter(|step| *step > 0).ok_or_else(|| {
                    format!(
                        "{} field '{text}': step '{step}' must be a whole number above 0",
                        field.name
                    )
                })?;
                (range, step)
            }
            None => (item, 1),
        };
        let (low, high) = if range == "*" {
            (field.min, field.max)
        } else if let Some((low, high)) = range.split_once('-') {
            (value(low, field, text)?, value(high, field, text)?)
        } else {
            let single = value(range, field, text)?;
            // `5/15` means from 5 to the end, every 15.
            (single, if item.contains('/') { field.max } else { single })
        };
        if low > high {
            return Err(format!(
                "{} field '{text}': the range {low}-{high} runs backwards",
                field.name
            ));
        }
        for v in (low..=high).step_by(usize::from(step)) {
            allowed[usize::from(v)] = true;
        }
    }
    Ok((0..=field.max).filter(|v| allowed[usize::from(*v)]).collect())
}

fn value(text: &str, field: &Field, whole: &str) -> Result<u8, String> {
    if let Some(i) = field
        .names
        .iter()
        .position(|name| name.eq_ignore_ascii_case(text))
    {
        return Ok(u8::try_from(i).unwrap_or(0) + field.min);
    }
    match text.parse::<u8>() {
        Ok(v) if (field.min..=field.max).contains(&v) => Ok(v),
        Ok(_) | Err(_) => Err(format!(
            "{} field '{whole}': '{text}' is not a value from {} to {}",
            field.name, field.min, field.max
        )),
    }
}
