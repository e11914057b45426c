//! The CIFAR-10 binary release: `data_batch_1.bin` .. `data_batch_5.bin`, `test_batch.bin`, each
//! record one label byte and 3,072 pixel bytes (planar RGB, 32x32).

use std::path::{Path, PathBuf};

use super::ImageSet;
use crate::error::DataError;

const RECORD: usize = 1 + 3 * 32 * 32;
const DEFAULT_CLASSES: [&str; 10] = [
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
];

/// The folder holding the batches: `dir` itself or `dir/cifar-10-batches-bin`.
pub fn find(dir: &Path) -> Option<PathBuf> {
    [dir.to_path_buf(), dir.join("cifar-10-batches-bin")]
        .into_iter()
        .find(|d| d.join("data_batch_1.bin").is_file())
}

fn read_batches(paths: &[PathBuf], class_names: Vec<String>) -> Result<ImageSet, DataError> {
    let mut pixels = Vec::new();
    let mut labels = Vec::new();
    for path in paths {
        let bytes = std::fs::read(path).map_err(DataError::io(path))?;
        if bytes.is_empty() || bytes.len() % RECORD != 0 {
            return Err(DataError::bad_data(
                path,
                format!(
                    "{} bytes is not a whole number of {RECORD}-byte records (truncated?)",
                    bytes.len()
                ),
            ));
        }
        for (i, record) in bytes.chunks_exact(RECORD).enumerate() {
            if record[0] as usize >= class_names.len() {
                return Err(DataError::bad_data(
                    path,
                    format!(
                        "record {i}: label {} out of range 0..{}",
                        record[0],
                        class_names.len()
                    ),
                ));
            }
            labels.push(record[0] as u16);
            pixels.extend_from_slice(&record[1..]);
        }
    }
    Ok(ImageSet {
        pixels,
        labels,
        channels: 3,
        height: 32,
        width: 32,
        class_names,
    })
}

/// Reads the training and test batches from the folder `find` returned.
pub fn load(dir: &Path) -> Result<(ImageSet, ImageSet), DataError> {
    let classes: Vec<String> = match std::fs::read_to_string(dir.join("batches.meta.txt")) {
        Ok(text) => text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(String::from)
            .collect(),
        Err(_) => DEFAULT_CLASSES.iter().map(|s| s.to_string()).collect(),
    };
    let train: Vec<PathBuf> = (1..=5)
        .map(|i| dir.join(format!("data_batch_{i}.bin")))
        .collect();
    for p in &train {
        if !p.is_file() {
            return Err(DataError::bad_data(
                p,
                "missing: the CIFAR-10 binary release has data_batch_1.bin to data_batch_5.bin",
            ));
        }
    }
    let train = read_batches(&train, classes.clone())?;
    let test = read_batches(&[dir.join("test_batch.bin")], classes)?;
    Ok((train, test))
}
