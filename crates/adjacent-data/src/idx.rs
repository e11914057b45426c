//! The IDX format of MNIST and Fashion-MNIST, gzipped or raw.

use std::io::Read;
use std::path::{Path, PathBuf};

use flate2::read::GzDecoder;

use super::ImageSet;
use crate::error::DataError;

const IMAGES_MAGIC: u32 = 0x0000_0803;
const LABELS_MAGIC: u32 = 0x0000_0801;

/// `dir/name` or `dir/name.gz`, whichever exists.
pub fn find(dir: &Path, name: &str) -> Option<PathBuf> {
    [dir.join(name), dir.join(format!("{name}.gz"))]
        .into_iter()
        .find(|p| p.is_file())
}

/// The bytes of a file, gunzipped when they start with the gzip magic.
pub fn read_maybe_gz(path: &Path) -> Result<Vec<u8>, DataError> {
    let bytes = std::fs::read(path).map_err(DataError::io(path))?;
    gunzip_if_needed(bytes, path)
}

pub fn gunzip_if_needed(bytes: Vec<u8>, path: &Path) -> Result<Vec<u8>, DataError> {
    if !bytes.starts_with(&[0x1f, 0x8b]) {
        return Ok(bytes);
    }
    let mut out = Vec::new();
    GzDecoder::new(&bytes[..])
        .read_to_end(&mut out)
        .map_err(|e| DataError::bad_data(path, format!("not a valid gzip file: {e}")))?;
    Ok(out)
}

fn be_u32(bytes: &[u8], at: usize) -> u32 {
    u32::from_be_bytes(bytes[at..at + 4].try_into().expect("4 bytes"))
}

/// Parses an IDX image file: `(count, rows, cols, pixels)`.
pub fn parse_images(
    bytes: &[u8],
    path: &Path,
) -> Result<(usize, usize, usize, Vec<u8>), DataError> {
    if bytes.len() < 16 {
        return Err(DataError::bad_data(
            path,
            format!(
                "truncated: {} bytes, an IDX image header needs 16",
                bytes.len()
            ),
        ));
    }
    let magic = be_u32(bytes, 0);
    if magic != IMAGES_MAGIC {
        return Err(DataError::bad_data(
            path,
            format!(
                "bad magic number {magic:#010x}: an IDX image file starts with {IMAGES_MAGIC:#010x}"
            ),
        ));
    }
    let (n, rows, cols) = (
        be_u32(bytes, 4) as usize,
        be_u32(bytes, 8) as usize,
        be_u32(bytes, 12) as usize,
    );
    let need = n
        .checked_mul(rows)
        .and_then(|v| v.checked_mul(cols))
        .ok_or_else(|| DataError::bad_data(path, "header sizes overflow"))?;
    let have = bytes.len() - 16;
    if have != need {
        return Err(DataError::bad_data(
            path,
            format!(
                "{}: the header promises {n} images of {rows}x{cols} ({need} bytes) but {have} bytes follow",
                if have < need {
                    "truncated"
                } else {
                    "trailing data"
                }
            ),
        ));
    }
    Ok((n, rows, cols, bytes[16..].to_vec()))
}

/// Parses an IDX label file.
pub fn parse_labels(bytes: &[u8], path: &Path) -> Result<Vec<u16>, DataError> {
    if bytes.len() < 8 {
        return Err(DataError::bad_data(
            path,
            format!(
                "truncated: {} bytes, an IDX label header needs 8",
                bytes.len()
            ),
        ));
    }
    let magic = be_u32(bytes, 0);
    if magic != LABELS_MAGIC {
        return Err(DataError::bad_data(
            path,
            format!(
                "bad magic number {magic:#010x}: an IDX label file starts with {LABELS_MAGIC:#010x}"
            ),
        ));
    }
    let n = be_u32(bytes, 4) as usize;
    let have = bytes.len() - 8;
    if have != n {
        return Err(DataError::bad_data(
            path,
            format!(
                "{}: the header promises {n} labels but {have} bytes follow",
                if have < n {
                    "truncated"
                } else {
                    "trailing data"
                }
            ),
        ));
    }
    Ok(bytes[8..].iter().map(|&b| b as u16).collect())
}

/// Reads one split (`train` or `t10k`) from an IDX directory.
pub fn load_split(dir: &Path, prefix: &str) -> Result<ImageSet, DataError> {
    let images_name = format!("{prefix}-images-idx3-ubyte");
    let labels_name = format!("{prefix}-labels-idx1-ubyte");
    let missing = |name: &str| DataError::UnknownFormat {
        path: dir.to_path_buf(),
        reason: format!("IDX data set without {name}[.gz]"),
    };
    let images_path = find(dir, &images_name).ok_or_else(|| missing(&images_name))?;
    let labels_path = find(dir, &labels_name).ok_or_else(|| missing(&labels_name))?;
    from_bytes(
        &read_maybe_gz(&images_path)?,
        &images_path,
        &read_maybe_gz(&labels_path)?,
        &labels_path,
    )
}

/// An image set from the bytes of an IDX image file and an IDX label file.
pub fn from_bytes(
    images: &[u8],
    images_path: &Path,
    labels: &[u8],
    labels_path: &Path,
) -> Result<ImageSet, DataError> {
    let (n, rows, cols, pixels) = parse_images(images, images_path)?;
    let labels = parse_labels(labels, labels_path)?;
    if labels.len() != n {
        return Err(DataError::bad_data(
            images_path,
            format!(
                "{n} images but {} labels in {}",
                labels.len(),
                labels_path.display()
            ),
        ));
    }
    let classes = labels
        .iter()
        .map(|&l| l as usize + 1)
        .max()
        .unwrap_or(0)
        .max(2);
    Ok(ImageSet {
        pixels,
        labels,
        channels: 1,
        height: rows,
        width: cols,
        class_names: (0..classes).map(|c| c.to_string()).collect(),
    })
}

/// Writes an image set in IDX form (gzipped), for the built-in data set.
pub fn write(set: &ImageSet, images_path: &Path, labels_path: &Path) -> Result<(), DataError> {
    use std::io::Write;
    let gz = |path: &Path, header: Vec<u8>, body: &[u8]| -> Result<(), DataError> {
        let file = std::fs::File::create(path).map_err(DataError::io(path))?;
        let mut enc = flate2::write::GzEncoder::new(file, flate2::Compression::best());
        enc.write_all(&header)
            .and_then(|_| enc.write_all(body))
            .and_then(|_| enc.finish().map(|_| ()))
            .map_err(DataError::io(path))
    };
    let n = set.len() as u32;
    let mut header = Vec::new();
    for v in [IMAGES_MAGIC, n, set.height as u32, set.width as u32] {
        header.extend_from_slice(&v.to_be_bytes());
    }
    gz(images_path, header, &set.pixels)?;
    let mut header = Vec::new();
    for v in [LABELS_MAGIC, n] {
        header.extend_from_slice(&v.to_be_bytes());
    }
    let labels: Vec<u8> = set.labels.iter().map(|&l| l as u8).collect();
    gz(labels_path, header, &labels)
}
