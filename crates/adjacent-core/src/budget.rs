//! The budget of a search, and everything derived from it in one place: what the search may spend
//! in all (compute, training images, wall time or trials), the share kept for the final phase that
//! trains the winner, the search's part and the final phase's part, the compute a strategy plans
//! within (its horizon), the images left for the final phase once the search has spent its part,
//! and how far a search has come, in the budget's own unit.

use crate::compute;
use crate::error::CoreError;

/// What a study may spend before it stops.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Stop {
    /// This many trials.
    Trials(u64),
    /// Training images passed forward and backward, summed over the trials.
    Images(u64),
    /// Seconds of wall time: a trial is not started if it would, by the throughput measured so
    /// far, end past them.
    Seconds(f64),
    /// Compute in FLOPs (multiply-adds of the cost model), summed over the trials.
    Flops(u64),
}

impl Stop {
    /// The budget flag this stop comes from, for error messages.
    pub fn flag(self) -> &'static str {
        match self {
            Stop::Trials(_) => "trials",
            Stop::Images(_) => "budget-images",
            Stop::Seconds(_) => "budget-minutes",
            Stop::Flops(_) => "budget-flops",
        }
    }

    /// The budget in words.
    pub fn describe(self) -> String {
        match self {
            Stop::Trials(n) => format!("{n} trials"),
            Stop::Images(b) => format!("{b} training images"),
            Stop::Seconds(s) => format!("{:.2} minutes", s / 60.0),
            Stop::Flops(b) => compute::format_flops(b),
        }
    }

    /// The length of a progress bar over this budget, and its unit (compute in GFLOPs).
    pub fn length(self) -> (u64, &'static str) {
        match self {
            Stop::Trials(n) => (n, "trials"),
            Stop::Images(b) => (b, "images"),
            Stop::Seconds(s) => (s.ceil() as u64, "s"),
            Stop::Flops(b) => (b / GIGA, "GFLOPs"),
        }
    }

    /// How far `spent` has come along [`Stop::length`].
    pub fn position(self, spent: &Spent) -> u64 {
        match self {
            Stop::Trials(_) => spent.trials,
            Stop::Images(_) => spent.images,
            Stop::Seconds(_) => spent.seconds as u64,
            Stop::Flops(_) => spent.flops / GIGA,
        }
    }

    /// Training images of a network whose forward pass costs `forward` FLOPs, validated once for
    /// `validation` FLOPs, that fit in what this limit leaves after `spent`; `seconds_per_flop`
    /// is asked only for a time limit. None for a limit of trials, which stands for no compute.
    fn images_left(
        self,
        spent: &Spent,
        forward: u64,
        validation: u64,
        seconds_per_flop: impl FnOnce() -> f64,
    ) -> Option<u64> {
        let within = |flops: u64| compute::images_within(flops.saturating_sub(validation), forward);
        Some(match self {
            Stop::Images(b) => b.saturating_sub(spent.images),
            Stop::Flops(b) => within(b.saturating_sub(spent.flops)),
            Stop::Seconds(s) => within(((s - spent.seconds).max(0.0) / seconds_per_flop()) as u64),
            Stop::Trials(_) => return None,
        })
    }
}

const GIGA: u64 = 1_000_000_000;

/// What a search has spent: its trials, training images, compute and seconds.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Spent {
    pub trials: u64,
    pub images: u64,
    pub flops: u64,
    pub seconds: f64,
}

impl Spent {
    /// This and `other` together.
    pub fn plus(self, other: Spent) -> Spent {
        Spent {
            trials: self.trials + other.trials,
            images: self.images + other.images,
            flops: self.flops + other.flops,
            seconds: self.seconds + other.seconds,
        }
    }
}

/// The budget of a whole search: the total, and the share of it kept for the final phase.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Budget {
    pub total: Stop,
    /// The share of the total kept for the final phase: in [0, 1) for a search (0: no final
    /// phase), 1 for no search at all (`fixed`: one network trained with everything).
    pub final_share: f64,
}

impl Budget {
    /// A search's budget: `total`, of which `final_share`, in [0, 1), trains the winner.
    pub fn new(total: Stop, final_share: f64) -> Result<Budget, CoreError> {
        check_final_share(final_share)?;
        Ok(Budget { total, final_share })
    }

    /// The budget of no search: the whole total trains one network.
    pub fn whole(total: Stop) -> Budget {
        Budget {
            total,
            final_share: 1.0,
        }
    }

    /// The part the search's trials may spend (the rest is the final phase's).
    pub fn search_part(&self) -> Stop {
        let keep = 1.0 - self.final_share;
        match self.total {
            Stop::Trials(n) => Stop::Trials(n),
            Stop::Images(b) => Stop::Images((b as f64 * keep).floor() as u64),
            Stop::Seconds(s) => Stop::Seconds(s * keep),
            Stop::Flops(b) => Stop::Flops((b as f64 * keep).floor() as u64),
        }
    }

    /// The part kept for the final phase; none for a budget of trials, whose final phase gets
    /// `final_share / (1 - final_share)` of what the trials spent.
    pub fn final_part(&self) -> Option<Stop> {
        let share = self.final_share;
        match self.total {
            Stop::Trials(_) => None,
            Stop::Images(b) => Some(Stop::Images((b as f64 * share) as u64)),
            Stop::Seconds(s) => Some(Stop::Seconds(s * share)),
            Stop::Flops(b) => Some(Stop::Flops((b as f64 * share) as u64)),
        }
    }

