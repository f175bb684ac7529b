//! The two-sample Kolmogorov–Smirnov test, two-sided, as `scipy.stats.ks_2samp(method="auto")`
//! computes it: the exact null distribution when both samples have at most 10,000 values
//! (Hodges' lattice-path counts: `_compute_prob_outside_square` for equal sizes,
//! `_compute_outer_prob_inside_method` otherwise), else the one-sample Kolmogorov
//! distribution `kstwo` at `n = round(n1 n2 / (n1 + n2))` (Simard & L'Ecuyer's selection of
//! algorithms, scipy's `_kolmogn`).

/// Above this size in either sample scipy's `auto` leaves the exact distribution.
const MAX_EXACT_N: usize = 10_000;

/// The KS statistic and its two-sided p-value.
pub struct KsResult {
    pub statistic: f64,
    pub p_value: f64,
}

/// The test on two sorted, finite, non-empty samples.
pub fn ks_two_sample(reference: &[f64], current: &[f64]) -> KsResult {
    let d = super::statistics::ecdf_gaps(reference, current).supremum;
    ks_from_statistic(reference.len(), current.len(), d)
}

/// The test from its statistic `d` (`sup |F1 - F2|`, e.g. from one merge that also gave the
/// Wasserstein distance) and the two sample sizes.
pub fn ks_from_statistic(n1: usize, n2: usize, d: f64) -> KsResult {
    if max_usize(n1, n2) <= MAX_EXACT_N
        && let Some((d, p)) = exact_p_value(n1, n2, d)
    {
        return KsResult {
            statistic: d,
            p_value: p,
        };
    }
    let (m, n) = if n1 >= n2 {
        (n1 as f64, n2 as f64)
    } else {
        (n2 as f64, n1 as f64)
    };
    let en = (m * n / (m + n)).round_ties_even();
    KsResult {
        statistic: d,
        p_value: kolmogorov_sf(en as u64, d).clamp(0.0, 1.0),
    }
}

fn max_usize(a: usize, b: usize) -> usize {
    if a > b { a } else { b }
}

