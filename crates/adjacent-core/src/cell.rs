//! A NAS-Bench-201 cell: a DAG of 4 nodes whose 6 edges each carry one of 5 operations. Its own
//! module, below both the cell space and the networks made of cells, so that neither imports the
//! other.

use std::fmt;
use std::str::FromStr;

use crate::error::CoreError;

/// The cell of the README, NAS-Bench-201's best on CIFAR-10: the network `fixed` trains when no
/// `--arch` is given, and the one `adjacent` starts from.
pub const DEFAULT_CELL: &str = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|";

/// An operation on one edge of a cell, in the benchmark's order.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[repr(u8)]
pub enum Op {
    /// The zero operation: the edge does not exist.
    #[serde(rename = "none")]
    None = 0,
    /// The identity.
    #[serde(rename = "skip_connect")]
    SkipConnect = 1,
    /// ReLU, 1x1 convolution, batch norm.
    #[serde(rename = "nor_conv_1x1")]
    NorConv1x1 = 2,
    /// ReLU, 3x3 convolution, batch norm.
    #[serde(rename = "nor_conv_3x3")]
    NorConv3x3 = 3,
    /// 3x3 average pooling, stride 1.
    #[serde(rename = "avg_pool_3x3")]
    AvgPool3x3 = 4,
}

impl Op {
    /// All operations in the benchmark's order.
    pub const ALL: [Op; 5] = [
        Op::None,
        Op::SkipConnect,
        Op::NorConv1x1,
        Op::NorConv3x3,
        Op::AvgPool3x3,
    ];

    /// The benchmark's name of the operation.
    pub fn name(self) -> &'static str {
        match self {
            Op::None => "none",
            Op::SkipConnect => "skip_connect",
            Op::NorConv1x1 => "nor_conv_1x1",
            Op::NorConv3x3 => "nor_conv_3x3",
            Op::AvgPool3x3 => "avg_pool_3x3",
        }
    }

    /// The operation with the benchmark's name `name`.
    pub fn from_name(name: &str) -> Option<Op> {
        Op::ALL.into_iter().find(|op| op.name() == name)
    }

    fn from_u8(i: u8) -> Op {
        Op::ALL[i as usize]
    }
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Number of edges in a cell.
pub const EDGE_COUNT: usize = 6;
/// Number of cells in the space.
pub const CELL_COUNT: usize = 15_625;

/// The edges of a cell as (from node, to node), in the order of the cell string: node 1's inputs,
/// then node 2's, then node 3's.
pub const EDGES: [(usize, usize); EDGE_COUNT] = [(0, 1), (0, 2), (1, 2), (0, 3), (1, 3), (2, 3)];

/// A NAS-Bench-201 cell: one operation per edge.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Cell {
    ops: [Op; EDGE_COUNT],
}

/// A cell is written as its cell string.
impl serde::Serialize for Cell {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Cell {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

impl Cell {
    /// A cell from its six operations, in the order of [`EDGES`].
    pub fn new(ops: [Op; EDGE_COUNT]) -> Cell {
        Cell { ops }
    }

    /// The operations, in the order of [`EDGES`].
    pub fn ops(&self) -> [Op; EDGE_COUNT] {
        self.ops
    }

    /// The operation on edge `edge`.
    pub fn op(&self, edge: usize) -> Op {
        self.ops[edge]
    }

    /// The same cell with edge `edge` carrying `op`.
    pub fn with_op(mut self, edge: usize, op: Op) -> Cell {
        self.ops[edge] = op;
        self
    }

    /// A dense index in `0..15625`: the operations read as a base-5 number, edge 0 first.
    /// (This is this crate's order, not the benchmark's official index.)
    pub fn index(&self) -> usize {
        self.ops.iter().fold(0, |acc, &op| acc * 5 + op as usize)
    }

    /// The cell with dense index `index` (see [`Cell::index`]).
    pub fn from_index(index: usize) -> Cell {
        assert!(index < CELL_COUNT, "cell index {index} out of range");
        let mut ops = [Op::None; EDGE_COUNT];
        let mut rest = index;
        for slot in ops.iter_mut().rev() {
            *slot = Op::from_u8((rest % 5) as u8);
            rest /= 5;
        }
        Cell { ops }
    }

