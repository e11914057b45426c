//! PyTorch export: a self-contained `model.py` (an `nn.Module` that builds the architecture,
//! meant to be read) and the trained weights as a safetensors state dict under that module's names.
//!
//! The names are adjacent's own module paths (`stages.0.1.edges.3.conv.weight`), with PyTorch's
//! conventions where they differ: batch norm's `weight`/`bias` for burn's `gamma`/`beta` (and the
//! `num_batches_tracked` PyTorch keeps), and the classifier's weight as `[classes, features]`.

use std::collections::BTreeMap;

use burn::nn::BatchNorm;
use burn::nn::conv::Conv2d;
use burn::tensor::Tensor;
use safetensors::tensor::{Dtype, TensorView};

use crate::checkpoint::ModelCard;
use crate::error::NnError;
use crate::net::{Edge, Network, ReluConvBn};

/// The module file's template; `{ARCH}` becomes the architecture as JSON.
const MODEL_PY: &str = include_str!("pytorch_model.py");

/// The text of `model.py` for the architecture `card` describes.
pub fn model_py(model: &Network, card: &ModelCard) -> String {
    let stages: Vec<Vec<Vec<&str>>> = card
        .arch
        .stages
        .iter()
        .map(|cells| {
            cells
                .iter()
                .map(|cell| cell.ops().iter().map(|op| op.name()).collect())
                .collect()
        })
        .collect();
    let arch = serde_json::json!({
        "channels": card.arch.channels,
        "stages": stages,
        "input_channels": card.arch.input_channels,
        "height": card.height,
        "width": card.width,
        "classes": card.arch.classes,
        "class_names": card.class_names,
        "mean": card.normalization.mean,
        "std": card.normalization.std,
        "bn_epsilon": model.stem_bn.epsilon,
        "genotypes": card
            .arch
            .stages
            .iter()
            .map(|cells| cells.iter().map(|c| c.to_string()).collect::<Vec<_>>())
            .collect::<Vec<_>>(),
    });
    let arch = serde_json::to_string_pretty(&arch).expect("an architecture serializes");
    MODEL_PY.replace("{ARCH}", &arch)
}

/// One tensor of the state dict: its shape and its values.
enum Values {
    F32(Vec<usize>, Vec<f32>),
    I64(Vec<usize>, Vec<i64>),
}

/// `model`'s weights and batch-norm statistics as the bytes of a safetensors file whose names are
/// those of `model.py`'s module.
pub fn state_dict(model: &Network) -> Result<Vec<u8>, NnError> {
    let mut dict = BTreeMap::new();
    conv(&mut dict, "stem_conv", &model.stem_conv);
    batch_norm(&mut dict, "stem_bn", &model.stem_bn);
    for (s, cells) in model.stages.iter().enumerate() {
        for (i, cell) in cells.iter().enumerate() {
            for (e, edge) in cell.edges.iter().enumerate() {
                if let Edge::Conv(op) = edge {
                    relu_conv_bn(&mut dict, &format!("stages.{s}.{i}.edges.{e}"), op);
                }
            }
        }
    }
    for (r, reduction) in model.reductions.iter().enumerate() {
        let name = format!("reductions.{r}");
        relu_conv_bn(&mut dict, &format!("{name}.conv_a"), &reduction.conv_a);
        relu_conv_bn(&mut dict, &format!("{name}.conv_b"), &reduction.conv_b);
        conv(&mut dict, &format!("{name}.shortcut"), &reduction.shortcut);
    }
    batch_norm(&mut dict, "head_bn", &model.head_bn);
    // PyTorch's linear weight is [outputs, inputs]; burn's is [inputs, outputs].
    tensor(
        &mut dict,
        "classifier.weight",
        model.classifier.weight.val().transpose(),
    );
    if let Some(bias) = &model.classifier.bias {
        tensor(&mut dict, "classifier.bias", bias.val());
    }

    let bytes: BTreeMap<&String, (Dtype, &[usize], Vec<u8>)> = dict
        .iter()
        .map(|(name, values)| {
            let entry = match values {
                Values::F32(shape, v) => (
                    Dtype::F32,
                    shape.as_slice(),
                    v.iter().flat_map(|x| x.to_le_bytes()).collect(),
                ),
                Values::I64(shape, v) => (
                    Dtype::I64,
                    shape.as_slice(),
                    v.iter().flat_map(|x| x.to_le_bytes()).collect(),
                ),
            };
            (name, entry)
        })
        .collect();
    let views = bytes
        .iter()
        .map(|(name, (dtype, shape, data))| {
            TensorView::new(*dtype, shape.to_vec(), data).map(|view| (name.to_string(), view))
        })
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| bad(format!("a tensor does not fit its shape: {e}")))?;
    safetensors::serialize(views, None).map_err(|e| bad(format!("cannot serialize: {e}")))
}

fn bad(reason: String) -> NnError {
    NnError::InvalidSetting {
        field: "pytorch export".into(),
        reason,
    }
}

fn tensor<const D: usize>(dict: &mut BTreeMap<String, Values>, name: &str, t: Tensor<D>) {
    let shape = t.dims().to_vec();
    let values = t
        .into_data()
        .convert::<f32>()
        .try_to_vec::<f32>()
        .expect("a float tensor converts to f32");
    dict.insert(name.to_string(), Values::F32(shape, values));
}

fn conv(dict: &mut BTreeMap<String, Values>, name: &str, conv: &Conv2d) {
    tensor(dict, &format!("{name}.weight"), conv.weight.val());
    if let Some(bias) = &conv.bias {
        tensor(dict, &format!("{name}.bias"), bias.val());
    }
}

fn batch_norm(dict: &mut BTreeMap<String, Values>, name: &str, bn: &BatchNorm) {
    tensor(dict, &format!("{name}.weight"), bn.gamma.val());
    tensor(dict, &format!("{name}.bias"), bn.beta.val());
    tensor(
        dict,
        &format!("{name}.running_mean"),
        bn.running_mean.value_sync(),
    );
    tensor(
        dict,
        &format!("{name}.running_var"),
        bn.running_var.value_sync(),
    );
    dict.insert(
        format!("{name}.num_batches_tracked"),
        Values::I64(vec![], vec![0]),
    );
}

fn relu_conv_bn(dict: &mut BTreeMap<String, Values>, name: &str, op: &ReluConvBn) {
    conv(dict, &format!("{name}.conv"), &op.conv);
    batch_norm(dict, &format!("{name}.bn"), &op.bn);
}
