//! The partial result of one aggregation over some events ([`State`]): what a tile keeps. States
//! merge in any order into the state of all their events (up to floating-point rounding for
//! sums and moments), which is what lets tiles be built apart and combined at read time.

use super::datum::Datum;
use super::hll::Hll;
use crate::definitions::spec::AggregateFunction;
use crate::online::Value;

#[derive(Debug, Clone, PartialEq)]
pub enum State {
    Count(u64),
    /// A compensated (Neumaier) sum and how many values it holds.
    Sum {
        sum: f64,
        compensation: f64,
        n: u64,
    },
    /// Count, mean and sum of squared deviations (Chan et al.'s mergeable moments): mean
    /// and population standard deviation without cancellation.
    Moments {
        n: u64,
        mean: f64,
        m2: f64,
    },
    Min(Option<f64>),
    Max(Option<f64>),
    /// The value of the latest event; at equal times the larger value.
    Last(Option<(i64, f64)>),
    Distinct(Hll),
}

impl State {
    pub fn new(function: AggregateFunction) -> State {
        match function {
            AggregateFunction::Count => State::Count(0),
            AggregateFunction::Sum => State::Sum {
                sum: 0.0,
                compensation: 0.0,
                n: 0,
            },
            AggregateFunction::Mean | AggregateFunction::Stddev => State::Moments {
                n: 0,
                mean: 0.0,
                m2: 0.0,
            },
            AggregateFunction::Min => State::Min(None),
            AggregateFunction::Max => State::Max(None),
            AggregateFunction::Last => State::Last(None),
            AggregateFunction::ApproxCountDistinct => State::Distinct(Hll::default()),
        }
    }

    /// Adds one event at `time` (microseconds); a datum of the wrong kind is ignored (the
    /// callers make datums for this state's function).
    pub fn add(&mut self, time: i64, datum: Datum) {
        match (self, datum) {
            (State::Count(n), _) => *n += 1,
            (State::Sum { sum, compensation, n }, Datum::Number(x)) => {
                neumaier(sum, compensation, x);
                *n += 1;
            }
            (state @ State::Moments { .. }, Datum::Number(x)) => state.merge(&State::Moments {
                n: 1,
                mean: x,
                m2: 0.0,
            }),
            (State::Min(min), Datum::Number(x)) => *min = Some(min.map_or(x, |m| m.min(x))),
            (State::Max(max), Datum::Number(x)) => *max = Some(max.map_or(x, |m| m.max(x))),
            (State::Last(last), Datum::Number(x)) if last.is_none_or(|held| later(time, x, held)) => {
                *last = Some((time, x));
            }
            (State::Distinct(sketch), Datum::Hash(hash)) => sketch.insert(hash),
            _ => {}
        }
    }

    /// Takes in the events `other` holds (a state of the same function).
    pub fn merge(&mut self, other: &State) {
        match (self, other) {
            (State::Count(a), State::Count(b)) => *a += b,
            (
                State::Sum { sum, compensation, n },
                State::Sum {
                    sum: their_sum,
                    compensation: their_compensation,
                    n: their_n,
                },
            ) => {
                neumaier(sum, compensation, *their_sum);
                *compensation += their_compensation;
                *n += their_n;
            }
            (
                State::Moments { n, mean, m2 },
                State::Moments {
                    n: their_n,
                    mean: their_mean,
                    m2: their_m2,
                },
            ) => {
                if *their_n == 0 {
                    return;
                }
                let total = *n + their_n;
                let delta = their_mean - *mean;
                let (a, b) = (*n as f64, *their_n as f64);
                *mean += delta * b / total as f64;
                *m2 += their_m2 + delta * delta * a * b / total as f64;
                *n = total;
            }
            (State::Min(a), State::Min(Some(b))) => *a = Some(a.map_or(*b, |a| a.min(*b))),
            (State::Max(a), State::Max(Some(b))) => *a = Some(a.map_or(*b, |a| a.max(*b))),
            (State::Last(a), State::Last(Some((time, x)))) if a.is_none_or(|held| later(*time, *x, held)) => {
                *a = Some((*time, *x));
            }
            (State::Distinct(a), State::Distinct(b)) => a.merge(b),
            _ => {}
        }
    }

    /// The aggregation's value: counts are never null (0 for no values); the others are null
    /// without a value.
    pub fn finish(&self, function: AggregateFunction) -> Value {
        match self {
            State::Count(n) => Value::Int64(i64::try_from(*n).unwrap_or(i64::MAX)),
            State::Sum { n: 0, .. } | State::Moments { n: 0, .. } => Value::Null,
            State::Sum {
                sum, compensation, ..
            } => Value::Float64(sum + compensation),
            State::Moments { n, mean, m2 } => {
                if function == AggregateFunction::Stddev {
                    Value::Float64((m2.max(0.0) / *n as f64).sqrt())
                } else {
                    Value::Float64(*mean)
                }
            }
            State::Min(v) | State::Max(v) => v.map_or(Value::Null, Value::Float64),
            State::Last(v) => v.map_or(Value::Null, |(_, x)| Value::Float64(x)),
            State::Distinct(sketch) => Value::Int64(sketch.estimate()),
        }
    }