    /// The benchmark's canonical form of the cell (NATS-Bench's `to_unique_str(consider_zero=True)`):
    /// the output written as a sum of paths from the input, `skip_connect` as the identity and `none`
    /// as `#`, terms sorted at every node. Isomorphic cells have one unique string.
    pub fn unique_string(&self) -> String {
        let mut nodes: Vec<String> = vec!["0".to_string()];
        for to in 1..4 {
            let mut terms: Vec<String> = EDGES
                .iter()
                .enumerate()
                .filter(|(_, (_, t))| *t == to)
                .map(|(e, &(from, _))| {
                    let input = &nodes[from];
                    match self.ops[e] {
                        Op::None => "#".to_string(),
                        _ if input == "#" => "#".to_string(),
                        Op::SkipConnect => input.clone(),
                        op => format!("({input})@{}", op.name()),
                    }
                })
                .collect();
            terms.sort();
            nodes.push(terms.join("+"));
        }
        nodes.pop().expect("four nodes")
    }

    /// True when some path of non-`none` edges leads from the input node to the output node.
    pub fn connects_input_to_output(&self) -> bool {
        let mut reached = [true, false, false, false];
        for (e, &(from, to)) in EDGES.iter().enumerate() {
            if self.ops[e] != Op::None && reached[from] {
                reached[to] = true;
            }
        }
        reached[3]
    }
}

impl fmt::Display for Cell {
    /// The benchmark's cell string, e.g. `|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|...|`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut e = 0;
        for to in 1..4 {
            if to > 1 {
                f.write_str("+")?;
            }
            f.write_str("|")?;
            for from in 0..to {
                write!(f, "{}~{}|", self.ops[e], from)?;
                e += 1;
            }
        }
        Ok(())
    }
}

impl FromStr for Cell {
    type Err = CoreError;

    /// Parses the benchmark's cell string exactly: three `+`-separated groups, node j's group listing
    /// `op~i` for every input node i < j in order.
    fn from_str(text: &str) -> Result<Cell, CoreError> {
        let invalid = |reason: String| CoreError::InvalidCell {
            input: text.to_string(),
            reason,
        };
        let groups: Vec<&str> = text.split('+').collect();
        if groups.len() != 3 {
            return Err(invalid(format!(
                "expected 3 node groups separated by '+', found {}",
                groups.len()
            )));
        }
        let mut ops = [Op::None; EDGE_COUNT];
        let mut e = 0;
        for (g, group) in groups.iter().enumerate() {
            let node = g + 1;
            let inner = group
                .strip_prefix('|')
                .and_then(|s| s.strip_suffix('|'))
                .ok_or_else(|| {
                    invalid(format!(
                        "node {node}'s group {group:?} must start and end with '|'"
                    ))
                })?;
            let tokens: Vec<&str> = inner.split('|').collect();
            if tokens.len() != node {
                return Err(invalid(format!(
                    "node {node} needs {node} input edge(s), found {}",
                    tokens.len()
                )));
            }
            for (from, token) in tokens.iter().enumerate() {
                let (name, input) = token.split_once('~').ok_or_else(|| {
                    invalid(format!("edge {token:?} is not of the form op~input"))
                })?;
                let op = Op::from_name(name).ok_or_else(|| {
                    invalid(format!(
                        "unknown operation {name:?}; valid operations: {}",
                        Op::ALL.map(Op::name).join(", ")
                    ))
                })?;
                if input != from.to_string() {
                    return Err(invalid(format!(
                        "node {node}'s edge {} must come from node {from}, found {input:?}",
                        from + 1
                    )));
                }
                ops[e] = op;
                e += 1;
            }
        }
        Ok(Cell { ops })
    }
}

/// One step in the cell space: edge `edge` changes its operation from `from` to `to`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct EdgeChange {
    pub edge: usize,
    pub from: Op,
    pub to: Op,
}

impl fmt::Display for EdgeChange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (a, b) = EDGES[self.edge];
        write!(f, "edge {a}->{b}: {} -> {}", self.from, self.to)
    }
}

/// The canonical identity of a cell: the dense index of the first cell (by [`Cell::index`]) that
/// has the same unique string.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CellKey(pub u16);
