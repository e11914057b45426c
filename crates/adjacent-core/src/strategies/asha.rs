//! Asynchronous successive halving (ASHA, Li et al. 2020) over random networks: every network
//! starts at the lowest rung with a small training budget; whenever the top `1/eta` of a rung holds
//! a network not yet promoted, it is promoted to the next rung, where it trains `eta` times as long
//! in all, continuing its own weights; otherwise a new random network starts at the lowest rung.

use crate::error::CoreError;
use crate::space::{ProposalOf, SearchSpace, TrialOf};
use crate::strategy::{SeenKeys, Strategy, sample_unseen, step_rng};
use crate::trial::{Mutation, Proposal, TrialId};

/// Settings of ASHA.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AshaConfig {
    /// Training of a network at the lowest rung, in epochs of the training set.
    pub min_epochs: f64,
    /// Reduction factor: a rung promotes its top `1/eta`, and each rung trains `eta` times as long
    /// in all as the one below.
    pub eta: usize,
    /// Number of rungs; networks at the top rung are not promoted further.
    pub rungs: usize,
}

impl Default for AshaConfig {
    fn default() -> Self {
        AshaConfig {
            min_epochs: 1.0 / 3.0,
            eta: 3,
            rungs: 4,
        }
    }
}

impl AshaConfig {
    /// Checks every field, naming the one out of range.
    pub fn validate(&self) -> Result<(), CoreError> {
        let bad = |field: &str, reason: &str| {
            Err(CoreError::InvalidSetting {
                field: field.into(),
                reason: reason.into(),
            })
        };
        if !(self.min_epochs > 0.0 && self.min_epochs.is_finite()) {
            return bad("min_epochs", "must be a positive number");
        }
        if self.eta < 2 {
            return bad("eta", "must be at least 2");
        }
        if self.rungs == 0 || self.rungs > 12 {
            return bad("rungs", "must be between 1 and 12");
        }
        Ok(())
    }
}

/// A network that completed a rung.
#[derive(Debug, Clone)]
struct Entry {
    /// The trial that completed the rung (whose weights a promotion continues).
    trial: TrialId,
    acc: f64,
    promoted: bool,
}

/// ASHA; see the module documentation.
pub struct Asha<S: SearchSpace> {
    seed: u64,
    step: u64,
    config: AshaConfig,
    /// Training images of one epoch, to turn the settings into image budgets.
    epoch_images: u64,
    /// Per rung, the networks that completed it.
    rungs: Vec<Vec<Entry>>,
    /// Each asked trial's genotype and rung, until it is told.
    asked: std::collections::HashMap<TrialId, (S::Genotype, usize)>,
    /// Genotypes of completed trials, by trial, so that a promotion knows what it continues.
    genotypes: std::collections::HashMap<TrialId, S::Genotype>,
    seen: SeenKeys<S::Key>,
}

impl<S: SearchSpace> Asha<S> {
    /// ASHA whose rung budgets are counted in epochs of `epoch_images` training images.
    pub fn new(seed: u64, config: AshaConfig, epoch_images: usize) -> Result<Self, CoreError> {
        config.validate()?;
        if epoch_images == 0 {
            return Err(CoreError::InvalidSetting {
                field: "epoch_images".into(),
                reason: "must be at least 1".into(),
            });
        }
        Ok(Asha {
            seed,
            step: 0,
            config,
            epoch_images: epoch_images as u64,
            rungs: vec![Vec::new(); config.rungs],
            asked: Default::default(),
            genotypes: Default::default(),
            seen: SeenKeys::default(),
        })
    }

    /// Training images a network has had in all once it completes `rung`.
    pub fn rung_images(&self, rung: usize) -> u64 {
        let epochs = self.config.min_epochs * (self.config.eta as f64).powi(rung as i32);
        ((epochs * self.epoch_images as f64).round() as u64).max(1)
    }

    /// The completed trials of each rung, best first.
    pub fn ladder(&self) -> Vec<Vec<(TrialId, f64)>> {
        self.rungs
            .iter()
            .map(|r| {
                let mut v: Vec<(TrialId, f64)> = r.iter().map(|e| (e.trial, e.acc)).collect();
                v.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
                v
            })
            .collect()
    }

    /// The best not-yet-promoted entry among the top `1/eta` of `rung`, if any.
    fn promotable(&self, rung: usize) -> Option<usize> {
        let entries = &self.rungs[rung];
        let top = entries.len() / self.config.eta;
        let mut order: Vec<usize> = (0..entries.len()).collect();
        order.sort_by(|&a, &b| {
            entries[b]
                .acc
                .total_cmp(&entries[a].acc)
                .then(entries[a].trial.cmp(&entries[b].trial))
        });
        order.into_iter().take(top).find(|&i| !entries[i].promoted)
    }
}

