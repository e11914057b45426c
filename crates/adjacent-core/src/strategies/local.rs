//! Local search as in White, Nolen, Savani 2020 ("Local search is state of the art for NAS
//! benchmarks"): hill climbing by best neighbour, restarting at a local optimum.

use std::collections::{HashMap, VecDeque};

use rand::seq::SliceRandom;

use crate::error::CoreError;
use crate::space::{ProposalOf, SearchSpace, TrialOf};
use crate::strategy::{SeenKeys, Strategy, sample_unseen, step_rng};
use crate::trial::{Mutation, Proposal, TrialId};

/// Local search: start from a random genotype, evaluate all its neighbours (in random order), move to
/// the best neighbour if it beats the current genotype, otherwise restart from a new random
/// genotype. A neighbour whose canonical cell was already evaluated is not queried again: its known
/// accuracy is used.
pub struct LocalSearch<S: SearchSpace> {
    seed: u64,
    step: u64,
    seen: SeenKeys<S::Key>,
    /// Validation accuracy and trial of every evaluated canonical cell.
    known: HashMap<S::Key, (f64, TrialId, S::Genotype)>,
    /// The hill-climbing position: trial, genotype, accuracy.
    current: Option<(TrialId, S::Genotype, f64)>,
    /// Neighbours of `current` still to be queried, with their moves.
    queue: VecDeque<(S::Move, S::Genotype)>,
    /// Keys of all neighbours of `current` (queried now or known before).
    neighbourhood: Vec<S::Key>,
}

impl<S: SearchSpace> LocalSearch<S> {
    pub fn new(seed: u64) -> Self {
        LocalSearch {
            seed,
            step: 0,
            seen: SeenKeys::default(),
            known: HashMap::new(),
            current: None,
            queue: VecDeque::new(),
            neighbourhood: Vec::new(),
        }
    }

    /// Makes `(id, genotype, acc)` the current position and queues its unseen neighbours.
    fn move_to(&mut self, space: &S, id: TrialId, genotype: S::Genotype, acc: f64) {
        let mut rng = step_rng(self.seed ^ 0x10CA_1000, id.0);
        let mut neighbours = space.neighbours(&genotype);
        neighbours.shuffle(&mut rng);
        self.neighbourhood = neighbours.iter().map(|(_, g)| space.key(g)).collect();
        let mut queued = SeenKeys::default();
        self.queue = neighbours
            .into_iter()
            .filter(|(_, g)| {
                let k = space.key(g);
                !self.seen.contains(&k) && queued.insert(k)
            })
            .collect();
        self.current = Some((id, genotype, acc));
    }

    /// The best evaluated neighbour of the current position.
    fn best_neighbour(&self) -> Option<(f64, TrialId, S::Genotype)> {
        self.neighbourhood
            .iter()
            .filter_map(|k| self.known.get(k))
            .fold(
                None,
                |best: Option<&(f64, TrialId, S::Genotype)>, n| match best {
                    Some(b) if b.0 >= n.0 => Some(b),
                    _ => Some(n),
                },
            )
            .cloned()
    }
}

impl<S: SearchSpace> Strategy<S> for LocalSearch<S> {
    fn name(&self) -> &'static str {
        "local"
    }

    fn ask(&mut self, space: &S) -> Result<ProposalOf<S>, CoreError> {
        let mut rng = step_rng(self.seed, self.step);
        self.step += 1;
        loop {
            if let Some((id, _, _)) = &self.current {
                let id = *id;
                while let Some((mv, g)) = self.queue.pop_front() {
                    if self.seen.insert(space.key(&g)) {
                        return Ok(Proposal::child(g, id, Mutation::Move(mv)));
                    }
                }
                // Every neighbour is known: climb, or restart at a local optimum.
                let here = self.current.take().expect("current is set");
                match self.best_neighbour() {
                    Some((acc, id, g)) if acc > here.2 => self.move_to(space, id, g, acc),
                    _ => self.neighbourhood.clear(),
                }
                continue;
            }
            let g = sample_unseen(space, &self.seen, false, &mut rng).ok_or_else(|| {
                CoreError::Exhausted {
                    strategy: "local".into(),
                }
            })?;
            self.seen.insert(space.key(&g));
            return Ok(Proposal::fresh(g));
        }
    }

    fn tell(&mut self, space: &S, trial: &TrialOf<S>) {
        self.step = self.step.max(trial.id.0 + 1);
        let key = space.key(&trial.genotype);
        self.seen.insert(key.clone());
        let acc = trial.valid_acc();
        if let Some(acc) = acc {
            self.known
                .entry(key)
                .or_insert((acc, trial.id, trial.genotype.clone()));
        }
        // A trial without a parent is a (re)start; one that failed is replaced by another random
        // start at the next ask.
        if let (None, Some(acc)) = (trial.parent, acc) {
            self.move_to(space, trial.id, trial.genotype.clone(), acc);
        }
    }
}
