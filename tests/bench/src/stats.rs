//! The statistics of the report (medians over rounds) and the Zipf draw of keys.

/// The Zipf exponent of the key draws: rank `k` is drawn in proportion to `1 / k^s`.
pub const ZIPF_EXPONENT: f64 = 1.0;
/// The cumulative weights of a Zipf table end at this integer, so that wrk's Lua draws with
/// `math.random(total)` and compares integers only.
pub const ZIPF_TOTAL: u64 = 1 << 20;

/// The median of `values` (the mean of the two middle ones for an even count); `None` when
/// there are none.
pub fn median(values: &[f64]) -> Option<f64> {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let n = sorted.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(sorted[n / 2]),
        _ => Some((sorted[n / 2 - 1] + sorted[n / 2]) / 2.0),
    }
}

/// The cumulative integer weights of ranks `1..=n` under Zipf's law with exponent `s`,
/// scaled so the last is `total`: rank `k` is drawn when a uniform integer in `1..=total`
/// is above entry `k - 1` and at most entry `k`. Strictly increasing, so every rank can be
/// drawn (given `total >= n`).
pub fn zipf_cumulative(n: usize, s: f64, total: u64) -> Vec<u64> {
    let weights: Vec<f64> = (1..=n).map(|k| (k as f64).powf(-s)).collect();
    let sum: f64 = weights.iter().sum();
    let mut cumulative = Vec::with_capacity(n);
    let mut running = 0.0;
    let mut previous = 0;
    for (k, weight) in weights.iter().enumerate() {
        running += weight;
        let scaled = if k + 1 == n {
            total
        } else {
            (running / sum * total as f64).round() as u64
        };
        previous = scaled.max(previous + 1);
        cumulative.push(previous);
    }
    cumulative
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_median_of_an_odd_count_is_the_middle_value() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
    }

    #[test]
    fn the_median_of_an_even_count_is_the_mean_of_the_middle_two() {
        assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), Some(2.5));
    }

    #[test]
    fn there_is_no_median_of_nothing() {
        assert_eq!(median(&[]), None);
    }

    #[test]
    fn a_zipf_table_rises_strictly_to_its_total() {
        let table = zipf_cumulative(1_000, ZIPF_EXPONENT, ZIPF_TOTAL);
        assert_eq!(table.len(), 1_000);
        assert_eq!(*table.last().unwrap(), ZIPF_TOTAL);
        assert!(table.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn a_zipf_table_draws_rank_k_in_proportion_to_one_over_k() {
        let table = zipf_cumulative(1_000, 1.0, ZIPF_TOTAL);
        let share = |k: usize| {
            let below = if k == 1 { 0 } else { table[k - 2] };
            (table[k - 1] - below) as f64 / ZIPF_TOTAL as f64
        };
        // The harmonic number H(1000) is about 7.485: rank 1 takes 1/H of the draws.
        assert!((share(1) - 1.0 / 7.4855).abs() < 1e-4, "{}", share(1));
        assert!((share(2) / share(1) - 0.5).abs() < 1e-3);
        assert!((share(1_000) / share(1) - 0.001).abs() < 1e-4);
    }

    #[test]
    fn a_one_key_zipf_table_always_draws_that_key() {
        assert_eq!(zipf_cumulative(1, ZIPF_EXPONENT, ZIPF_TOTAL), [ZIPF_TOTAL]);
    }
}
