//! `adjacent export`: a saved model (a search's `best/`, or a `train` folder) in a format that runs
//! without adjacent.

use std::path::{Path, PathBuf};

use adjacent_nn::Device;
use adjacent_nn::checkpoint;
use adjacent_nn::net::Network;
use adjacent_nn::{onnx, pytorch};
use anyhow::{Context, Result, bail};
use clap::{Args, ValueEnum};
use rand::{RngExt, SeedableRng};
use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// ONNX, opset 17: float pixels in [0, 1] in, logits out, normalization inside the graph.
    Onnx,
    /// A folder with `model.py` (a readable `nn.Module` of this architecture) and
    /// `weights.safetensors` (its state dict).
    Pytorch,
}

#[derive(Args, Debug)]
pub struct ExportArgs {
    /// A saved model: a search's `best/` folder or a folder written by `adjacent train`
    /// (arch.json and model.safetensors).
    #[arg(long)]
    pub model: PathBuf,
    #[arg(long, value_enum, default_value = "onnx")]
    pub format: Format,
    /// The file to write (onnx), or the folder (pytorch).
    #[arg(long)]
    pub out: PathBuf,
    /// Overwrite `--out` (and `--reference`) if they exist.
    #[arg(long)]
    pub force: bool,
    /// Also write a JSON file of 8 seeded random images (pixels in [0, 1]) and adjacent's logits
    /// for them, to check the export in another runtime (benches/export/check_onnx.py,
    /// check_pytorch.py).
    #[arg(long)]
    pub reference: Option<PathBuf>,
}

pub fn run(args: ExportArgs) -> Result<()> {
    refuse_existing(&args.out, args.force)?;
    if let Some(reference) = &args.reference {
        refuse_existing(reference, args.force)?;
    }
    println!("{}", export(&args.model, args.format, &args.out)?);
    if let Some(path) = &args.reference {
        let device = Device::flex();
        let (model, card) = checkpoint::load(&args.model, &device)?;
        let shape = [8, card.arch.input_channels, card.height, card.width];
        let reference = reference(&model, shape, &card.normalization, &device);
        let text = serde_json::to_string(&reference)? + "\n";
        write(path, text.as_bytes())?;
        println!("reference images and logits written to {}", path.display());
    }
    Ok(())
}

/// Writes the model saved in `model` to `out` in `format`; says what it wrote.
pub fn export(model: &Path, format: Format, out: &Path) -> Result<String> {
    let device = Device::flex();
    let (network, card) = checkpoint::load(model, &device)
        .with_context(|| format!("cannot export the model in {}", model.display()))?;
    let what = match format {
        Format::Onnx => {
            let bytes = onnx::export(&network, &card)?;
            write(out, &bytes)?;
            format!("ONNX opset {}, {} bytes", onnx::OPSET, bytes.len())
        }
        Format::Pytorch => {
            std::fs::create_dir_all(out)
                .with_context(|| format!("cannot create {}", out.display()))?;
            let module = pytorch::model_py(&network, &card);
            write(&out.join(PYTORCH_MODULE), module.as_bytes())?;
            write(&out.join(PYTORCH_WEIGHTS), &pytorch::state_dict(&network)?)?;
            format!("PyTorch: {PYTORCH_MODULE} and {PYTORCH_WEIGHTS}")
        }
    };
    Ok(format!(
        "exported {} ({} parameters, input {}x{}x{} pixels in [0, 1], {} classes) to {} ({what})",
        model.display(),
        card.arch.params(),
        card.arch.input_channels,
        card.height,
        card.width,
        card.arch.classes,
        out.display(),
    ))
}

/// Where `search --export FORMAT` writes the delivered model: beside `best/`.
pub fn beside_best(out: &Path, format: Format) -> PathBuf {
    match format {
        Format::Onnx => out.join("best.onnx"),
        Format::Pytorch => out.join("best-pytorch"),
    }
}

/// The files `--format pytorch` writes into its folder.
const PYTORCH_MODULE: &str = "model.py";
const PYTORCH_WEIGHTS: &str = "weights.safetensors";

fn write(path: &Path, bytes: &[u8]) -> Result<()> {
    std::fs::write(path, bytes).with_context(|| format!("cannot write {}", path.display()))
}

/// Refuses to overwrite a file, or a folder that is not empty, unless `force`.
fn refuse_existing(path: &Path, force: bool) -> Result<()> {
    let empty_folder =
        path.is_dir() && std::fs::read_dir(path).is_ok_and(|mut entries| entries.next().is_none());
    if path.exists() && !empty_folder && !force {
        bail!(
            "{} already exists; choose another path or pass --force to overwrite it",
            path.display()
        );
    }
    Ok(())
}

/// Images and the logits adjacent computes for them, for checking an export elsewhere.
#[derive(Serialize)]
struct Reference {
    /// `[batch, channels, height, width]`.
    shape: [usize; 4],
    /// Pixels in [0, 1], row-major.
    images: Vec<f32>,
    /// `[batch, classes]`, row-major.
    logits: Vec<f32>,
}

fn reference(
    model: &Network,
    shape: [usize; 4],
    norm: &adjacent_data::Normalization,
    device: &Device,
) -> Reference {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
    let images: Vec<f32> = (0..shape.iter().product::<usize>())
        .map(|_| rng.random::<f32>())
        .collect();
    let logits = onnx::reference_logits(model, &images, shape, norm, device);
    Reference {
        shape,
        images,
        logits,
    }
}
