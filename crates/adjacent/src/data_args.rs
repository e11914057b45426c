//! The data flags every command that reads a data set shares, and the line that says what was
//! loaded.

use std::time::Instant;

use adjacent_data::{BadImagePolicy, Dataset};
use anyhow::Result;
use clap::{Args, ValueEnum};

#[derive(Args, Debug, Clone, PartialEq)]
pub struct DataArgs {
    /// Data set: `builtin` (a Fashion-MNIST subset shipped with adjacent), or a folder with IDX
    /// files, the CIFAR-10 binary release, or the ImageFolder layout (train/<class>/*, test/<class>/*).
    #[arg(long, default_value = "builtin")]
    pub data: String,
    /// What to do with an image that fails to decode.
    #[arg(long, value_enum, default_value = "fail")]
    pub on_bad_image: BadImage,
    /// Only these classes, relabelled in the order listed: names, indices or ranges of indices,
    /// separated by commas (`0-4`, `airplane,automobile,ship,truck`).
    #[arg(long, value_name = "LIST")]
    pub classes: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum BadImage {
    Fail,
    Skip,
}

impl DataArgs {
    pub fn policy(&self) -> BadImagePolicy {
        match self.on_bad_image {
            BadImage::Fail => BadImagePolicy::Fail,
            BadImage::Skip => BadImagePolicy::Skip,
        }
    }

    /// Loads the data set, saying what was loaded.
    pub fn load(&self) -> Result<Dataset> {
        let started = Instant::now();
        let data = adjacent_data::load(&self.data, self.policy())?
            .maybe_with_classes(self.classes.as_deref())?;
        print_loaded(&data, started.elapsed().as_secs_f64());
        Ok(data)
    }
}

/// The line that says what data set was loaded, and how long it took.
pub fn print_loaded(data: &Dataset, seconds: f64) {
    eprintln!(
        "data: {} ({} training, {} test images, {}x{}x{}, {} classes) loaded in {seconds:.1} s",
        data.source,
        data.train.len(),
        data.test.len(),
        data.train.channels,
        data.train.height,
        data.train.width,
        data.train.classes(),
    );
}
