//! adjacent-data: image data sets as adjacent trains on them, with no tensors. A data set is
//! found by its layout from a path (`builtin`, a folder of IDX files, the CIFAR-10 binary release,
//! the ImageFolder layout), split into stratified, seeded training and validation sets, normalized
//! per channel with the training split's statistics, and batched (shuffled, augmented, normalized)
//! in a thread of its own while the model trains. A new format is one module beside [`idx`],
//! [`cifar`] and [`folder`], found by [`load`].

pub mod cifar;
pub mod classes;
pub mod error;
pub mod folder;
pub mod idx;
pub mod loader;

pub use error::DataError;

use std::path::Path;

use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

/// Images of one size with their labels. Pixels are bytes, planar (`[n][channel][row][col]`).
#[derive(Debug, Clone, PartialEq)]
pub struct ImageSet {
    pub pixels: Vec<u8>,
    pub labels: Vec<u16>,
    pub channels: usize,
    pub height: usize,
    pub width: usize,
    pub class_names: Vec<String>,
}

impl ImageSet {
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Bytes of one image.
    pub fn image_size(&self) -> usize {
        self.channels * self.height * self.width
    }

    pub fn image(&self, i: usize) -> &[u8] {
        let n = self.image_size();
        &self.pixels[i * n..(i + 1) * n]
    }

    pub fn classes(&self) -> usize {
        self.class_names.len()
    }

    /// The same images with three channels (a grey image's plane repeated); RGB sets are unchanged.
    pub fn to_rgb(self) -> ImageSet {
        if self.channels != 1 {
            return self;
        }
        let plane = self.height * self.width;
        let mut pixels = Vec::with_capacity(self.pixels.len() * 3);
        for image in self.pixels.chunks_exact(plane) {
            for _ in 0..3 {
                pixels.extend_from_slice(image);
            }
        }
        ImageSet {
            pixels,
            channels: 3,
            ..self
        }
    }

    /// The same images with one channel (the mean of the channels); grey sets are unchanged.
    pub fn to_grey(self) -> ImageSet {
        if self.channels == 1 {
            return self;
        }
        let plane = self.height * self.width;
        let channels = self.channels;
        let mut pixels = Vec::with_capacity(self.pixels.len() / channels);
        for image in self.pixels.chunks_exact(plane * channels) {
            for p in 0..plane {
                let sum: u32 = (0..channels).map(|c| image[c * plane + p] as u32).sum();
                pixels.push(((sum + channels as u32 / 2) / channels as u32) as u8);
            }
        }
        ImageSet {
            pixels,
            channels: 1,
            ..self
        }
    }

    /// The images at `indices`, in that order.
    pub fn select(&self, indices: &[usize]) -> ImageSet {
        let mut pixels = Vec::with_capacity(indices.len() * self.image_size());
        for &i in indices {
            pixels.extend_from_slice(self.image(i));
        }
        ImageSet {
            pixels,
            labels: indices.iter().map(|&i| self.labels[i]).collect(),
            class_names: self.class_names.clone(),
            ..*self
        }
    }

    /// Indices of a seeded, stratified sample of `n` images: each class gets its share of `n`
    /// (rounded so that the shares add up to `n`), drawn at random.
    pub fn stratified(&self, n: usize, seed: u64) -> Vec<usize> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut by_class: Vec<Vec<usize>> = vec![Vec::new(); self.classes()];
        for (i, &l) in self.labels.iter().enumerate() {
            by_class[l as usize].push(i);
        }
        let total = self.len().max(1);
        let mut picked = Vec::with_capacity(n);
        let mut taken = 0usize;
        let mut cumulative = 0usize;
        for members in &mut by_class {
            members.shuffle(&mut rng);
            cumulative += members.len();
            // Largest-remainder rounding through the cumulative share.
            let upto = (cumulative * n + total / 2) / total;
            let k = upto.saturating_sub(taken).min(members.len());
            picked.extend_from_slice(&members[..k]);
            taken += k;
        }
        picked.sort_unstable();
        picked
    }

    /// Every index in a seeded random order: its first few are a sample of every class even where
    /// the set is stored class by class, as an image folder is (and a stratified split keeps).
    pub fn random_order(&self, seed: u64) -> Vec<usize> {
        let mut order: Vec<usize> = (0..self.len()).collect();
        order.shuffle(&mut ChaCha8Rng::seed_from_u64(seed));
        order
    }

    /// A seeded, stratified split into (train, valid) with `valid` images in the second part.
    pub fn split(&self, valid: usize, seed: u64) -> (ImageSet, ImageSet) {
        let valid_idx = self.stratified(valid, seed);
        let mut is_valid = vec![false; self.len()];
        for &i in &valid_idx {
            is_valid[i] = true;
        }
        let train_idx: Vec<usize> = (0..self.len()).filter(|&i| !is_valid[i]).collect();
        (self.select(&train_idx), self.select(&valid_idx))
    }
}

