//! The NAS-Bench-201 cell space (Dong and Yang, 2020): a cell is a DAG of 4 nodes whose 6 edges each
//! carry one of 5 operations, 5^6 = 15,625 cells in all.

use rand::{Rng, RngExt};

pub use crate::cell::{CELL_COUNT, Cell, CellKey, EDGE_COUNT, EDGES, EdgeChange, Op};
use crate::error::CoreError;
use crate::network::NetworkArch;
use crate::space::{SearchSpace, StaticCost};

/// The network a cell is placed in, for its static cost: the NAS-Bench-201 skeleton (stem conv,
/// three stages of `cells_per_stage` cells joined by residual reduction blocks, global pooling,
/// linear head).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Skeleton {
    pub channels: u64,
    pub cells_per_stage: u64,
    pub classes: u64,
    pub input_channels: u64,
    pub input_size: u64,
}

impl Default for Skeleton {
    /// The benchmark's network on CIFAR-10: C = 16, N = 5, 10 classes, 32x32x3 inputs.
    fn default() -> Self {
        Skeleton {
            channels: 16,
            cells_per_stage: 5,
            classes: 10,
            input_channels: 3,
            input_size: 32,
        }
    }
}

impl Skeleton {
    /// Parameters and multiply-adds of the skeleton filled with `cell` (see [`NetworkArch::cost`]).
    pub fn cost(&self, cell: &Cell) -> StaticCost {
        let count = |v: u64| v as usize;
        NetworkArch::uniform(
            *cell,
            count(self.channels),
            count(self.cells_per_stage),
            count(self.input_channels),
            count(self.classes),
        )
        .cost(count(self.input_size))
    }
}

/// The NAS-Bench-201 cell space, with each cell's canonical key precomputed.
#[derive(Debug, Clone)]
pub struct Nb201Space {
    keys: Vec<CellKey>,
    distinct: usize,
    skeleton: Skeleton,
}

impl Default for Nb201Space {
    fn default() -> Self {
        Nb201Space::new(Skeleton::default())
    }
}

impl Nb201Space {
    /// The space, with static costs computed for cells placed in `skeleton`.
    pub fn new(skeleton: Skeleton) -> Nb201Space {
        let mut first_of: std::collections::HashMap<String, u16> = Default::default();
        let keys: Vec<CellKey> = (0..CELL_COUNT)
            .map(|i| {
                let s = Cell::from_index(i).unique_string();
                CellKey(*first_of.entry(s).or_insert(i as u16))
            })
            .collect();
        Nb201Space {
            keys,
            distinct: first_of.len(),
            skeleton,
        }
    }

    /// All cells, in dense-index order.
    pub fn cells(&self) -> impl Iterator<Item = Cell> {
        (0..CELL_COUNT).map(Cell::from_index)
    }

    /// The skeleton that static costs are computed for.
    pub fn skeleton(&self) -> &Skeleton {
        &self.skeleton
    }
}

impl SearchSpace for Nb201Space {
    type Genotype = Cell;
    type Key = CellKey;
    type Move = EdgeChange;

    fn name(&self) -> &str {
        "nb201"
    }

    fn sample(&self, rng: &mut dyn Rng) -> Cell {
        Cell::from_index(rng.random_range(0..CELL_COUNT))
    }

    /// The 24 one-edge changes: each of the 6 edges to each of the 4 other operations.
    fn moves(&self, cell: &Cell) -> Vec<EdgeChange> {
        let mut moves = Vec::with_capacity(24);
        for edge in 0..EDGE_COUNT {
            for to in Op::ALL {
                if to != cell.op(edge) {
                    moves.push(EdgeChange {
                        edge,
                        from: cell.op(edge),
                        to,
                    });
                }
            }
        }
        moves
    }

    fn apply(&self, cell: &Cell, mv: &EdgeChange) -> Cell {
        debug_assert_eq!(cell.op(mv.edge), mv.from, "move {mv} does not apply");
        cell.with_op(mv.edge, mv.to)
    }

    fn encode(&self, cell: &Cell) -> String {
        cell.to_string()
    }

    fn decode(&self, text: &str) -> Result<Cell, CoreError> {
        text.parse()
    }

    fn key(&self, cell: &Cell) -> CellKey {
        self.keys[cell.index()]
    }

    /// A cell with no path from input to output computes zero, whatever its weights.
    fn is_degenerate(&self, cell: &Cell) -> bool {
        !cell.connects_input_to_output()
    }

    fn cost(&self, cell: &Cell) -> StaticCost {
        self.skeleton.cost(cell)
    }

    fn enumerate(&self) -> Option<Vec<Cell>> {
        Some(self.cells().collect())
    }

    fn distinct_keys(&self) -> Option<usize> {
        Some(self.distinct)
    }
}
