//! Tabular benchmarks: NAS-Bench-201 tables of trained cells, split so that a search sees only its
//! search signal.
//!
//! A table is a CSV with a column `arch` (the cell string) and, for each data set `D` it covers,
//! `D_valid_acc_12ep` (12-epoch validation accuracy: what a search may look at) and
//! `D_test_acc_200ep` (200-epoch test accuracy: what a search is judged by). Other columns are
//! ignored. Gzipped tables are read as they are.
//!
//! Loading gives two values of two types: a [`TabularEvaluator`], which answers queries with the
//! validation accuracy alone, and a [`Judge`], which holds the test accuracy. Strategies receive
//! neither; the harness gives them outcomes from the evaluator only, and an [`Outcome`] has no field
//! that could hold a test accuracy. That a search never reads what it is judged by is thus a fact of
//! the types, not a convention.

use std::io::Read;
use std::path::{Path, PathBuf};

use flate2::read::GzDecoder;

use crate::error::BoxError;
use crate::error::CoreError;
use crate::spaces::nb201::Nb201Space;
use crate::spaces::nb201::{CELL_COUNT, Cell, EdgeChange};
use crate::study::{Cost, Evaluation, Evaluator};
use crate::trial::{Outcome, Proposal, Trial, TrialState};

const VALID_SUFFIX: &str = "_valid_acc_12ep";
const TEST_SUFFIX: &str = "_test_acc_200ep";

/// Answers a query for a cell with its 12-epoch validation accuracy.
#[derive(Debug, Clone)]
pub struct TabularEvaluator {
    valid: Vec<f64>,
}

impl TabularEvaluator {
    /// The outcome of training `cell` for the table's 12 epochs.
    pub fn query(&self, cell: &Cell) -> Outcome {
        Outcome {
            valid_acc: Some(self.valid[cell.index()]),
            epochs: 12.0,
            ..Outcome::default()
        }
    }
}

impl Evaluator<Nb201Space> for TabularEvaluator {
    fn cost(&self, _proposal: &Proposal<Cell, EdgeChange>) -> Cost {
        Cost::default()
    }

    fn evaluate(
        &self,
        trial: &Trial<Cell, EdgeChange>,
        _progress: &mut dyn FnMut(usize, usize),
    ) -> Result<Evaluation, BoxError> {
        Ok(Evaluation {
            state: TrialState::Complete,
            outcome: self.query(&trial.genotype),
            reason: None,
        })
    }
}

/// Holds the accuracy a search is judged by. Only the benchmark harness has one.
#[derive(Debug, Clone)]
pub struct Judge {
    test: Vec<f64>,
}

impl Judge {
    /// The 200-epoch test accuracy of `cell`.
    pub fn test_acc(&self, cell: &Cell) -> f64 {
        self.test[cell.index()]
    }

    /// The best test accuracy in the table.
    pub fn optimum(&self) -> f64 {
        self.test.iter().copied().fold(f64::NEG_INFINITY, f64::max)
    }
}

/// The data sets a table covers: those with both a validation and a test column.
pub fn datasets_in(headers: &[&str]) -> Vec<String> {
    headers
        .iter()
        .filter_map(|h| h.strip_suffix(VALID_SUFFIX))
        .filter(|d| headers.contains(&format!("{d}{TEST_SUFFIX}").as_str()))
        .map(str::to_string)
        .collect()
}