/// What to do with an image file that fails to decode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BadImagePolicy {
    #[default]
    Fail,
    Skip,
}

/// A data set: training images (to be split into train and validation) and test images.
#[derive(Debug, Clone)]
pub struct Dataset {
    /// Where it came from, for reports.
    pub source: String,
    pub train: ImageSet,
    pub test: ImageSet,
}

/// The built-in data set: a stratified subset of Fashion-MNIST (MIT), 10,000 training and 2,000
/// test images, shipped in the repository (data/builtin/).
pub mod builtin {
    pub const TRAIN_IMAGES: &[u8] =
        include_bytes!("../../../data/builtin/train-images-idx3-ubyte.gz");
    pub const TRAIN_LABELS: &[u8] =
        include_bytes!("../../../data/builtin/train-labels-idx1-ubyte.gz");
    pub const TEST_IMAGES: &[u8] =
        include_bytes!("../../../data/builtin/t10k-images-idx3-ubyte.gz");
    pub const TEST_LABELS: &[u8] =
        include_bytes!("../../../data/builtin/t10k-labels-idx1-ubyte.gz");
    /// Fashion-MNIST's class names.
    pub const CLASS_NAMES: [&str; 10] = [
        "t-shirt/top",
        "trouser",
        "pullover",
        "dress",
        "coat",
        "sandal",
        "shirt",
        "sneaker",
        "bag",
        "ankle boot",
    ];
}

fn load_builtin() -> Result<Dataset, DataError> {
    let part = |images: &[u8], labels: &[u8], name: &str| -> Result<ImageSet, DataError> {
        let path = Path::new("builtin").join(name);
        let mut set = idx::from_bytes(
            &idx::gunzip_if_needed(images.to_vec(), &path)?,
            &path,
            &idx::gunzip_if_needed(labels.to_vec(), &path)?,
            &path,
        )?;
        set.class_names = builtin::CLASS_NAMES.iter().map(|s| s.to_string()).collect();
        Ok(set)
    };
    Ok(Dataset {
        source: "builtin (Fashion-MNIST subset)".into(),
        train: part(builtin::TRAIN_IMAGES, builtin::TRAIN_LABELS, "train")?,
        test: part(builtin::TEST_IMAGES, builtin::TEST_LABELS, "t10k")?,
    })
}

