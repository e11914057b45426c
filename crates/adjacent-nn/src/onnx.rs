//! ONNX export: a trained [`Network`] as an ONNX model (opset 17) in inference mode, with its
//! weights and batch-norm statistics as initializers.
//!
//! The model takes `images`, `[batch, channels, height, width]` float pixels in [0, 1] (raw pixels
//! divided by 255, the batch dimension dynamic), normalizes them inside the graph with the model
//! card's per-channel mean and standard deviation, and returns `logits`, `[batch, classes]`. Batch
//! norm stays a `BatchNormalization` node (inference mode, running statistics), not folded into
//! the convolutions, so that every weight of the saved model is in the file under a name that
//! says where it belongs (`stages.0.1.edges.3.conv.weight` is what burn calls it too).

use adjacent_core::spaces::nb201::EDGES;
use burn::module::Module;
use burn::nn::conv::Conv2d;
use burn::nn::pool::AvgPool2d;
use burn::nn::{BatchNorm, PaddingConfig2d};
use burn::tensor::{Device, Tensor, TensorData};
use prost::Message;

use adjacent_data::Normalization;

use crate::checkpoint::ModelCard;
use crate::error::NnError;
use crate::net::{CellModule, Edge, Network, Reduction, ReluConvBn};
use crate::onnx_proto as pb;

/// The ONNX operator set the exported graph uses.
pub const OPSET: i64 = 17;
/// The ONNX IR version written (IR 8 is what opset 17 was released with).
pub const IR_VERSION: i64 = 8;
/// The name of the graph's input: float pixels in [0, 1], NCHW.
pub const INPUT: &str = "images";
/// The name of the graph's output: the classifier's logits.
pub const OUTPUT: &str = "logits";

/// `model` (of the architecture `card` describes) as the bytes of an ONNX file.
pub fn export(model: &Network, card: &ModelCard) -> Result<Vec<u8>, NnError> {
    let channels = card.arch.input_channels;
    if card.normalization.mean.len() != channels || card.normalization.std.len() != channels {
        return Err(bad(format!(
            "the model card's normalization has {} means and {} standard deviations for {} input channels",
            card.normalization.mean.len(),
            card.normalization.std.len(),
            channels
        )));
    }
    let mut g = Graph::default();
    // (x - mean) / std, per channel, as adjacent's loader does before the network sees an image.
    let mean = g.constant(
        "normalize.mean",
        &[1, channels, 1, 1],
        &card.normalization.mean,
    );
    let std = g.constant(
        "normalize.std",
        &[1, channels, 1, 1],
        &card.normalization.std,
    );
    let centred = g.node("Sub", "normalize.sub", &[INPUT, &mean], vec![]);
    let mut x = g.node("Div", "normalize.div", &[&centred, &std], vec![]);

    x = g.conv(&model.stem_conv, "stem_conv", &x)?;
    x = g.batch_norm(&model.stem_bn, "stem_bn", &x);
    for (s, cells) in model.stages.iter().enumerate() {
        if s > 0 {
            x = g.reduction(
                &model.reductions[s - 1],
                &format!("reductions.{}", s - 1),
                &x,
            )?;
        }
        for (i, cell) in cells.iter().enumerate() {
            x = g.cell(cell, &format!("stages.{s}.{i}"), &x)?;
        }
    }
    x = g.batch_norm(&model.head_bn, "head_bn", &x);
    x = g.node("Relu", "head_relu", &[&x], vec![]);
    x = g.node("GlobalAveragePool", "head_pool", &[&x], vec![]);
    x = g.node("Flatten", "head_flatten", &[&x], vec![int("axis", 1)]);
    // burn keeps a linear layer's weight as [inputs, outputs]: Gemm's B without transposing.
    let weight = g.initializer("classifier.weight", model.classifier.weight.val());
    let mut inputs = vec![x, weight];
    if let Some(bias) = &model.classifier.bias {
        inputs.push(g.initializer("classifier.bias", bias.val()));
    }
    let inputs: Vec<&str> = inputs.iter().map(String::as_str).collect();
    g.node("Gemm", OUTPUT, &inputs, vec![]);

    let image = [
        Dim::Param("batch"),
        Dim::Value(channels),
        Dim::Value(card.height),
        Dim::Value(card.width),
    ];
    let graph = pb::GraphProto {
        name: "adjacent".into(),
        node: g.nodes,
        initializer: g.initializers,
        input: vec![value_info(INPUT, &image)],
        output: vec![value_info(
            OUTPUT,
            &[Dim::Param("batch"), Dim::Value(card.arch.classes)],
        )],
        doc_string: format!(
            "adjacent network; input: float pixels in [0, 1] (raw / 255), NCHW; classes: {}",
            card.class_names.join(", ")
        ),
        ..Default::default()
    };
    let model = pb::ModelProto {
        ir_version: IR_VERSION,
        opset_import: vec![pb::OperatorSetIdProto {
            domain: String::new(),
            version: OPSET,
        }],
        producer_name: "adjacent".into(),
        producer_version: env!("CARGO_PKG_VERSION").into(),
        graph: Some(graph),
        metadata_props: vec![pb::StringStringEntryProto {
            key: "class_names".into(),
            value: serde_json::to_string(&card.class_names).expect("strings serialize"),
        }],
        ..Default::default()
    };
    Ok(model.encode_to_vec())
}

