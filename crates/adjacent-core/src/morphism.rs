//! Network morphisms: small changes to a [`NetworkArch`], each with the weight transfer that lets
//! the child start where its parent ended (Net2Net, NASH). Which changes preserve the function is
//! decided here, on the genotype; `adjacent-nn` carries the weights.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::cell::{Cell, EDGE_COUNT, Op};
use crate::error::CoreError;
use crate::network::NetworkArch;

/// Where a cell sits: its stage and its index within the stage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct CellAt {
    pub stage: usize,
    pub index: usize,
}

/// One small change to a network.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Morphism {
    /// A `none` edge becomes a convolution whose output starts at zero (its batch-norm scale is 0).
    AddConv { at: CellAt, edge: usize, op: Op },
    /// A `nor_conv_1x1` edge becomes `nor_conv_3x3`, the 1x1 kernel embedded in the centre.
    GrowKernel { at: CellAt, edge: usize },
    /// A cell that computes the identity (`skip_connect` from input to output, `none` elsewhere) is
    /// inserted before `at`.
    InsertIdentityCell { at: CellAt },
    /// A residual cell (`skip_connect` from input to output beside two 3x3 convolutions in a row,
    /// `residual_cell()`) is inserted before `at`; the second convolution's batch-norm scale starts
    /// at 0, so that the cell starts as the identity (a ResNet block with its last scale zeroed).
    InsertResidualCell { at: CellAt },
    /// Every stage grows wider: the first stage's width becomes `channels` (and the others double
    /// it, as always). Existing units keep their weights; each new unit is a fresh one (random
    /// incoming weights from the old units) that nothing reads yet (zero outgoing weights), so
    /// the function is kept exactly and the new units learn features of their own (GradMax-style
    /// growth; Net2WiderNet's copies of old units stayed too alike to add capacity: measured).
    Widen { channels: usize },
    /// Every stage grows narrower: the first stage's width becomes `channels` (the others double
    /// it). Units are merged, the closest pair first, and a merged unit's outgoing weights are
    /// added to the one that stays (Net2Net in reverse): a unit that nothing reads (as after a
    /// widening) or that copies another goes without changing the function, the others
    /// approximately. Consolidation at
    /// the scale of the whole network: at small budgets the better network is cheaper.
    Narrow { channels: usize },
    /// The network grows in depth and width at once: every stage gains `cells` residual cells at
    /// its end (each starting as the identity, as in [`Morphism::InsertResidualCell`]), then the
    /// first stage's width becomes `channels` (as in [`Morphism::Widen`]; the same
    /// width keeps it). What a planned growth grows to, in one step of the schedule.
    Scale { cells: usize, channels: usize },
    /// An edge's operation is replaced by one that cannot preserve the function (a pool, a skip, or
    /// `none`, which removes the edge); every weight that still fits is kept.
    ReplaceOp { at: CellAt, edge: usize, op: Op },
    /// The cell at `at` is removed (its stage keeps at least one cell); the others keep their
    /// weights. Consolidation uses it to forget a cell the network no longer needs.
    RemoveCell { at: CellAt },
}

/// The cell that computes its input unchanged.
pub fn identity_cell() -> Cell {
    let mut ops = [Op::None; EDGE_COUNT];
    ops[3] = Op::SkipConnect; // edge 0 -> 3
    Cell::new(ops)
}

/// The cell of [`Morphism::InsertResidualCell`]: input -> conv -> conv -> output beside a skip from
/// input to output.
pub fn residual_cell() -> Cell {
    let mut ops = [Op::None; EDGE_COUNT];
    ops[0] = Op::NorConv3x3; // edge 0 -> 1
    ops[3] = Op::SkipConnect; // edge 0 -> 3
    ops[4] = Op::NorConv3x3; // edge 1 -> 3
    Cell::new(ops)
}

/// The edge of the residual cell whose convolution starts silenced.
pub const RESIDUAL_OUTPUT_EDGE: usize = 4;