    pub fn encode(&self, out: &mut Vec<u8>) {
        let f64s = |values: &[f64], out: &mut Vec<u8>| {
            for v in values {
                out.extend_from_slice(&v.to_le_bytes());
            }
        };
        match self {
            State::Count(n) => out.extend_from_slice(&n.to_le_bytes()),
            State::Sum { sum, compensation, n } => {
                out.extend_from_slice(&n.to_le_bytes());
                f64s(&[*sum, *compensation], out);
            }
            State::Moments { n, mean, m2 } => {
                out.extend_from_slice(&n.to_le_bytes());
                f64s(&[*mean, *m2], out);
            }
            State::Min(v) | State::Max(v) => match v {
                None => out.push(0),
                Some(v) => {
                    out.push(1);
                    f64s(&[*v], out);
                }
            },
            State::Last(v) => match v {
                None => out.push(0),
                Some((time, v)) => {
                    out.push(1);
                    out.extend_from_slice(&time.to_le_bytes());
                    f64s(&[*v], out);
                }
            },
            State::Distinct(sketch) => sketch.encode(out),
        }
    }

    /// Reads a state of `function` from the start of `bytes`; returns it and the bytes taken.
    pub fn decode(function: AggregateFunction, bytes: &[u8]) -> Option<(State, usize)> {
        let word = |at: usize| -> Option<[u8; 8]> { bytes.get(at..at + 8)?.try_into().ok() };
        let u = |at: usize| word(at).map(u64::from_le_bytes);
        let f = |at: usize| word(at).map(f64::from_le_bytes);
        let optional = |read: &dyn Fn() -> Option<(State, usize)>, none: State| match bytes.first()? {
            0 => Some((none, 1)),
            1 => read(),
            _ => None,
        };
        match State::new(function) {
            State::Count(_) => Some((State::Count(u(0)?), 8)),
            State::Sum { .. } => Some((
                State::Sum {
                    n: u(0)?,
                    sum: f(8)?,
                    compensation: f(16)?,
                },
                24,
            )),
            State::Moments { .. } => Some((
                State::Moments {
                    n: u(0)?,
                    mean: f(8)?,
                    m2: f(16)?,
                },
                24,
            )),
            State::Min(_) => optional(&|| Some((State::Min(Some(f(1)?)), 9)), State::Min(None)),
            State::Max(_) => optional(&|| Some((State::Max(Some(f(1)?)), 9)), State::Max(None)),
            State::Last(_) => optional(
                &|| Some((State::Last(Some((u(1)? as i64, f(9)?))), 17)),
                State::Last(None),
            ),
            State::Distinct(_) => Hll::decode(bytes).map(|(sketch, used)| (State::Distinct(sketch), used)),
        }
    }
}

/// Whether an event (`time`, `x`) comes after the `held` one: later, or at the same time larger.
fn later(time: i64, x: f64, held: (i64, f64)) -> bool {
    (time, x).partial_cmp(&held).is_some_and(|o| o.is_gt())
}

fn neumaier(sum: &mut f64, compensation: &mut f64, x: f64) {
    let total = *sum + x;
    if sum.abs() >= x.abs() {
        *compensation += (*sum - total) + x;
    } else {
        *compensation += (x - total) + *sum;
    }
    *sum = total;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aggregation_states_round_trip_and_merge_in_any_order() {
        let values = [3.5, -1.0, 1e10, 2.25, 1e-3, -7.0];
        for function in AggregateFunction::ALL {
            let datum = |x: f64| {
                super::super::datum::from_value(function, &Value::Float64(x))
                    .unwrap()
                    .unwrap()
            };
            let mut whole = State::new(function);
            let (mut left, mut right) = (State::new(function), State::new(function));
            for (i, x) in values.iter().enumerate() {
                whole.add(i as i64 % 3, datum(*x));
                if i % 2 == 0 { &mut left } else { &mut right }.add(i as i64 % 3, datum(*x));
            }
            let mut merged = right.clone();
            merged.merge(&left);
            let close = |a: Value, b: Value| match (a, b) {
                (Value::Float64(a), Value::Float64(b)) => (a - b).abs() <= 1e-12 * a.abs().max(b.abs()),
                (a, b) => a == b,
            };
            assert!(
                close(merged.finish(function), whole.finish(function)),
                "{function:?}: {:?} vs {:?}",
                merged.finish(function),
                whole.finish(function)
            );
            for state in [&whole, &State::new(function)] {
                let mut bytes = Vec::new();
                state.encode(&mut bytes);
                let (decoded, used) = State::decode(function, &bytes).unwrap();
                assert_eq!((&decoded, used), (state, bytes.len()), "{function:?}");
            }
        }
        let mut last = State::new(AggregateFunction::Last);
        for (time, x) in [(5, 1.0), (5, 4.0), (2, 9.0), (5, 3.0)] {
            last.add(time, Datum::Number(x));
        }
        assert_eq!(last.finish(AggregateFunction::Last), Value::Float64(4.0));
        let mut spread = State::new(AggregateFunction::Stddev);
        for x in [2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0] {
            spread.add(0, Datum::Number(x));
        }
        assert_eq!(spread.finish(AggregateFunction::Stddev), Value::Float64(2.0));
        assert_eq!(
            State::new(AggregateFunction::Sum).finish(AggregateFunction::Sum),
            Value::Null
        );
        assert_eq!(
            State::new(AggregateFunction::Count).finish(AggregateFunction::Count),
            Value::Int64(0)
        );
    }
}