/// Loads the data set at `source`: `builtin`, or a folder holding IDX files
/// (`train-images-idx3-ubyte[.gz]`, ...), the CIFAR-10 binary release (`data_batch_1.bin`, ...), or
/// the ImageFolder layout (`train/<class>/*`, `test/<class>/*`).
pub fn load(source: &str, policy: BadImagePolicy) -> Result<Dataset, DataError> {
    if source == "builtin" {
        return load_builtin();
    }
    let path = Path::new(source);
    let unknown = |reason: String| DataError::UnknownFormat {
        path: path.to_path_buf(),
        reason,
    };
    if !path.exists() {
        return Err(unknown("no such file or folder".into()));
    }
    if path.is_file() {
        let name = path.to_string_lossy();
        let hint = if name.ends_with(".tar.gz") || name.ends_with(".tgz") {
            format!(
                "an archive: unpack it first (mkdir DIR && tar -xzf {name} -C DIR) and give the folder"
            )
        } else {
            "a file: give the folder that holds the data set".to_string()
        };
        return Err(unknown(hint));
    }
    let mut train_test = None;
    if idx::find(path, "train-images-idx3-ubyte").is_some() {
        train_test = Some((
            idx::load_split(path, "train")?,
            idx::load_split(path, "t10k")?,
        ));
    } else if let Some(dir) = cifar::find(path) {
        train_test = Some(cifar::load(&dir)?);
    } else if path.join("train").is_dir() {
        let classes = folder::class_names(&path.join("train"))?;
        if !path.join("test").is_dir() {
            return Err(unknown("ImageFolder layout without a test/ folder".into()));
        }
        let train = folder::load_split(&path.join("train"), &classes, policy)?;
        let test = folder::load_split(&path.join("test"), &classes, policy)?;
        // Colour anywhere makes both splits RGB.
        train_test = Some(if train.channels == test.channels {
            (train, test)
        } else {
            (train.to_rgb(), test.to_rgb())
        });
    }
    let (train, test) = train_test.ok_or_else(|| {
        unknown(
            "no data set found; expected IDX files (train-images-idx3-ubyte[.gz], train-labels-idx1-ubyte[.gz], \
             t10k-...), the CIFAR-10 binary release (data_batch_1.bin .. data_batch_5.bin, test_batch.bin), \
             or the ImageFolder layout (train/<class>/*.jpg|png, test/<class>/*)"
                .into(),
        )
    })?;
    if (train.channels, train.height, train.width) != (test.channels, test.height, test.width) {
        return Err(unknown(format!(
            "training images are {}x{}x{} but test images {}x{}x{}",
            train.channels, train.height, train.width, test.channels, test.height, test.width
        )));
    }
    // IDX labels name no classes: a split missing the highest labels gets the other's list.
    let (mut train, mut test) = (train, test);
    if train.classes() < test.classes() {
        train.class_names = test.class_names.clone();
    } else {
        test.class_names = train.class_names.clone();
    }
    Ok(Dataset {
        source: source.to_string(),
        train,
        test,
    })
}

/// Per-channel mean and standard deviation of pixel values scaled to [0, 1].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Normalization {
    pub mean: Vec<f32>,
    pub std: Vec<f32>,
}

impl Normalization {
    /// Measured on `set`.
    pub fn of(set: &ImageSet) -> Normalization {
        let plane = set.height * set.width;
        let mut sum = vec![0f64; set.channels];
        let mut sum_sq = vec![0f64; set.channels];
        for i in 0..set.len() {
            for (c, chunk) in set.image(i).chunks_exact(plane).enumerate() {
                for &p in chunk {
                    let v = p as f64 / 255.0;
                    sum[c] += v;
                    sum_sq[c] += v * v;
                }
            }
        }
        let n = (set.len() * plane).max(1) as f64;
        let mean: Vec<f64> = sum.iter().map(|s| s / n).collect();
        let std = sum_sq
            .iter()
            .zip(&mean)
            .map(|(s, m)| ((s / n - m * m).max(0.0).sqrt().max(1e-3)) as f32)
            .collect();
        Normalization {
            mean: mean.into_iter().map(|m| m as f32).collect(),
            std,
        }
    }
}

/// The number of validation images `valid` asks for out of `n`: a count, or a fraction below 1.
fn valid_count(valid: f64, n: usize) -> Result<usize, DataError> {
    let bad = |reason: String| DataError::InvalidSetting {
        field: "--valid".into(),
        reason,
    };
    if !(valid >= 0.0 && valid.is_finite()) {
        return Err(bad(format!("must be a count or a fraction, got {valid}")));
    }
    let count = if valid < 1.0 {
        (valid * n as f64).round() as usize
    } else {
        valid as usize
    };
    if count >= n {
        return Err(bad(format!(
            "{count} validation images leave none of the {n} to train on"
        )));
    }
    Ok(count)
}

/// Training and validation sets from the data set's training images: a stratified, seeded
/// subset of `subset` images if asked, then `valid` of them held out (none when `valid` is 0).
pub fn split(
    data: &Dataset,
    subset: Option<usize>,
    valid: f64,
    seed: u64,
) -> Result<(ImageSet, Option<ImageSet>), DataError> {
    let mut train = data.train.clone();
    if let Some(n) = subset {
        if n == 0 || n > train.len() {
            return Err(DataError::InvalidSetting {
                field: "--subset".into(),
                reason: format!(
                    "{n} is not between 1 and the {} training images",
                    train.len()
                ),
            });
        }
        train = train.select(&train.stratified(n, seed));
    }
    let count = valid_count(valid, train.len())?;
    if count == 0 {
        return Ok((train, None));
    }
    let (train, valid) = train.split(count, seed ^ 0x5EED_5A1D);
    Ok((train, Some(valid)))
}