fn is_conv(op: Op) -> bool {
    matches!(op, Op::NorConv1x1 | Op::NorConv3x3)
}

impl Morphism {
    /// True when the child computes exactly the parent's function at its start.
    pub fn preserves_function(&self) -> bool {
        !matches!(
            self,
            Morphism::ReplaceOp { .. } | Morphism::RemoveCell { .. } | Morphism::Narrow { .. }
        )
    }

    /// True when the morphism removes a part of the network (an edge or a cell): the moves of
    /// consolidation.
    pub fn removes(&self) -> bool {
        matches!(
            self,
            Morphism::ReplaceOp { op: Op::None, .. }
                | Morphism::RemoveCell { .. }
                | Morphism::Narrow { .. }
        )
    }

    /// The child architecture, or why the morphism does not apply to `parent`.
    pub fn apply(&self, parent: &NetworkArch) -> Result<NetworkArch, CoreError> {
        let bad = |reason: String| CoreError::InvalidSetting {
            field: "morphism".into(),
            reason,
        };
        let cell_at = |at: CellAt| -> Result<Cell, CoreError> {
            parent
                .stages
                .get(at.stage)
                .and_then(|s| s.get(at.index))
                .copied()
                .ok_or_else(|| bad(format!("no cell {} in stage {}", at.index, at.stage)))
        };
        let check_edge = |edge: usize| {
            if edge < EDGE_COUNT {
                Ok(())
            } else {
                Err(bad(format!("edge {edge} out of 0..{EDGE_COUNT}")))
            }
        };
        let mut child = parent.clone();
        match *self {
            Morphism::AddConv { at, edge, op } => {
                check_edge(edge)?;
                let cell = cell_at(at)?;
                if cell.op(edge) != Op::None || !is_conv(op) {
                    return Err(bad(format!(
                        "AddConv turns a none edge into a conv; edge {edge} is {}, target {op}",
                        cell.op(edge)
                    )));
                }
                child.stages[at.stage][at.index] = cell.with_op(edge, op);
            }
            Morphism::GrowKernel { at, edge } => {
                check_edge(edge)?;
                let cell = cell_at(at)?;
                if cell.op(edge) != Op::NorConv1x1 {
                    return Err(bad(format!(
                        "GrowKernel needs a nor_conv_1x1 edge; edge {edge} is {}",
                        cell.op(edge)
                    )));
                }
                child.stages[at.stage][at.index] = cell.with_op(edge, Op::NorConv3x3);
            }
            Morphism::InsertIdentityCell { at } | Morphism::InsertResidualCell { at } => {
                let stage = child
                    .stages
                    .get_mut(at.stage)
                    .ok_or_else(|| bad(format!("no stage {}", at.stage)))?;
                if at.index > stage.len() {
                    return Err(bad(format!(
                        "stage {} has {} cells; cannot insert at {}",
                        at.stage,
                        stage.len(),
                        at.index
                    )));
                }
                let cell = match self {
                    Morphism::InsertIdentityCell { .. } => identity_cell(),
                    _ => residual_cell(),
                };
                stage.insert(at.index, cell);
            }
            Morphism::Widen { channels } => {
                if channels <= parent.channels {
                    return Err(bad(format!(
                        "Widen grows the width; {channels} is not above {}",
                        parent.channels
                    )));
                }
                child.channels = channels;
            }
            Morphism::Scale { cells, channels } => {
                if cells == 0 || channels < parent.channels {
                    return Err(bad(format!(
                        "Scale adds at least one cell a stage and keeps or grows the width; \
                         {cells} cells and {channels} channels (from {})",
                        parent.channels
                    )));
                }
                for stage in &mut child.stages {
                    stage.extend(std::iter::repeat_n(residual_cell(), cells));
                }
                child.channels = channels;
            }
            Morphism::Narrow { channels } => {
                if channels == 0 || channels >= parent.channels {
                    return Err(bad(format!(
                        "Narrow shrinks the width to at least 1; {channels} is not in 1..{}",
                        parent.channels
                    )));
                }
                child.channels = channels;
            }
            Morphism::ReplaceOp { at, edge, op } => {
                check_edge(edge)?;
                let cell = cell_at(at)?;
                if cell.op(edge) == op || is_conv(op) {
                    return Err(bad(format!(
                        "ReplaceOp turns edge {edge} ({}) into a pool, skip or none, not {op}",
                        cell.op(edge)
                    )));
                }
                child.stages[at.stage][at.index] = cell.with_op(edge, op);
            }
            Morphism::RemoveCell { at } => {
                cell_at(at)?;
                let stage = &mut child.stages[at.stage];
                if stage.len() < 2 {
                    return Err(bad(format!(
                        "stage {} has only one cell; removing it would leave the stage empty",
                        at.stage
                    )));
                }
                stage.remove(at.index);
            }
        }
        Ok(child)
    }
}

