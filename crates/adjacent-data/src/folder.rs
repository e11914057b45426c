//! The ImageFolder layout: `train/<class>/*.jpg|png`, `test/<class>/*`.

use std::path::{Path, PathBuf};

use rayon::prelude::*;

use super::{BadImagePolicy, ImageSet};
use crate::error::DataError;

const EXTENSIONS: [&str; 5] = ["jpg", "jpeg", "png", "bmp", "gif"];

/// The class folders under `dir`, sorted by name.
pub fn class_names(dir: &Path) -> Result<Vec<String>, DataError> {
    let mut names = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(DataError::io(dir))? {
        let entry = entry.map_err(DataError::io(dir))?;
        if entry.path().is_dir() {
            names.push(entry.file_name().to_string_lossy().into_owned());
        }
    }
    names.sort();
    if names.is_empty() {
        return Err(DataError::bad_data(
            dir,
            "no class folders (expected <class>/<image> files)",
        ));
    }
    Ok(names)
}

fn image_files(dir: &Path) -> Result<Vec<PathBuf>, DataError> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(DataError::io(dir))? {
        let path = entry.map_err(DataError::io(dir))?.path();
        let ext = path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase);
        if path.is_file() && ext.is_some_and(|e| EXTENSIONS.contains(&e.as_str())) {
            files.push(path);
        }
    }
    files.sort();
    Ok(files)
}

/// Reads `dir/<class>/*` for the given classes (the training split's, so labels agree).
/// Images are decoded in parallel; all must have the size of the first. Grey images give a
/// one-channel set, anything else three channels (RGB).
pub fn load_split(
    dir: &Path,
    classes: &[String],
    policy: BadImagePolicy,
) -> Result<ImageSet, DataError> {
    let mut files: Vec<(PathBuf, u16)> = Vec::new();
    for (label, class) in classes.iter().enumerate() {
        let class_dir = dir.join(class);
        if !class_dir.is_dir() {
            return Err(DataError::bad_data(
                &class_dir,
                "class folder missing (the training split has it)",
            ));
        }
        let found = image_files(&class_dir)?;
        if found.is_empty() {
            return Err(DataError::bad_data(
                &class_dir,
                format!("class folder with no images ({})", EXTENSIONS.join(", ")),
            ));
        }
        files.extend(found.into_iter().map(|f| (f, label as u16)));
    }
    let decoded: Vec<Result<(image::DynamicImage, u16, &Path), DataError>> = files
        .par_iter()
        .map(|(path, label)| {
            image::open(path)
                .map(|img| (img, *label, path.as_path()))
                .map_err(|e| DataError::bad_data(path, format!("cannot decode image: {e}")))
        })
        .collect();
    let mut images = Vec::with_capacity(decoded.len());
    for result in decoded {
        match (result, policy) {
            (Ok(img), _) => images.push(img),
            (Err(e), BadImagePolicy::Skip) => eprintln!("warning: skipping {e}"),
            (Err(e), BadImagePolicy::Fail) => return Err(e),
        }
    }
    let Some((first, _, _)) = images.first() else {
        return Err(DataError::bad_data(dir, "no image could be decoded"));
    };
    let (width, height) = (first.width() as usize, first.height() as usize);
    let grey = images.iter().all(|(img, _, _)| !img.color().has_color());
    let channels = if grey { 1 } else { 3 };
    let mut pixels = Vec::with_capacity(images.len() * channels * height * width);
    let mut labels = Vec::with_capacity(images.len());
    for (img, label, path) in &images {
        if img.width() as usize != width || img.height() as usize != height {
            return Err(DataError::bad_data(
                path,
                format!(
                    "image is {}x{}, the first image is {width}x{height}; all must be one size",
                    img.width(),
                    img.height()
                ),
            ));
        }
        if grey {
            pixels.extend_from_slice(img.to_luma8().as_raw());
        } else {
            // Planar CHW from interleaved RGB.
            let rgb = img.to_rgb8();
            for c in 0..3 {
                pixels.extend(rgb.as_raw().iter().skip(c).step_by(3));
            }
        }
        labels.push(*label);
    }
    Ok(ImageSet {
        pixels,
        labels,
        channels,
        height,
        width,
        class_names: classes.to_vec(),
    })
}