fn gcd(mut a: usize, mut b: usize) -> usize {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

/// scipy's `_attempt_exact_2kssamp`, two-sided: the statistic snapped to the lattice
/// `h / lcm` and its exact p-value, or `None` when the computation is not trustworthy (it
/// leaves [0, 1], as for 7 against 7 values at D = 1/7), where scipy, and so Lathe, falls
/// back to the asymptotic distribution.
pub fn exact_p_value(n1: usize, n2: usize, d: f64) -> Option<(f64, f64)> {
    let g = gcd(n1, n2);
    let lcm = (n1 / g) as f64 * n2 as f64;
    let h = (d * lcm).round_ties_even();
    let d = h / lcm;
    if h == 0.0 {
        return Some((d, 1.0));
    }
    let h = h as usize;
    let p = if n1 == n2 {
        prob_outside_square(n1, h)
    } else {
        outer_prob_inside_method(n1, n2, g, h)
    };
    (p.is_finite() && (0.0..=1.0).contains(&p)).then_some((d, p))
}

/// Share of lattice paths leaving the band `|x - y| < h` for equal sample sizes `n`.
fn prob_outside_square(n: usize, h: usize) -> f64 {
    let mut p = 0.0;
    let mut k = (n / h) as i64;
    let (n, h) = (n as f64, h as f64);
    while k >= 0 {
        let kh = k as f64 * h;
        let mut p1 = 1.0;
        for j in 0..h as usize {
            let j = j as f64;
            p1 = (n - kh - j) * p1 / (n + kh + j + 1.0);
        }
        p = p1 * (1.0 - p);
        k -= 1;
    }
    2.0 * p
}

/// Share of lattice paths to `(m, n)` that do not stay strictly inside
/// `|x/m - y/n| < h / lcm(m, n)` (Hodges, with Viehmann's recursion for `1 - p`).
fn outer_prob_inside_method(m: usize, n: usize, g: usize, h: usize) -> f64 {
    let (m, n) = if m < n { (n, m) } else { (m, n) };
    let mg = (m / g) as i64;
    let ng = (n / g) as i64;
    let (h, n_i) = (h as i64, n as i64);
    let ceil_div = |a: i64, b: i64| (a as f64 / b as f64).ceil() as i64;
    let floor_div = |a: i64, b: i64| (a as f64 / b as f64).floor() as i64;
    let mut minj: i64 = 0;
    let mut maxj: i64 = ceil_div(h, mg).min(n_i + 1);
    let mut curlen = maxj - minj;
    let len_a = (2 * maxj + 2).min(n_i + 1) as usize;
    let mut a = vec![1.0_f64; len_a];
    for slot in a.iter_mut().take(maxj as usize).skip(minj as usize) {
        *slot = 0.0;
    }
    for i in 1..=m as i64 {
        let (lastminj, lastlen) = (minj, curlen);
        minj = (floor_div(ng * i - h, mg) + 1).max(0).min(n_i);
        maxj = ceil_div(ng * i + h, mg).min(n_i + 1);
        if maxj <= minj {
            return 1.0;
        }
        let mut val = if minj == 0 { 0.0 } else { 1.0 };
        for jj in 0..maxj - minj {
            let j = (jj + minj) as f64;
            val = (a[(jj + minj - lastminj) as usize] * i as f64 + val * j) / (i as f64 + j);
            a[jj as usize] = val;
        }
        curlen = maxj - minj;
        if lastlen > curlen {
            let start = (maxj - minj) as usize;
            let end = (start + (lastlen - curlen) as usize).min(a.len());
            for slot in &mut a[start..end] {
                *slot = 1.0;
            }
        }
    }
    a[(maxj - minj - 1) as usize]
}

/// `ln(n! / n^n)` by Stirling's series (scipy's `_log_nfactorial_div_n_pow_n`).
fn ln_factorial_over_power(n: f64) -> f64 {
    const STIRLING: [f64; 8] = [
        -2.955_065_359_477_124_2e-2,
        6.410_256_410_256_41e-3,
        -1.917_526_917_526_917_5e-3,
        8.417_508_417_508_417e-4,
        -5.952_380_952_380_953e-4,
        7.936_507_936_507_937e-4,
        -2.777_777_777_777_778e-3,
        8.333_333_333_333_333e-2,
    ];
    let rn = 1.0 / n;
    let x = rn / n;
    let poly = STIRLING.iter().fold(0.0, |acc, c| acc * x + c);
    n.ln() / 2.0 - n + (2.0 * std::f64::consts::PI).ln() / 2.0 + rn * poly
}

/// `P(D_n >= x)`, the survival function of the two-sided one-sample Kolmogorov statistic
/// (scipy's `kstwo.sf`, `_kolmogn(n, x, cdf=False)`).
pub fn kolmogorov_sf(n: u64, x: f64) -> f64 {
    if x >= 1.0 {
        return 0.0;
    }
    if x <= 0.0 || n == 0 {
        return 1.0;
    }
    let nf = n as f64;
    let t = nf * x;
    if t <= 1.0 {
        if t <= 0.5 {
            return 1.0;
        }
        let cdf = if n <= 140 {
            (1..=n).fold(1.0, |acc, i| acc * (i as f64 * (1.0 / nf) * (2.0 * t - 1.0)))
        } else {
            (ln_factorial_over_power(nf) + nf * (2.0 * t - 1.0).ln()).exp()
        };
        return (1.0 - cdf).clamp(0.0, 1.0);
    }
    if t >= nf - 1.0 {
        return (2.0 * (1.0 - x).powf(nf)).clamp(0.0, 1.0);
    }
    if x >= 0.5 {
        return (2.0 * smirnov_sf(n, x)).clamp(0.0, 1.0);
    }
    let nx_squared = t * x;
    if n <= 140 {
        // scipy uses Pomeranz's recursion for 0.754693 < n x^2 <= 4; Durbin's matrix is
        // exact there too, and the two agree to rounding.
        if nx_squared <= 4.0 {
            return (1.0 - durbin_cdf(n, x)).clamp(0.0, 1.0);
        }
        return (2.0 * smirnov_sf(n, x)).clamp(0.0, 1.0);
    }
    if nx_squared >= 370.0 {
        return 0.0;
    }
    if nx_squared >= 2.2 {
        return (2.0 * smirnov_sf(n, x)).clamp(0.0, 1.0);
    }
    if n <= 100_000 && nf * x.powf(1.5) <= 1.4 {
        (1.0 - durbin_cdf(n, x)).clamp(0.0, 1.0)
    } else {
        pelz_good_sf(nf, x).clamp(0.0, 1.0)
    }
}

/// `P(D_n+ >= x)`, the one-sided Smirnov survival function, by the Birnbaum–Tingey sum (all
/// terms positive, accumulated in logs).
fn smirnov_sf(n: u64, x: f64) -> f64 {
    let nf = n as f64;
    let last = (nf * (1.0 - x)).floor() as u64;
    // ln C(n, j) grows to ~n ln 2: a compensated (Kahan) running sum keeps the rounding of
    // 10^5 additions to a large total out of the result.
    let (mut ln_binomial, mut compensation) = (0.0_f64, 0.0_f64);
    let mut sum = 0.0_f64;
    for j in 0..=last {
        let jf = j as f64;
        if j > 0 {
            let increment = ((nf - jf + 1.0) / jf).ln() - compensation;
            let total = ln_binomial + increment;
            compensation = (total - ln_binomial) - increment;
            ln_binomial = total;
        }
        let upper = 1.0 - x - jf / nf;
        let lower = x + jf / nf;
        if upper <= 0.0 {
            continue;
        }
        let ln_term = ln_binomial + (nf - jf) * upper.ln() + (jf - 1.0) * lower.ln();
        sum += ln_term.exp();
    }
    x * sum
}

/// `P(D_n < x)` by Durbin's matrix (Marsaglia, Tsang & Wang), with the binary-power scaling
/// of scipy's `_kolmogn_DMTW`.
fn durbin_cdf(n: u64, d: f64) -> f64 {
    const E128: i32 = 128;
    let ep128 = 2.0_f64.powi(E128);
    let em128 = 2.0_f64.powi(-E128);
    let nd = n as f64 * d;
    if nd <= 0.5 {
        return 0.0;
    }
    let k = nd.ceil() as usize;
    let h = k as f64 - nd;
    let m = 2 * k - 1;
    let mut v: Vec<f64> = (1..=m).map(|i| 1.0 - h.powi(i as i32)).collect();
    let mut w = vec![0.0; m];
    let mut fac = 1.0;
    for j in 1..=m {
        w[j - 1] = fac;
        fac /= j as f64;
        v[j - 1] *= fac;
    }
    let tt = (2.0 * h - 1.0).max(0.0).powi(m as i32) - 2.0 * h.powi(m as i32);
    v[m - 1] = (1.0 + tt) * fac;
    let mut matrix = vec![0.0; m * m];
    for i in 1..m {
        for row in (i - 1)..m {
            matrix[row * m + i] = w[row - (i - 1)];
        }
    }
    for (row, value) in v.iter().enumerate() {
        matrix[row * m] = *value;
    }
    for col in 0..m {
        matrix[(m - 1) * m + col] = v[m - 1 - col];
    }
    let mut power = identity(m);
    let (mut nn, mut exponent, mut matrix_exponent) = (n, 0_i64, 0_i64);
    while nn > 0 {
        if nn % 2 == 1 {
            power = multiply(&power, &matrix, m);
            exponent += matrix_exponent;
        }
        matrix = multiply(&matrix, &matrix, m);
        matrix_exponent *= 2;
        if matrix[(k - 1) * m + (k - 1)].abs() > ep128 {
            for value in &mut matrix {
                *value /= ep128;
            }
            matrix_exponent += i64::from(E128);
        }
        nn /= 2;
    }
    let mut p = power[(k - 1) * m + (k - 1)];
    let nf = n as f64;
    for i in 1..=n {
        p = i as f64 * p / nf;
        if p.abs() < em128 {
            p *= ep128;
            exponent -= i64::from(E128);
        }
    }
    if exponent != 0 {
        p *= 2.0_f64.powi(exponent as i32);
    }
    p.clamp(0.0, 1.0)
}

fn identity(m: usize) -> Vec<f64> {
    let mut matrix = vec![0.0; m * m];
    for i in 0..m {
        matrix[i * m + i] = 1.0;
    }
    matrix
}

fn multiply(a: &[f64], b: &[f64], m: usize) -> Vec<f64> {
    let mut out = vec![0.0; m * m];
    for i in 0..m {
        for k in 0..m {
            let aik = a[i * m + k];
            if aik == 0.0 {
                continue;
            }
            for j in 0..m {
                out[i * m + j] += aik * b[k * m + j];
            }
        }
    }
    out
}

/// The Pelz–Good asymptotic expansion of `P(D_n >= x)` (scipy's `_kolmogn_PelzGood`).
fn pelz_good_sf(n: f64, x: f64) -> f64 {
    use std::f64::consts::PI;
    if x <= 0.0 {
        return 1.0;
    }
    let z = n.sqrt() * x;
    let (z2, z3, z4, z6) = (z * z, z.powi(3), z.powi(4), z.powi(6));
    let qlog = -PI * PI / 8.0 / z2;
    if qlog < -708.0 {
        return 1.0;
    }
    let q = qlog.exp();
    let (pi2, pi4, pi6) = (PI * PI, PI.powi(4), PI.powi(6));
    let k1a = -z2;
    let k1b = pi2 / 4.0;
    let k2a = 6.0 * z6 + 2.0 * z4;
    let k2b = (2.0 * z4 - 5.0 * z2) * pi2 / 4.0;
    let k2c = pi4 * (1.0 - 2.0 * z2) / 16.0;
    let k3d = pi6 * (5.0 - 30.0 * z2) / 64.0;
    let k3c = pi4 * (-60.0 * z2 + 212.0 * z4) / 16.0;
    let k3b = pi2 * (135.0 * z4 - 96.0 * z6) / 4.0;
    let k3a = -30.0 * z6 - 90.0 * z.powi(8);
    let mut k = [0.0_f64; 4];
    let maxk = (16.0 * z / PI).ceil() as i64;
    for kk in (1..=maxk).rev() {
        let m = (2 * kk - 1) as f64;
        let (m2, m4, m6) = (m * m, m.powi(4), m.powi(6));
        let qpower = q.powf(8.0 * kk as f64);
        let coeffs = [
            1.0,
            k1a + k1b * m2,
            k2a + k2b * m2 + k2c * m4,
            k3a + k3b * m2 + k3c * m4 + k3d * m6,
        ];
        for (slot, c) in k.iter_mut().zip(coeffs) {
            *slot = *slot * qpower + c;
        }
    }
    let sqrt2pi = (2.0 * PI).sqrt();
    let divisors = [z, 6.0 * z4, 72.0 * z.powi(7), 6480.0 * z.powi(10)];
    for (slot, divisor) in k.iter_mut().zip(divisors) {
        *slot = *slot * q * sqrt2pi / divisor;
    }
    let q = (-pi2 / 2.0 / z2).exp();
    let sqrt3z = 3.0_f64.sqrt() * z;
    let (mut k2extra, mut k3extra) = (0.0, 0.0);
    for kk in (1..=maxk).rev() {
        let ks = kk as f64;
        let ksquared = ks * ks;
        let qpower = q.powf(ksquared);
        k2extra += ksquared * qpower;
        let kspi = PI * ks;
        k3extra += (sqrt3z + kspi) * (sqrt3z - kspi) * ksquared * qpower;
    }
    k[2] += k2extra * pi2 * sqrt2pi / (-36.0 * z3);
    k[3] += k3extra * pi2 * sqrt2pi / (216.0 * z6);
    let mut sf = 0.0;
    for (i, value) in k.iter().enumerate() {
        let scaled = value / n.powf(i as f64 / 2.0);
        sf += if i == 0 { 1.0 - scaled } else { -scaled };
    }
    sf
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_samples_have_no_distance() {
        let sample = [1.0, 2.0, 3.0];
        let result = ks_two_sample(&sample, &sample);
        assert_eq!(result.statistic, 0.0);
        assert_eq!(result.p_value, 1.0);
    }

    #[test]
    fn disjoint_small_samples_have_the_exact_p_value() {
        // All 3 + 3 orderings: only the two fully separated ones reach D = 1.
        let result = ks_two_sample(&[1.0, 2.0, 3.0], &[4.0, 5.0, 6.0]);
        assert_eq!(result.statistic, 1.0);
        assert!((result.p_value - 2.0 / 20.0).abs() < 1e-15);
    }

    #[test]
    fn kolmogorov_sf_is_a_survival_function() {
        let mut previous = 1.0;
        for i in 1..200 {
            let p = kolmogorov_sf(5_000, i as f64 / 1_000.0);
            assert!(p <= previous + 1e-15 && p >= 0.0, "x = {}", i as f64 / 1_000.0);
            previous = p;
        }
    }
}