impl<S: SearchSpace> Strategy<S> for Asha<S> {
    fn name(&self) -> &'static str {
        "asha"
    }

    fn ask(&mut self, space: &S) -> Result<ProposalOf<S>, CoreError> {
        let id = TrialId(self.step);
        let mut rng = step_rng(self.seed, self.step);
        self.step += 1;
        for rung in (0..self.config.rungs - 1).rev() {
            if let Some(i) = self.promotable(rung) {
                let entry = &mut self.rungs[rung][i];
                entry.promoted = true;
                let parent = entry.trial;
                let genotype = self.genotypes[&parent].clone();
                self.asked.insert(id, (genotype.clone(), rung + 1));
                let images = self.rung_images(rung + 1) - self.rung_images(rung);
                return Ok(Proposal::child(genotype, parent, Mutation::Continue)
                    .inheriting()
                    .with_images(images));
            }
        }
        let genotype = sample_unseen(space, &self.seen, true, &mut rng).ok_or_else(|| {
            CoreError::Exhausted {
                strategy: "asha".into(),
            }
        })?;
        self.seen.insert(space.key(&genotype));
        self.asked.insert(id, (genotype.clone(), 0));
        Ok(Proposal::fresh(genotype).with_images(self.rung_images(0)))
    }

    fn tell(&mut self, space: &S, trial: &TrialOf<S>) {
        self.step = self.step.max(trial.id.0 + 1);
        self.seen.insert(space.key(&trial.genotype));
        let rung = match self.asked.remove(&trial.id) {
            Some((_, rung)) => rung,
            None => 0,
        };
        if let Some(acc) = trial.valid_acc() {
            self.genotypes.insert(trial.id, trial.genotype.clone());
            self.rungs[rung].push(Entry {
                trial: trial.id,
                acc,
                promoted: false,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spaces::nb201::Nb201Space;
    use crate::trial::{Outcome, Trial};

    /// Runs ASHA on the NB201 cell space with a deterministic score per cell plus the training it
    /// had, so that promotions are checkable.
    #[test]
    fn promotes_the_top_third_of_each_rung_and_continues_its_weights() {
        let space = Nb201Space::default();
        let config = AshaConfig {
            min_epochs: 1.0,
            eta: 3,
            rungs: 3,
        };
        let mut asha = Asha::<Nb201Space>::new(4, config, 100).unwrap();
        assert_eq!([0, 1, 2].map(|r| asha.rung_images(r)), [100, 300, 900]);
        let mut trials: Vec<(ProposalOf<Nb201Space>, f64)> = Vec::new();
        for id in 0..40u64 {
            let p = asha.ask(&space).unwrap();
            let quality = (space.key(&p.genotype).0 as usize * 7 % 13) as f64;
            // Training more helps; a continued network adds its parent's training.
            let trained =
                p.budget.images.unwrap() as f64 + p.parent.map_or(0.0, |q| trials[q.0 as usize].1);
            let acc = quality + trained / 100.0;
            asha.tell(
                &space,
                &Trial::complete(
                    TrialId(id),
                    p.clone(),
                    Outcome {
                        valid_acc: Some(acc),
                        epochs: 1.0,
                        seconds: 1.0,
                        ..Outcome::default()
                    },
                ),
            );
            trials.push((p, trained));
        }
        let ladder = asha.ladder();
        assert!(ladder[2].len() >= 2, "{ladder:?}");
        for (rung, entries) in ladder.iter().enumerate().skip(1) {
            for &(id, _) in entries {
                let (p, trained) = &trials[id.0 as usize];
                let parent = p.parent.expect("a promotion continues a trial");
                assert!(p.inherit, "a promotion continues the same weights");
                assert_eq!(p.genotype, trials[parent.0 as usize].0.genotype);
                assert_eq!(*trained as u64, asha.rung_images(rung));
                // The parent was in the top third of its rung when it was promoted: among the
                // rung's entries told before this promotion was asked, at most a third beat it.
                let below = &ladder[rung - 1];
                let parent_acc = below.iter().find(|e| e.0 == parent).unwrap().1;
                let earlier: Vec<f64> = below.iter().filter(|e| e.0 < id).map(|e| e.1).collect();
                let better = earlier.iter().filter(|&&a| a > parent_acc).count();
                assert!(
                    better < earlier.len() / 3,
                    "trial {id} promoted {parent} with {better} better of {}",
                    earlier.len()
                );
            }
        }
        // Fresh networks never repeat.
        let fresh: Vec<_> = trials
            .iter()
            .filter(|t| t.0.parent.is_none())
            .map(|t| space.key(&t.0.genotype))
            .collect();
        let distinct: std::collections::HashSet<_> = fresh.iter().collect();
        assert_eq!(distinct.len(), fresh.len());
    }

    #[test]
    fn bad_settings_name_the_field() {
        let err = |c: AshaConfig| {
            Asha::<Nb201Space>::new(0, c, 100)
                .err()
                .unwrap()
                .to_string()
        };
        assert!(
            err(AshaConfig {
                eta: 1,
                ..Default::default()
            })
            .contains("eta")
        );
        assert!(
            err(AshaConfig {
                min_epochs: 0.0,
                ..Default::default()
            })
            .contains("min_epochs")
        );
    }
}