/// `model`'s logits, `[batch, classes]` row-major, for images of `shape` given as pixels in
/// [0, 1]: what the exported graph must compute for the same input.
pub fn reference_logits(
    model: &Network,
    pixels: &[f32],
    shape: [usize; 4],
    norm: &Normalization,
    device: &Device,
) -> Vec<f32> {
    let plane = shape[2] * shape[3];
    let normalized: Vec<f32> = pixels
        .iter()
        .enumerate()
        .map(|(i, &p)| {
            let c = (i / plane) % shape[1];
            (p - norm.mean[c]) / norm.std[c]
        })
        .collect();
    let x = Tensor::<4>::from_data(TensorData::new(normalized, shape), device);
    model
        .valid()
        .forward(x)
        .into_data()
        .try_to_vec::<f32>()
        .expect("f32 logits")
}

fn bad(reason: String) -> NnError {
    NnError::InvalidSetting {
        field: "onnx export".into(),
        reason,
    }
}

/// The nodes and initializers of a graph being built; every value is named after the module that
/// makes it.
#[derive(Default)]
struct Graph {
    nodes: Vec<pb::NodeProto>,
    initializers: Vec<pb::TensorProto>,
}

impl Graph {
    /// Adds the node `op` named `name`, whose one output is named `name` too.
    fn node(
        &mut self,
        op: &str,
        name: &str,
        inputs: &[&str],
        attribute: Vec<pb::AttributeProto>,
    ) -> String {
        self.nodes.push(pb::NodeProto {
            input: inputs.iter().map(|s| s.to_string()).collect(),
            output: vec![name.to_string()],
            name: name.to_string(),
            op_type: op.to_string(),
            attribute,
            ..Default::default()
        });
        name.to_string()
    }

    fn constant(&mut self, name: &str, dims: &[usize], values: &[f32]) -> String {
        self.initializers.push(pb::TensorProto {
            dims: dims.iter().map(|&d| d as i64).collect(),
            data_type: pb::tensor_proto::DataType::Float as i32,
            name: name.to_string(),
            raw_data: values.iter().flat_map(|v| v.to_le_bytes()).collect(),
            ..Default::default()
        });
        name.to_string()
    }

    fn initializer<const D: usize>(&mut self, name: &str, tensor: Tensor<D>) -> String {
        let dims = tensor.dims();
        let values = tensor
            .into_data()
            .convert::<f32>()
            .try_to_vec::<f32>()
            .expect("a float tensor converts to f32");
        self.constant(name, &dims, &values)
    }

    fn conv(&mut self, conv: &Conv2d, name: &str, x: &str) -> Result<String, NnError> {
        if conv.groups != 1 || conv.dilation != [1, 1] {
            return Err(bad(format!(
                "{name}: grouped or dilated convolutions are not exported"
            )));
        }
        let mut inputs = vec![
            x.to_string(),
            self.initializer(&format!("{name}.weight"), conv.weight.val()),
        ];
        if let Some(bias) = &conv.bias {
            inputs.push(self.initializer(&format!("{name}.bias"), bias.val()));
        }
        let inputs: Vec<&str> = inputs.iter().map(String::as_str).collect();
        let attributes = vec![
            ints("kernel_shape", &conv.kernel_size),
            ints("strides", &conv.stride),
            ints("pads", &pads(&conv.padding, name)?),
        ];
        Ok(self.node("Conv", name, &inputs, attributes))
    }

    fn batch_norm(&mut self, bn: &BatchNorm, name: &str, x: &str) -> String {
        let inputs = [
            x.to_string(),
            self.initializer(&format!("{name}.gamma"), bn.gamma.val()),
            self.initializer(&format!("{name}.beta"), bn.beta.val()),
            self.initializer(
                &format!("{name}.running_mean"),
                bn.running_mean.value_sync(),
            ),
            self.initializer(&format!("{name}.running_var"), bn.running_var.value_sync()),
        ];
        let inputs: Vec<&str> = inputs.iter().map(String::as_str).collect();
        let epsilon = float("epsilon", bn.epsilon as f32);
        self.node("BatchNormalization", name, &inputs, vec![epsilon])
    }

    fn relu_conv_bn(&mut self, op: &ReluConvBn, name: &str, x: &str) -> Result<String, NnError> {
        let x = self.node("Relu", &format!("{name}.relu"), &[x], vec![]);
        let x = self.conv(&op.conv, &format!("{name}.conv"), &x)?;
        Ok(self.batch_norm(&op.bn, &format!("{name}.bn"), &x))
    }

