//! The NAS-Bench-201 cell space against the benchmark's own table.

mod common;

use std::collections::HashSet;

use adjacent_core::SearchSpace;
use adjacent_core::spaces::nb201::{CELL_COUNT, Cell, EDGE_COUNT, Nb201Space, Op};

#[test]
fn cell_strings_round_trip_on_every_row_of_the_table() {
    let rows = common::table_rows();
    assert_eq!(rows.len(), CELL_COUNT);
    let mut cells = HashSet::new();
    for row in &rows {
        let arch = &row["arch"];
        let cell: Cell = arch.parse().unwrap_or_else(|e| panic!("{arch}: {e}"));
        assert_eq!(&cell.to_string(), arch);
        assert!(cells.insert(cell), "{arch} appears twice");
    }
}

#[test]
fn dense_index_round_trips() {
    for i in 0..CELL_COUNT {
        assert_eq!(Cell::from_index(i).index(), i);
    }
}

#[test]
fn unique_strings_match_the_benchmark_and_give_6466_keys() {
    let space = Nb201Space::default();
    let rows = common::table_rows();
    let mut keys = HashSet::new();
    for row in &rows {
        let cell: Cell = row["arch"].parse().unwrap();
        assert_eq!(cell.unique_string(), row["unique_key"], "{}", row["arch"]);
        keys.insert(space.key(&cell));
    }
    assert_eq!(keys.len(), 6466);
    assert_eq!(space.distinct_keys(), Some(6466));
}

#[test]
fn cells_with_one_key_share_one_unique_string() {
    let space = Nb201Space::default();
    for cell in space.cells() {
        let representative = Cell::from_index(space.key(&cell).0 as usize);
        assert_eq!(representative.unique_string(), cell.unique_string());
        assert!(representative.index() <= cell.index());
    }
}

#[test]
fn static_cost_matches_the_table() {
    let space = Nb201Space::default();
    for row in common::table_rows() {
        let cell: Cell = row["arch"].parse().unwrap();
        let cost = space.cost(&cell);
        let params: f64 = row["params_M_cifar10"].parse().unwrap();
        let flops: f64 = row["flops_M_cifar10"].parse().unwrap();
        // The table rounds to 6 significant digits: at most half a unit in the 6th digit, which
        // is 5e-6 of the value or less.
        let close = |ours: u64, theirs: f64| (ours as f64 / 1e6 - theirs).abs() <= 5.01e-6 * theirs;
        assert!(
            close(cost.params, params),
            "{}: params {} vs {params} M",
            row["arch"],
            cost.params
        );
        assert!(
            close(cost.flops, flops),
            "{}: flops {} vs {flops} M",
            row["arch"],
            cost.flops
        );
    }
}

#[test]
fn moves_are_exactly_the_24_one_edge_changes() {
    let space = Nb201Space::default();
    for cell in space.cells().step_by(7) {
        let neighbours: Vec<Cell> = space
            .neighbours(&cell)
            .into_iter()
            .map(|(_, g)| g)
            .collect();
        assert_eq!(neighbours.len(), 24);
        let expected: HashSet<Cell> = (0..EDGE_COUNT)
            .flat_map(|e| {
                Op::ALL
                    .into_iter()
                    .filter(move |&op| op != cell.op(e))
                    .map(move |op| cell.with_op(e, op))
            })
            .collect();
        let got: HashSet<Cell> = neighbours.iter().copied().collect();
        assert_eq!(got, expected);
        for n in &neighbours {
            let changed = (0..EDGE_COUNT).filter(|&e| n.op(e) != cell.op(e)).count();
            assert_eq!(changed, 1);
            // A neighbour is a cell of the space: its string parses back to it.
            assert_eq!(n.to_string().parse::<Cell>().unwrap(), *n);
        }
        for mv in space.moves(&cell) {
            assert_eq!(mv.from, cell.op(mv.edge));
            assert_ne!(mv.from, mv.to);
        }
    }
}

#[test]
fn degenerate_cells_are_those_without_a_path_and_their_key_has_no_input() {
    let space = Nb201Space::default();
    let mut degenerate = 0;
    for cell in space.cells() {
        let d = space.is_degenerate(&cell);
        assert_eq!(d, !cell.unique_string().contains('0'), "{cell}");
        degenerate += d as usize;
    }
    // All-none cells and cells whose only paths are cut: a known, fixed count.
    assert!(
        degenerate > 0 && degenerate < CELL_COUNT / 4,
        "{degenerate}"
    );
}

#[test]
fn malformed_cell_strings_are_rejected_with_the_reason() {
    let cases = [
        ("", "3 node groups"),
        (
            "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|",
            "3 node groups",
        ),
        (
            "|conv~0|+|none~0|none~1|+|none~0|none~1|none~2|",
            "unknown operation \"conv\"",
        ),
        (
            "|none~1|+|none~0|none~1|+|none~0|none~1|none~2|",
            "must come from node 0",
        ),
        ("|none~0|+|none~0|+|none~0|none~1|none~2|", "node 2 needs 2"),
        (
            "none~0|+|none~0|none~1|+|none~0|none~1|none~2|",
            "must start and end with '|'",
        ),
        ("|none0|+|none~0|none~1|+|none~0|none~1|none~2|", "op~input"),
    ];
    for (text, reason) in cases {
        let err = text.parse::<Cell>().unwrap_err().to_string();
        assert!(err.contains(reason), "{text:?}: {err}");
    }
}