/// Reads a table from `path` (plain or gzipped CSV) for data set `dataset`.
pub fn load(path: &Path, dataset: &str) -> Result<(TabularEvaluator, Judge), CoreError> {
    let file = std::fs::File::open(path).map_err(|source| CoreError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    from_reader(file, path, dataset)
}

/// Reads a table (plain or gzipped CSV) from `reader`; `source` names it in errors.
pub fn from_reader(
    mut reader: impl Read,
    source: &Path,
    dataset: &str,
) -> Result<(TabularEvaluator, Judge), CoreError> {
    let io = |e: std::io::Error| CoreError::Io {
        path: source.to_path_buf(),
        source: e,
    };
    let mut bytes = Vec::new();
    reader.read_to_end(&mut bytes).map_err(io)?;
    if bytes.starts_with(&[0x1f, 0x8b]) {
        let mut text = Vec::new();
        GzDecoder::new(&bytes[..])
            .read_to_end(&mut text)
            .map_err(io)?;
        bytes = text;
    }
    parse(&bytes, source.to_path_buf(), dataset)
}

fn parse(
    bytes: &[u8],
    path: PathBuf,
    dataset: &str,
) -> Result<(TabularEvaluator, Judge), CoreError> {
    let mut csv = csv::ReaderBuilder::new().from_reader(bytes);
    let bad_table = |path: &PathBuf, reason: String| CoreError::BadTable {
        path: path.clone(),
        reason,
    };
    let headers = csv
        .headers()
        .map_err(|e| bad_table(&path, format!("cannot read the header: {e}")))?
        .clone();
    let names: Vec<&str> = headers.iter().collect();
    let column = |name: &str| {
        names
            .iter()
            .position(|h| *h == name)
            .ok_or_else(|| CoreError::MissingColumn {
                path: path.clone(),
                column: name.to_string(),
                present: names.join(", "),
            })
    };
    let arch_col = column("arch")?;
    let datasets = datasets_in(&names);
    if !datasets.iter().any(|d| d == dataset) {
        return Err(CoreError::UnknownDataset {
            path: path.clone(),
            name: dataset.to_string(),
            available: if datasets.is_empty() {
                format!("none (no pair of columns D{VALID_SUFFIX}, D{TEST_SUFFIX})")
            } else {
                datasets.join(", ")
            },
        });
    }
    let valid_col = column(&format!("{dataset}{VALID_SUFFIX}"))?;
    let test_col = column(&format!("{dataset}{TEST_SUFFIX}"))?;

    let mut valid = vec![f64::NAN; CELL_COUNT];
    let mut test = vec![f64::NAN; CELL_COUNT];
    let mut row_of = vec![0usize; CELL_COUNT];
    for (i, record) in csv.records().enumerate() {
        let row = i + 1;
        let record = record.map_err(|e| {
            let line = e.position().map_or(0, |p| p.line());
            CoreError::BadRow {
                path: path.clone(),
                row,
                line,
                reason: e.to_string(),
            }
        })?;
        let line = record.position().map_or(0, |p| p.line());
        let bad_row = |reason: String| CoreError::BadRow {
            path: path.clone(),
            row,
            line,
            reason,
        };
        let cell: Cell = record[arch_col]
            .parse()
            .map_err(|e| bad_row(format!("{e}")))?;
        let number = |col: usize| -> Result<f64, CoreError> {
            let text = &record[col];
            match text.trim().parse::<f64>() {
                Ok(v) if v.is_finite() => Ok(v),
                _ => Err(bad_row(format!(
                    "column {:?} holds {text:?}, not a number",
                    names[col]
                ))),
            }
        };
        let v = number(valid_col)?;
        let t = number(test_col)?;
        let idx = cell.index();
        if !valid[idx].is_nan() {
            return Err(bad_row(format!(
                "cell {cell} already appears in row {}",
                row_of[idx]
            )));
        }
        valid[idx] = v;
        test[idx] = t;
        row_of[idx] = row;
    }
    let missing = valid.iter().filter(|v| v.is_nan()).count();
    if missing > 0 {
        let first = valid
            .iter()
            .position(|v| v.is_nan())
            .expect("one is missing");
        return Err(bad_table(
            &path,
            format!(
                "the table covers {} of the {CELL_COUNT} cells; missing, for one: {}",
                CELL_COUNT - missing,
                Cell::from_index(first)
            ),
        ));
    }
    Ok((TabularEvaluator { valid }, Judge { test }))
}
