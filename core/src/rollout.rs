//! Batch maths: cumulative batch sizes (`1`, `"25%"`, …, `"100%"`) turned into explicit,
//! deterministic target lists.
//!
//! Rules, for `N` targets and `B` batch sizes:
//! - the cumulative count of a `Count(c)` is `c`, of a `Percent(p)` it is `ceil(N·p/100)`, both
//!   clamped to `N`; the last batch always ends at `N` (it takes the rest);
//! - when `N ≥ B` every batch gets at least one target: a cumulative count is raised to one more
//!   than the previous batch's, and lowered so that every later batch still gets one;
//! - when `N < B` there are not enough targets for every gray step: the first `B − N` batches are
//!   dropped and each target becomes a batch of its own, so no batch is ever empty and the rollout
//!   keeps as many steps as it can; with `N = 0` there are no batches;
//! - an empty list of sizes means one batch with everything.
//!
//! Targets keep the order they are given in; the first batch takes the first targets.
//!
//! Kubernetes apps are rolled out by weight, not by target: every cluster takes part in every
//! batch, and the batch's weight (the share of replicas on the new version) is the cumulative
//! count of the same sizes over 100 units. A count on a Kubernetes app therefore reads as that
//! many percent.

use crate::config::BatchSize;

/// Cumulative target counts after each non-empty batch: strictly increasing, the last one `n`.
///
/// Empty when `n` is 0. Has `min(n, sizes.len())` entries (at least one when `n > 0`).
pub fn cumulative_counts(sizes: &[BatchSize], n: usize) -> Vec<usize> {
    if n == 0 {
        return Vec::new();
    }
    if sizes.is_empty() {
        return vec![n];
    }
    let batches = sizes.len();
    let mut out = Vec::with_capacity(batches.min(n));
    let mut prev = 0usize;
    for (i, size) in sizes.iter().enumerate() {
        let raw = if i + 1 == batches {
            n
        } else {
            resolve(*size, n)
        };
        let later = batches - 1 - i;
        // Leave one target for each later batch; with too few targets this pushes the early
        // batches down to `prev`, i.e. empty, and they are dropped below.
        let ceiling = n.saturating_sub(later);
        let cum = raw.max(prev + 1).min(ceiling).max(prev);
        if cum > prev {
            out.push(cum);
            prev = cum;
        }
    }
    out
}

/// The cumulative count a size asks for out of `n`, before the at-least-one adjustments.
fn resolve(size: BatchSize, n: usize) -> usize {
    match size {
        BatchSize::Count(c) => usize::try_from(c).unwrap_or(usize::MAX).min(n),
        BatchSize::Percent(p) => (n * usize::from(p)).div_ceil(100).min(n),
    }
}

/// Split `targets` (already in rollout order) into non-empty batches following `sizes`.
///
/// Every target lands in exactly one batch, in order. See the module docs for the rules.
pub fn split_targets<'a>(sizes: &[BatchSize], targets: &'a [String]) -> Vec<&'a [String]> {
    let mut start = 0;
    cumulative_counts(sizes, targets.len())
        .into_iter()
        .map(|end| {
            let batch = &targets[start..end];
            start = end;
            batch
        })
        .collect()
}

/// Kubernetes weights (1–100, strictly increasing, the last 100) of the batches of `sizes`.
pub fn weights(sizes: &[BatchSize]) -> Vec<u8> {
    cumulative_counts(sizes, 100)
        .into_iter()
        .map(|w| u8::try_from(w).unwrap_or(100))
        .collect()
}

/// Why a list of batch sizes is not acceptable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BatchRuleViolation {
    /// The list is empty.
    Empty,
    /// A count of 0 or a percentage outside 1–100, at this position.
    OutOfRange(usize),
    /// The size at this position is not larger than the one before (or is a count after a
    /// percentage, which cannot be compared without knowing the number of targets).
    NotIncreasing(usize),
    /// The last size is not `100%`.
    NotEndingAt100,
}

impl BatchRuleViolation {
    /// Stable machine code of the rule.
    pub fn rule(&self) -> &'static str {
        match self {
            Self::Empty => "batches_empty",
            Self::OutOfRange(_) => "batch_out_of_range",
            Self::NotIncreasing(_) => "batches_not_increasing",
            Self::NotEndingAt100 => "batches_not_ending_at_100",
        }
    }
}