    /// The compute the budget stands for, for strategies that plan in compute: the total in
    /// FLOPs, training images at the cost of a network whose forward pass costs `forward`, or
    /// seconds at `seconds_per_flop` (asked only for a time budget). None for a budget of trials.
    pub fn horizon(&self, forward: u64, seconds_per_flop: impl FnOnce() -> f64) -> Option<u64> {
        match self.total {
            Stop::Flops(b) => Some(b),
            Stop::Images(b) => Some(compute::training_flops(forward, b)),
            Stop::Seconds(s) => Some((s / seconds_per_flop()) as u64),
            Stop::Trials(_) => None,
        }
    }

    /// The search's part of a `horizon` of compute.
    pub fn search_compute(&self, horizon: u64) -> u64 {
        (horizon as f64 * (1.0 - self.final_share)) as u64
    }

    /// Training images the final phase can give a network (forward pass `forward` FLOPs, one
    /// validation `validation` FLOPs) once the search has spent `spent`: what the total leaves.
    pub fn final_images(
        &self,
        spent: &Spent,
        forward: u64,
        validation: u64,
        seconds_per_flop: impl FnOnce() -> f64,
    ) -> u64 {
        match self.total {
            Stop::Trials(_) => {
                let share = self.final_share;
                let flops = (spent.flops as f64 * share / (1.0 - share)) as u64;
                compute::images_within(flops.saturating_sub(validation), forward)
            }
            total => total
                .images_left(spent, forward, validation, seconds_per_flop)
                .expect("a limit of compute"),
        }
    }

    /// Training images the final phase's part alone can give such a network, before any search
    /// (none for a budget of trials, known only once the trials have run).
    pub fn planned_final_images(
        &self,
        forward: u64,
        validation: u64,
        seconds_per_flop: impl FnOnce() -> f64,
    ) -> Option<u64> {
        self.final_part()?
            .images_left(&Spent::default(), forward, validation, seconds_per_flop)
    }
}

/// Checks a search's final share: in [0, 1).
pub fn check_final_share(share: f64) -> Result<(), CoreError> {
    if !(0.0..1.0).contains(&share) {
        return Err(CoreError::InvalidSetting {
            field: "final".into(),
            reason: format!(
                "must be a share of the budget in [0, 1) (0: no final phase), got {share}"
            ),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_parts_of_a_budget_make_its_total() {
        let budget = Budget::new(Stop::Flops(1_000), 0.3).unwrap();
        assert_eq!(budget.search_part(), Stop::Flops(700));
        assert_eq!(budget.final_part(), Some(Stop::Flops(300)));
        let images = Budget::new(Stop::Images(10), 0.25).unwrap();
        assert_eq!(images.search_part(), Stop::Images(7));
        assert_eq!(images.final_part(), Some(Stop::Images(2)));
        let trials = Budget::new(Stop::Trials(5), 0.5).unwrap();
        assert_eq!(trials.search_part(), Stop::Trials(5));
        assert_eq!(trials.final_part(), None);
    }

    #[test]
    fn a_final_share_out_of_range_is_refused_by_name() {
        for share in [-0.1, 1.0, f64::NAN] {
            let e = Budget::new(Stop::Trials(1), share).unwrap_err();
            assert!(e.to_string().contains("final"), "{e}");
        }
        assert_eq!(
            Budget::whole(Stop::Images(4)).search_part(),
            Stop::Images(0)
        );
    }

    #[test]
    fn the_final_phase_gets_what_the_search_left() {
        let budget = Budget::new(Stop::Flops(10_000), 0.25).unwrap();
        let spent = Spent {
            flops: 6_000,
            ..Spent::default()
        };
        // 4,000 FLOPs left, 100 of them for validation, 3 x 10 a training image.
        assert_eq!(budget.final_images(&spent, 10, 100, || unreachable!()), 130);
        assert_eq!(
            budget.planned_final_images(10, 100, || unreachable!()),
            Some(80)
        );
        // A budget of trials: the final phase gets share / (1 - share) of the trials' compute.
        let trials = Budget::new(Stop::Trials(3), 0.5).unwrap();
        assert_eq!(trials.final_images(&spent, 10, 0, || unreachable!()), 200);
        assert_eq!(trials.planned_final_images(10, 0, || unreachable!()), None);
        // A time budget converts seconds at the throughput it is given.
        let time = Budget::new(Stop::Seconds(100.0), 0.5).unwrap();
        let spent = Spent {
            seconds: 40.0,
            ..Spent::default()
        };
        assert_eq!(time.final_images(&spent, 10, 0, || 0.01), 200);
    }

    #[test]
    fn the_horizon_is_the_budget_in_compute() {
        let flops = Budget::new(Stop::Flops(5_000), 0.3).unwrap();
        assert_eq!(flops.horizon(7, || unreachable!()), Some(5_000));
        assert_eq!(flops.search_compute(5_000), 3_500);
        let images = Budget::new(Stop::Images(10), 0.3).unwrap();
        assert_eq!(images.horizon(7, || unreachable!()), Some(210));
        let time = Budget::new(Stop::Seconds(2.0), 0.3).unwrap();
        assert_eq!(time.horizon(7, || 0.5), Some(4));
        assert_eq!(
            Budget::new(Stop::Trials(2), 0.3)
                .unwrap()
                .horizon(7, || 0.5),
            None
        );
    }

    #[test]
    fn progress_is_counted_in_the_budget_s_unit() {
        let spent = Spent {
            trials: 3,
            images: 500,
            flops: 2_500_000_000,
            seconds: 12.7,
        };
        assert_eq!(Stop::Flops(7_000_000_000).length(), (7, "GFLOPs"));
        assert_eq!(Stop::Flops(1).position(&spent), 2);
        assert_eq!(Stop::Images(1).position(&spent), 500);
        assert_eq!(Stop::Trials(1).position(&spent), 3);
        assert_eq!(Stop::Seconds(59.5).length(), (60, "s"));
        assert_eq!(Stop::Seconds(1.0).position(&spent), 12);
    }
}