impl fmt::Display for Morphism {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let cell = |at: &CellAt| format!("stage {} cell {}", at.stage, at.index);
        match self {
            Morphism::AddConv { at, edge, op } => {
                write!(f, "{}: edge {edge} none -> {op}", cell(at))
            }
            Morphism::GrowKernel { at, edge } => {
                write!(f, "{}: edge {edge} nor_conv_1x1 -> nor_conv_3x3", cell(at))
            }
            Morphism::InsertIdentityCell { at } => {
                write!(f, "{}: insert an identity cell", cell(at))
            }
            Morphism::InsertResidualCell { at } => {
                write!(f, "{}: insert a residual cell", cell(at))
            }
            Morphism::Widen { channels } => write!(f, "widen to {channels} channels"),
            Morphism::Narrow { channels } => write!(f, "narrow to {channels} channels"),
            Morphism::Scale { cells, channels } => write!(
                f,
                "{cells} residual cell(s) a stage, width {channels} channels"
            ),
            Morphism::ReplaceOp { at, edge, op } => write!(f, "{}: edge {edge} -> {op}", cell(at)),
            Morphism::RemoveCell { at } => write!(f, "{}: remove the cell", cell(at)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn arch() -> NetworkArch {
        let cell: Cell =
            "|nor_conv_1x1~0|+|none~0|nor_conv_3x3~1|+|skip_connect~0|none~1|avg_pool_3x3~2|"
                .parse()
                .unwrap();
        NetworkArch::uniform(cell, 4, 1, 3, 10)
    }

    #[test]
    fn morphisms_change_exactly_what_they_say() {
        let parent = arch();
        let at = CellAt { stage: 1, index: 0 };
        let child = Morphism::AddConv {
            at,
            edge: 1,
            op: Op::NorConv3x3,
        }
        .apply(&parent)
        .unwrap();
        assert_eq!(child.stages[1][0].op(1), Op::NorConv3x3);
        assert_eq!(child.stages[0], parent.stages[0]);
        let child = Morphism::GrowKernel { at, edge: 0 }.apply(&parent).unwrap();
        assert_eq!(child.stages[1][0].op(0), Op::NorConv3x3);
        let child = Morphism::InsertIdentityCell {
            at: CellAt { stage: 2, index: 1 },
        }
        .apply(&parent)
        .unwrap();
        assert_eq!(child.stages[2], vec![parent.stages[2][0], identity_cell()]);
        let child = Morphism::InsertResidualCell {
            at: CellAt { stage: 0, index: 0 },
        }
        .apply(&parent)
        .unwrap();
        assert_eq!(child.stages[0], vec![residual_cell(), parent.stages[0][0]]);
        assert!(residual_cell().connects_input_to_output());
        assert_eq!(residual_cell().op(RESIDUAL_OUTPUT_EDGE), Op::NorConv3x3);
        assert!(identity_cell().connects_input_to_output());
        let child = Morphism::ReplaceOp {
            at,
            edge: 2,
            op: Op::AvgPool3x3,
        }
        .apply(&parent)
        .unwrap();
        assert_eq!(child.stages[1][0].op(2), Op::AvgPool3x3);
    }

    #[test]
    fn morphisms_that_do_not_apply_say_why() {
        let parent = arch();
        let at = CellAt { stage: 0, index: 0 };
        let err = |m: Morphism| m.apply(&parent).unwrap_err().to_string();
        assert!(
            err(Morphism::AddConv {
                at,
                edge: 0,
                op: Op::NorConv3x3
            })
            .contains("edge 0 is nor_conv_1x1")
        );
        assert!(
            err(Morphism::AddConv {
                at,
                edge: 1,
                op: Op::AvgPool3x3
            })
            .contains("target avg_pool_3x3")
        );
        assert!(err(Morphism::GrowKernel { at, edge: 2 }).contains("needs a nor_conv_1x1 edge"));
        assert!(
            err(Morphism::GrowKernel {
                at: CellAt { stage: 0, index: 3 },
                edge: 0
            })
            .contains("no cell 3 in stage 0")
        );
        assert!(
            err(Morphism::InsertIdentityCell {
                at: CellAt { stage: 5, index: 0 }
            })
            .contains("no stage 5")
        );
        assert!(
            err(Morphism::ReplaceOp {
                at,
                edge: 0,
                op: Op::NorConv3x3
            })
            .contains("not nor_conv_3x3")
        );
        assert!(
            err(Morphism::ReplaceOp {
                at,
                edge: 9,
                op: Op::None
            })
            .contains("edge 9 out of")
        );
        assert!(
            err(Morphism::RemoveCell {
                at: CellAt { stage: 1, index: 0 }
            })
            .contains("only one cell")
        );
        let two = Morphism::InsertIdentityCell { at }.apply(&parent).unwrap();
        let back = Morphism::RemoveCell { at }.apply(&two).unwrap();
        assert_eq!(back, parent);
        assert!(Morphism::RemoveCell { at }.removes());
        assert!(!Morphism::RemoveCell { at }.preserves_function());
        assert!(err(Morphism::Narrow { channels: 4 }).contains("not in 1..4"));
        assert!(err(Morphism::Narrow { channels: 0 }).contains("not in 1..4"));
        let narrow = Morphism::Narrow { channels: 3 };
        assert_eq!(narrow.apply(&parent).unwrap().channels, 3);
        assert!(narrow.removes() && !narrow.preserves_function());
        let wide = Morphism::Widen { channels: 6 }.apply(&parent).unwrap();
        let back = Morphism::Narrow { channels: 4 }.apply(&wide).unwrap();
        assert_eq!(back, parent);
    }

    #[test]
    fn scaling_appends_residual_cells_to_every_stage_and_widens() {
        let parent = arch();
        let scale = Morphism::Scale {
            cells: 2,
            channels: 6,
        };
        let child = scale.apply(&parent).unwrap();
        assert_eq!(child.channels, 6);
        for (old, new) in parent.stages.iter().zip(&child.stages) {
            assert_eq!(new.len(), old.len() + 2);
            assert_eq!(new[..old.len()], old[..]);
            assert!(new[old.len()..].iter().all(|c| *c == residual_cell()));
        }
        assert!(scale.preserves_function() && !scale.removes());
        let same_width = Morphism::Scale {
            cells: 1,
            channels: 4,
        };
        assert_eq!(same_width.apply(&parent).unwrap().channels, 4);
        let err = |m: Morphism| m.apply(&parent).unwrap_err().to_string();
        assert!(
            err(Morphism::Scale {
                cells: 0,
                channels: 8
            })
            .contains("0 cells and 8 channels (from 4)")
        );
        assert!(
            err(Morphism::Scale {
                cells: 1,
                channels: 3
            })
            .contains("1 cells and 3 channels")
        );
    }
}