/// Check the rules every list of batch sizes follows: not empty; counts ≥ 1 and percentages
/// 1–100; strictly increasing (counts among counts, percentages among percentages, no count after
/// a percentage); ending at `100%`.
pub fn check_sizes(sizes: &[BatchSize]) -> Result<(), BatchRuleViolation> {
    let Some(last) = sizes.last() else {
        return Err(BatchRuleViolation::Empty);
    };
    let mut prev: Option<BatchSize> = None;
    for (i, size) in sizes.iter().enumerate() {
        match *size {
            BatchSize::Count(0) => return Err(BatchRuleViolation::OutOfRange(i)),
            BatchSize::Percent(p) if p == 0 || p > 100 => {
                return Err(BatchRuleViolation::OutOfRange(i));
            }
            _ => {}
        }
        let increasing = match (prev, *size) {
            (None, _) | (Some(BatchSize::Count(_)), BatchSize::Percent(_)) => true,
            (Some(BatchSize::Count(a)), BatchSize::Count(b)) => b > a,
            (Some(BatchSize::Percent(a)), BatchSize::Percent(b)) => b > a,
            (Some(BatchSize::Percent(_)), BatchSize::Count(_)) => false,
        };
        if !increasing {
            return Err(BatchRuleViolation::NotIncreasing(i));
        }
        prev = Some(*size);
    }
    if *last != BatchSize::Percent(100) {
        return Err(BatchRuleViolation::NotEndingAt100);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use BatchSize::{Count, Percent};

    fn names(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("h{i}")).collect()
    }

    #[test]
    fn percentages_round_up() {
        // 10 targets: 25% → ceil(2.5) = 3, 50% → 5.
        assert_eq!(
            cumulative_counts(&[Percent(25), Percent(50), Percent(100)], 10),
            vec![3, 5, 10]
        );
        // 3 targets: 10% → ceil(0.3) = 1.
        assert_eq!(
            cumulative_counts(&[Percent(10), Percent(100)], 3),
            vec![1, 3]
        );
    }

    #[test]
    fn counts_then_percentages() {
        assert_eq!(
            cumulative_counts(&[Count(1), Count(5), Percent(50), Percent(100)], 40),
            vec![1, 5, 20, 40]
        );
    }

    #[test]
    fn counts_are_clamped_to_n_and_later_batches_keep_one_each() {
        // Count 10 of 4 targets would leave nothing for the last batch: lowered to 3.
        assert_eq!(cumulative_counts(&[Count(10), Percent(100)], 4), vec![3, 4]);
        assert_eq!(cumulative_counts(&[Count(10)], 4), vec![4]);
    }

    #[test]
    fn the_last_batch_takes_the_rest_whatever_it_says() {
        assert_eq!(cumulative_counts(&[Count(1), Percent(50)], 10), vec![1, 10]);
        assert_eq!(cumulative_counts(&[Count(2)], 7), vec![7]);
    }

    #[test]
    fn rounding_collisions_are_raised_so_no_batch_is_empty() {
        // 10% and 20% of 3 both round to 1: the second batch is raised to 2.
        assert_eq!(
            cumulative_counts(&[Percent(10), Percent(20), Percent(100)], 3),
            vec![1, 2, 3]
        );
        // 50% and 60% of 3 are both 2; with three batches each must get one: 1, 2, 3.
        assert_eq!(
            cumulative_counts(&[Percent(50), Percent(60), Percent(100)], 3),
            vec![1, 2, 3]
        );
    }

    #[test]
    fn exactly_as_many_targets_as_batches_gives_one_each() {
        let sizes = [Count(1), Percent(10), Percent(50), Percent(100)];
        assert_eq!(cumulative_counts(&sizes, 4), vec![1, 2, 3, 4]);
    }

    #[test]
    fn fewer_targets_than_batches_drops_the_first_batches() {
        let sizes = [Count(1), Percent(10), Percent(50), Percent(100)];
        assert_eq!(cumulative_counts(&sizes, 2), vec![1, 2]);
        assert_eq!(cumulative_counts(&sizes, 1), vec![1]);
        assert_eq!(cumulative_counts(&sizes, 0), Vec::<usize>::new());
    }

    #[test]
    fn empty_sizes_mean_everything_at_once() {
        assert_eq!(cumulative_counts(&[], 5), vec![5]);
        assert_eq!(cumulative_counts(&[], 0), Vec::<usize>::new());
    }

    #[test]
    fn split_keeps_order_and_covers_every_target_once() {
        let targets = names(7);
        let batches = split_targets(&[Count(1), Percent(50), Percent(100)], &targets);
        assert_eq!(
            batches,
            vec![&targets[0..1], &targets[1..4], &targets[4..7]]
        );
        assert_eq!(batches.concat(), targets);
    }

    #[test]
    fn weights_for_kubernetes() {
        assert_eq!(
            weights(&[Percent(10), Percent(50), Percent(100)]),
            vec![10, 50, 100]
        );
        // A count reads as percent.
        assert_eq!(weights(&[Count(1), Percent(100)]), vec![1, 100]);
        assert_eq!(weights(&[Percent(100)]), vec![100]);
    }

    #[test]
    fn size_rules() {
        assert_eq!(check_sizes(&[Count(1), Percent(25), Percent(100)]), Ok(()));
        assert_eq!(check_sizes(&[Percent(100)]), Ok(()));
        assert_eq!(check_sizes(&[]), Err(BatchRuleViolation::Empty));
        assert_eq!(
            check_sizes(&[Count(0), Percent(100)]),
            Err(BatchRuleViolation::OutOfRange(0))
        );
        assert_eq!(
            check_sizes(&[Percent(120)]),
            Err(BatchRuleViolation::OutOfRange(0))
        );
        assert_eq!(
            check_sizes(&[Percent(50), Percent(50), Percent(100)]),
            Err(BatchRuleViolation::NotIncreasing(1))
        );
        assert_eq!(
            check_sizes(&[Count(3), Count(2), Percent(100)]),
            Err(BatchRuleViolation::NotIncreasing(1))
        );
        assert_eq!(
            check_sizes(&[Percent(10), Count(20), Percent(100)]),
            Err(BatchRuleViolation::NotIncreasing(1))
        );
        assert_eq!(
            check_sizes(&[Count(1), Percent(50)]),
            Err(BatchRuleViolation::NotEndingAt100)
        );
        assert_eq!(
            BatchRuleViolation::NotIncreasing(1).rule(),
            "batches_not_increasing"
        );
    }
}
