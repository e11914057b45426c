//! The space of grown networks: the NAS-Bench-201 skeleton with each cell its own genotype, any
//! number of cells per stage and any width, within limits. Its moves are network morphisms, so that
//! a child can start from its parent's weights.

use rand::{Rng, RngExt};
use serde::{Deserialize, Serialize};

use crate::error::CoreError;
use crate::morphism::{CellAt, Morphism};
use crate::network::NetworkArch;
use crate::space::{SearchSpace, StaticCost};
use crate::spaces::nb201::{CELL_COUNT, Cell, CellKey, EDGE_COUNT, Nb201Space, Op};

/// Size limits of grown networks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// Most cells in one stage.
    pub max_cells: usize,
    /// Most channels in the first stage (C).
    pub max_channels: usize,
    /// Most trainable parameters.
    pub max_params: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_cells: 5,
            max_channels: 32,
            max_params: 2_000_000,
        }
    }
}

/// Networks grown from small ones by morphisms, for images of one shape and a number of classes.
#[derive(Debug, Clone)]
pub struct GrownSpace {
    pub limits: Limits,
    /// Width of a freshly sampled network.
    pub start_channels: usize,
    /// Channels a widening adds to the first stage.
    pub widen_step: usize,
    pub input_channels: usize,
    pub input_size: usize,
    pub classes: usize,
    cells: Nb201Space,
}

/// The canonical identity of a grown network: its width and each cell's canonical key.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct GrownKey {
    pub channels: usize,
    pub stages: Vec<Vec<CellKey>>,
}

impl GrownSpace {
    /// A space whose limits must admit the smallest network (one cell a stage at `start_channels`).
    pub fn new(
        limits: Limits,
        start_channels: usize,
        input_channels: usize,
        input_size: usize,
        classes: usize,
    ) -> Result<Self, CoreError> {
        let bad = |field: &str, reason: String| {
            Err(CoreError::InvalidSetting {
                field: field.into(),
                reason,
            })
        };
        if limits.max_cells == 0 {
            return bad("max_cells", "must be at least 1".into());
        }
        if start_channels == 0 || start_channels > limits.max_channels {
            return bad(
                "max_channels",
                format!("must be at least the start width {start_channels}"),
            );
        }
        let space = GrownSpace {
            limits,
            start_channels,
            widen_step: start_channels.div_ceil(2).max(1),
            input_channels,
            input_size,
            classes,
            cells: Nb201Space::default(),
        };
        // The largest one-cell-a-stage network must fit, or no sample could.
        let all_conv = Cell::new([Op::NorConv3x3; EDGE_COUNT]);
        let smallest = NetworkArch::uniform(all_conv, start_channels, 1, input_channels, classes);
        if smallest.params() > limits.max_params {
            return bad(
                "max_params",
                format!(
                    "{} cannot fit a network of one 3x3-conv cell a stage at width {start_channels} ({} parameters)",
                    limits.max_params,
                    smallest.params()
                ),
            );
        }
        Ok(space)
    }

    fn within_limits(&self, arch: &NetworkArch) -> bool {
        arch.channels <= self.limits.max_channels
            && arch.stages.iter().all(|s| s.len() <= self.limits.max_cells)
            && arch.params() <= self.limits.max_params
    }
}

impl SearchSpace for GrownSpace {
    type Genotype = NetworkArch;
    type Key = GrownKey;
    type Move = Morphism;

    fn name(&self) -> &str {
        "grown"
    }

    /// One cell a stage at the start width, each cell drawn uniformly among those that connect
    /// input to output.
    fn sample(&self, rng: &mut dyn Rng) -> NetworkArch {
        let mut draw = || loop {
            let cell = Cell::from_index(rng.random_range(0..CELL_COUNT));
            if cell.connects_input_to_output() {
                return cell;
            }
        };
        let stages = (0..crate::network::STAGES).map(|_| vec![draw()]).collect();
        NetworkArch {
            channels: self.start_channels,
            stages,
            input_channels: self.input_channels,
            classes: self.classes,
            heads: Vec::new(),
        }
    }