    fn avg_pool(&mut self, pool: &AvgPool2d, name: &str, x: &str) -> Result<String, NnError> {
        let attributes = vec![
            ints("kernel_shape", &pool.kernel_size),
            ints("strides", &pool.stride),
            ints("pads", &pads(&pool.padding, name)?),
            int("count_include_pad", pool.count_include_pad as i64),
            int("ceil_mode", pool.ceil_mode as i64),
        ];
        Ok(self.node("AveragePool", name, &[x], attributes))
    }

    fn reduction(&mut self, r: &Reduction, name: &str, x: &str) -> Result<String, NnError> {
        let a = self.relu_conv_bn(&r.conv_a, &format!("{name}.conv_a"), x)?;
        let b = self.relu_conv_bn(&r.conv_b, &format!("{name}.conv_b"), &a)?;
        let pooled = self.avg_pool(&r.pool, &format!("{name}.pool"), x)?;
        let shortcut = self.conv(&r.shortcut, &format!("{name}.shortcut"), &pooled)?;
        Ok(self.node("Add", &format!("{name}.add"), &[&b, &shortcut], vec![]))
    }

    /// A cell as its DAG: node j is the sum of its edges from the nodes before it; edges from a
    /// node that carries nothing, and `none` edges, are left out, as `CellModule::forward` does.
    fn cell(&mut self, cell: &CellModule, name: &str, x: &str) -> Result<String, NnError> {
        let mut nodes: [Option<String>; 4] = [Some(x.to_string()), None, None, None];
        for (e, &(from, to)) in EDGES.iter().enumerate() {
            let Some(input) = nodes[from].clone() else {
                continue;
            };
            let edge = format!("{name}.edges.{e}");
            let out = match &cell.edges[e] {
                Edge::None(_) => continue,
                Edge::Skip(_) => input,
                Edge::Conv(op) => self.relu_conv_bn(op, &edge, &input)?,
                Edge::Pool(pool) => self.avg_pool(pool, &format!("{edge}.pool"), &input)?,
            };
            nodes[to] = Some(match nodes[to].take() {
                Some(sum) => self.node(
                    "Add",
                    &format!("{name}.node{to}.add{e}"),
                    &[&sum, &out],
                    vec![],
                ),
                None => out,
            });
        }
        Ok(match nodes[3].take() {
            Some(out) => out,
            // No path from input to output: the cell computes zeros of its input's shape.
            None => {
                let zero = self.constant(&format!("{name}.zero"), &[], &[0.0]);
                self.node("Mul", &format!("{name}.zeros"), &[x, &zero], vec![])
            }
        })
    }
}

/// ONNX's pads, `[top, left, bottom, right]`, which is the order of burn's explicit padding.
fn pads(padding: &PaddingConfig2d, name: &str) -> Result<[usize; 4], NnError> {
    match padding {
        PaddingConfig2d::Valid => Ok([0; 4]),
        PaddingConfig2d::Explicit(top, left, bottom, right) => Ok([*top, *left, *bottom, *right]),
        PaddingConfig2d::Same => Err(bad(format!(
            "{name}: `same` padding depends on the input size and is not exported"
        ))),
    }
}

fn attribute(name: &str, kind: pb::attribute_proto::AttributeType) -> pb::AttributeProto {
    pb::AttributeProto {
        name: name.into(),
        r#type: kind as i32,
        ..Default::default()
    }
}

fn int(name: &str, value: i64) -> pb::AttributeProto {
    pb::AttributeProto {
        i: value,
        ..attribute(name, pb::attribute_proto::AttributeType::Int)
    }
}

fn ints(name: &str, values: &[usize]) -> pb::AttributeProto {
    pb::AttributeProto {
        ints: values.iter().map(|&v| v as i64).collect(),
        ..attribute(name, pb::attribute_proto::AttributeType::Ints)
    }
}

fn float(name: &str, value: f32) -> pb::AttributeProto {
    pb::AttributeProto {
        f: value,
        ..attribute(name, pb::attribute_proto::AttributeType::Float)
    }
}

enum Dim {
    Value(usize),
    Param(&'static str),
}

fn value_info(name: &str, dims: &[Dim]) -> pb::ValueInfoProto {
    use pb::tensor_shape_proto::{Dimension, dimension::Value};
    let dim = dims
        .iter()
        .map(|d| Dimension {
            value: Some(match d {
                Dim::Value(v) => Value::DimValue(*v as i64),
                Dim::Param(p) => Value::DimParam(p.to_string()),
            }),
            ..Default::default()
        })
        .collect();
    pb::ValueInfoProto {
        name: name.into(),
        r#type: Some(pb::TypeProto {
            value: Some(pb::type_proto::Value::TensorType(pb::type_proto::Tensor {
                elem_type: pb::tensor_proto::DataType::Float as i32,
                shape: Some(pb::TensorShapeProto { dim }),
            })),
            ..Default::default()
        }),
        ..Default::default()
    }
}
