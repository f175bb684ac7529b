//! Which served rows a service logs: each row independently with probability `sample_rate`,
//! drawn from a small xorshift generator (statistical quality is all sampling needs; no
//! cryptographic strength, and no shared state between threads).

use std::cell::Cell;
use std::hash::{BuildHasher, Hasher};

/// xorshift64*: 64 bits of state, a period of 2^64 - 1, good enough for Bernoulli draws.
#[derive(Debug, Clone)]
pub struct Xorshift(u64);

impl Xorshift {
    /// A generator started from `seed` (a zero seed, the one fixed point, is replaced).
    pub fn seeded(seed: u64) -> Xorshift {
        Xorshift(if seed == 0 { 0x9E37_79B9_7F4A_7C15 } else { seed })
    }

    /// A generator seeded from the process's random hash keys.
    pub fn from_entropy() -> Xorshift {
        let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
        hasher.write_u64(0);
        Xorshift::seeded(hasher.finish())
    }

    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in [0, 1), from the top 53 bits.
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }
}

/// The indices of `rows` rows kept, each with probability `rate` (every row at 1).
pub fn sample(rate: f64, rows: usize, rng: &mut Xorshift) -> Vec<usize> {
    if rate >= 1.0 {
        return (0..rows).collect();
    }
    (0..rows).filter(|_| rng.next_f64() < rate).collect()
}

thread_local! {
    static RNG: Cell<Option<Xorshift>> = const { Cell::new(None) };
}

/// [`sample`] with this thread's generator, seeded on first use.
pub fn sample_here(rate: f64, rows: usize) -> Vec<usize> {
    RNG.with(|cell| {
        let mut rng = cell.take().unwrap_or_else(Xorshift::from_entropy);
        let picked = sample(rate, rows, &mut rng);
        cell.set(Some(rng));
        picked
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_one_keeps_every_row_in_order() {
        let mut rng = Xorshift::seeded(7);
        assert_eq!(sample(1.0, 5, &mut rng), [0, 1, 2, 3, 4]);
        assert_eq!(sample_here(1.0, 3), [0, 1, 2]);
    }

    #[test]
    fn a_tenth_of_ten_thousand_rows_is_within_six_sigma_of_a_thousand() {
        // Binomial(10,000, 0.1): mean 1,000, sigma 30; six sigma is 180.
        let (n, p) = (10_000usize, 0.1f64);
        let mean = n as f64 * p;
        let sigma = (n as f64 * p * (1.0 - p)).sqrt();
        for seed in [1, 42, 0xDEAD_BEEF, u64::MAX] {
            let kept = sample(p, n, &mut Xorshift::seeded(seed));
            let count = kept.len() as f64;
            assert!(
                (count - mean).abs() <= 6.0 * sigma,
                "seed {seed}: {count} rows kept, expected {mean} ± {}",
                6.0 * sigma
            );
            assert!(kept.windows(2).all(|w| w[0] < w[1]), "indices ascend, no repeats");
        }
        let count = sample_here(p, n).len() as f64;
        assert!((count - mean).abs() <= 6.0 * sigma, "thread generator: {count}");
    }

    #[test]
    fn draws_are_uniform_enough_and_seeded_runs_repeat() {
        let mut rng = Xorshift::seeded(3);
        let draws: Vec<f64> = (0..100_000).map(|_| rng.next_f64()).collect();
        assert!(draws.iter().all(|d| (0.0..1.0).contains(d)));
        // Ten equal bins of 10,000 expected each: sigma about 95, six sigma about 570.
        let mut bins = [0u32; 10];
        for d in &draws {
            bins[(d * 10.0) as usize] += 1;
        }
        assert!(bins.iter().all(|&b| (9_430..=10_570).contains(&b)), "{bins:?}");
        assert_eq!(
            sample(0.3, 100, &mut Xorshift::seeded(9)),
            sample(0.3, 100, &mut Xorshift::seeded(9))
        );
        assert!(sample(0.000_001, 1_000, &mut Xorshift::seeded(9)).len() <= 1);
    }
}