    /// Every morphism that applies, keeps the network within the limits and leaves every cell a
    /// path from input to output.
    fn moves(&self, arch: &NetworkArch) -> Vec<Morphism> {
        let mut moves = Vec::new();
        for (stage, cells) in arch.stages.iter().enumerate() {
            for (index, cell) in cells.iter().enumerate() {
                let at = CellAt { stage, index };
                for edge in 0..EDGE_COUNT {
                    match cell.op(edge) {
                        Op::None => {
                            moves.push(Morphism::AddConv {
                                at,
                                edge,
                                op: Op::NorConv1x1,
                            });
                            moves.push(Morphism::AddConv {
                                at,
                                edge,
                                op: Op::NorConv3x3,
                            });
                        }
                        Op::NorConv1x1 => moves.push(Morphism::GrowKernel { at, edge }),
                        _ => {}
                    }
                    for op in [Op::None, Op::SkipConnect, Op::AvgPool3x3] {
                        if op != cell.op(edge) && cell.with_op(edge, op).connects_input_to_output()
                        {
                            moves.push(Morphism::ReplaceOp { at, edge, op });
                        }
                    }
                }
            }
            for index in 0..=cells.len() {
                moves.push(Morphism::InsertResidualCell {
                    at: CellAt { stage, index },
                });
            }
        }
        moves.push(Morphism::Widen {
            channels: arch.channels + self.widen_step,
        });
        moves.retain(|m| m.apply(arch).is_ok_and(|child| self.within_limits(&child)));
        moves
    }

    fn preserves_function(&self, mv: &Morphism) -> bool {
        mv.preserves_function()
    }

    fn grow_within(
        &self,
        arch: &NetworkArch,
        depth: usize,
        fits: &dyn Fn(StaticCost) -> bool,
    ) -> Option<(Morphism, NetworkArch)> {
        let fitting = |mv: Morphism| {
            mv.apply(arch)
                .ok()
                .filter(|child| self.within_limits(child) && fits(self.cost(child)))
                .map(|child| (mv, child))
        };
        let at_width = |cells: usize, channels: usize| match cells {
            0 => Morphism::Widen { channels },
            cells => Morphism::Scale { cells, channels },
        };
        // Depth first: as many cells a stage as fit at the present width, then the widest width.
        let cells = (1..=depth)
            .rev()
            .find(|&cells| fitting(at_width(cells, arch.channels)).is_some())
            .unwrap_or(0);
        (arch.channels + 1..=self.limits.max_channels)
            .rev()
            .find_map(|channels| fitting(at_width(cells, channels)))
            .or_else(|| (cells > 0).then(|| fitting(at_width(cells, arch.channels)))?)
    }

    /// Down to 2 channels in the first stage: a network of one channel a stage is no candidate.
    fn narrow_within(
        &self,
        arch: &NetworkArch,
        fits: &dyn Fn(StaticCost) -> bool,
    ) -> Option<NetworkArch> {
        if fits(self.cost(arch)) {
            return None;
        }
        let narrowest = arch.channels.min(2);
        let narrowed = |channels| Morphism::Narrow { channels }.apply(arch).ok();
        (narrowest..arch.channels)
            .rev()
            .find_map(|channels| narrowed(channels).filter(|n| fits(self.cost(n))))
            .or_else(|| narrowed(narrowest))
    }

    /// Every edge whose removal leaves its cell a path from input to output, every cell of a
    /// stage that has more than one, and the network narrowed by one widening step.
    fn prunings(&self, arch: &NetworkArch) -> Vec<Morphism> {
        let mut moves = Vec::new();
        for (stage, cells) in arch.stages.iter().enumerate() {
            for (index, cell) in cells.iter().enumerate() {
                let at = CellAt { stage, index };
                for edge in 0..EDGE_COUNT {
                    if cell.op(edge) != Op::None
                        && cell.with_op(edge, Op::None).connects_input_to_output()
                    {
                        moves.push(Morphism::ReplaceOp {
                            at,
                            edge,
                            op: Op::None,
                        });
                    }
                }
                if cells.len() > 1 {
                    moves.push(Morphism::RemoveCell { at });
                }
            }
        }
        if arch.channels > self.widen_step {
            moves.push(Morphism::Narrow {
                channels: arch.channels - self.widen_step,
            });
        }
        moves
    }

    fn apply(&self, arch: &NetworkArch, mv: &Morphism) -> NetworkArch {
        mv.apply(arch).expect("a move of `moves` applies")
    }

    /// JSON: `{"channels": C, "stages": [[cell strings], ...], "input_channels": .., "classes": ..}`.
    fn encode(&self, arch: &NetworkArch) -> String {
        serde_json::to_string(arch).expect("an architecture serializes")
    }

    fn decode(&self, text: &str) -> Result<NetworkArch, CoreError> {
        let arch: NetworkArch =
            serde_json::from_str(text).map_err(|e| CoreError::InvalidSetting {
                field: "architecture".into(),
                reason: format!("line {}, column {}: {e}", e.line(), e.column()),
            })?;
        arch.validate()?;
        Ok(arch)
    }

    fn key(&self, arch: &NetworkArch) -> GrownKey {
        GrownKey {
            channels: arch.channels,
            stages: arch
                .stages
                .iter()
                .map(|s| s.iter().map(|c| self.cells.key(c)).collect())
                .collect(),
        }
    }

    fn is_degenerate(&self, arch: &NetworkArch) -> bool {
        arch.stages
            .iter()
            .flatten()
            .any(|c| !c.connects_input_to_output())
    }

    fn cost(&self, arch: &NetworkArch) -> StaticCost {
        arch.cost(self.input_size)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cell::DEFAULT_CELL;
    use crate::strategy::step_rng;

    fn space() -> GrownSpace {
        GrownSpace::new(
            Limits {
                max_cells: 2,
                max_channels: 12,
                max_params: 200_000,
            },
            8,
            1,
            28,
            10,
        )
        .unwrap()
    }

    #[test]
    fn moves_stay_within_the_limits_and_never_cut_the_only_path() {
        let space = space();
        let mut rng = step_rng(1, 0);
        let mut grown_to_the_limit = false;
        for _ in 0..20 {
            let mut arch = space.sample(&mut rng);
            for _ in 0..60 {
                let moves = space.moves(&arch);
                assert!(!moves.is_empty());
                for m in &moves {
                    let child = space.apply(&arch, m);
                    assert!(child.params() <= 200_000 && child.channels <= 12, "{m}");
                    assert!(child.stages.iter().all(|s| s.len() <= 2), "{m}");
                    assert!(!space.is_degenerate(&child), "{m} cut a cell's only path");
                }
                arch = space.apply(&arch, &moves[rng.random_range(0..moves.len())]);
                grown_to_the_limit |= arch.params() > 150_000;
            }
        }
        assert!(
            grown_to_the_limit,
            "the walks reach the parameter limit's neighbourhood"
        );
    }

    #[test]
    fn prunings_remove_without_cutting_the_only_path() {
        let space = space();
        let mut rng = step_rng(3, 0);
        let mut removed_a_cell = false;
        for _ in 0..50 {
            let mut arch = space.sample(&mut rng);
            for _ in 0..8 {
                let moves = space.moves(&arch);
                arch = space.apply(&arch, &moves[rng.random_range(0..moves.len())]);
            }
            for m in space.prunings(&arch) {
                assert!(m.removes(), "{m}");
                let child = space.apply(&arch, &m);
                assert!(!space.is_degenerate(&child), "{m} cut a cell's only path");
                assert!(child.stages.iter().all(|s| !s.is_empty()), "{m}");
                assert!(child.params() <= arch.params(), "{m}");
                removed_a_cell |= matches!(m, Morphism::RemoveCell { .. });
            }
        }
        assert!(removed_a_cell);
        // A cell whose only path is one edge offers no pruning of that edge.
        let single: Cell = "|nor_conv_3x3~0|+|none~0|none~1|+|none~0|none~1|skip_connect~2|"
            .parse()
            .unwrap();
        // Start width 8: a widening step of 4, so a width of 8 narrows to 4 and one of 4 not.
        let arch = NetworkArch::uniform(single, 8, 1, 1, 10);
        assert_eq!(
            space.prunings(&arch),
            vec![Morphism::Narrow { channels: 4 }]
        );
        let arch = NetworkArch::uniform(single, 4, 1, 1, 10);
        assert!(space.prunings(&arch).is_empty());
    }

    #[test]
    fn a_planned_growth_adds_depth_first_then_width_within_its_cost() {
        let space = GrownSpace::new(Limits::default(), 8, 1, 28, 10).unwrap();
        let cell: Cell = "|nor_conv_3x3~0|+|none~0|none~1|+|skip_connect~0|none~1|none~2|"
            .parse()
            .unwrap();
        let arch = NetworkArch::uniform(cell, 8, 1, 1, 10);
        let params = |a: &NetworkArch| space.cost(a).params;
        let within = |limit: u64| move |cost: StaticCost| cost.params <= limit;
        // Without depth: the widest width that fits.
        let wide = Morphism::Widen { channels: 12 }.apply(&arch).unwrap();
        let (mv, child) = space.grow_within(&arch, 0, &within(params(&wide))).unwrap();
        assert_eq!((mv, child), (Morphism::Widen { channels: 12 }, wide));
        // With depth: the cells first (two fit, three would not), then the width left.
        let two = |channels| Morphism::Scale { cells: 2, channels };
        let deep = two(9).apply(&arch).unwrap();
        assert!(
            params(
                &Morphism::Scale {
                    cells: 3,
                    channels: 8
                }
                .apply(&arch)
                .unwrap()
            ) > params(&deep)
        );
        let (mv, child) = space.grow_within(&arch, 3, &within(params(&deep))).unwrap();
        assert_eq!((mv, child), (two(9), deep));
        // Depth at the same width when no wider network fits; nothing when nothing larger fits.
        let same = two(8).apply(&arch).unwrap();
        let (mv, _) = space.grow_within(&arch, 2, &within(params(&same))).unwrap();
        assert_eq!(mv, two(8));
        assert!(
            space
                .grow_within(&arch, 2, &within(params(&arch)))
                .is_none()
        );
    }

    #[test]
    fn a_planned_start_narrows_to_the_widest_width_within_its_cost_and_no_further_than_2() {
        let space = GrownSpace::new(Limits::default(), 8, 1, 28, 10).unwrap();
        let arch = NetworkArch::uniform(DEFAULT_CELL.parse().unwrap(), 8, 1, 1, 10);
        let flops = |a: &NetworkArch| space.cost(a).flops;
        let within = |limit: u64| move |cost: StaticCost| cost.flops <= limit;
        let five = Morphism::Narrow { channels: 5 }.apply(&arch).unwrap();
        assert_eq!(
            space.narrow_within(&arch, &within(flops(&five))),
            Some(five.clone())
        );
        // A network that fits is not narrowed, and nothing is narrower than 2 channels.
        assert_eq!(space.narrow_within(&arch, &within(flops(&arch))), None);
        let two = space.narrow_within(&arch, &within(0)).unwrap();
        assert_eq!(two, Morphism::Narrow { channels: 2 }.apply(&arch).unwrap());
        assert_eq!(space.narrow_within(&two, &within(0)), None);
    }

    #[test]
    fn text_form_round_trips_and_keys_identify_isomorphic_networks() {
        let space = space();
        let arch = space.sample(&mut step_rng(2, 0));
        assert_eq!(space.decode(&space.encode(&arch)).unwrap(), arch);
        assert!(
            space
                .decode(r#"{"channels": 8"#)
                .unwrap_err()
                .to_string()
                .contains("line 1")
        );
        // Two cells that are one function under the benchmark's canonical form.
        let a: Cell = "|nor_conv_3x3~0|+|none~0|none~1|+|skip_connect~0|none~1|none~2|"
            .parse()
            .unwrap();
        let b: Cell = "|nor_conv_3x3~0|+|none~0|avg_pool_3x3~1|+|skip_connect~0|none~1|none~2|"
            .parse()
            .unwrap();
        assert_eq!(a.unique_string(), b.unique_string());
        let with = |c: Cell| NetworkArch {
            stages: vec![vec![c]; 3],
            ..arch.clone()
        };
        assert_eq!(space.key(&with(a)), space.key(&with(b)));
    }

    #[test]
    fn impossible_limits_name_the_field() {
        let err = |l: Limits| GrownSpace::new(l, 8, 1, 28, 10).unwrap_err().to_string();
        assert!(
            err(Limits {
                max_cells: 0,
                ..Limits::default()
            })
            .contains("max_cells")
        );
        assert!(
            err(Limits {
                max_channels: 4,
                ..Limits::default()
            })
            .contains("max_channels")
        );
        assert!(
            err(Limits {
                max_params: 1000,
                ..Limits::default()
            })
            .contains("max_params")
        );
    }
}
