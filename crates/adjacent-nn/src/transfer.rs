//! Weight transfer for network morphisms: a child built from its parent's trained weights, so that
//! it starts where the parent ended instead of from scratch.

use adjacent_core::morphism::{Morphism, identity_cell};
use adjacent_core::network::NetworkArch;
use adjacent_core::spaces::nb201::Op;
use burn::module::{Module, Param};
use burn::tensor::ops::PadMode;
use burn::tensor::{Device, Tensor};

use crate::error::NnError;
use crate::net::{CellModule, Edge, Network, ReluConvBn};

/// A copy of `parent` that shares nothing with it. burn's `clone` shares parameter ids and the
/// batch-norm running statistics (one store for all clones), so training a clone would move the
/// parent's statistics; a copy through a record does not.
pub fn independent_copy(
    parent: &Network,
    arch: &NetworkArch,
    device: &Device,
) -> Result<Network, NnError> {
    // `valid` folds pending batch-norm statistics in first.
    let record = parent.valid().into_record();
    Network::new(arch, device)
        .try_load_record(record)
        .map_err(|e| NnError::InvalidSetting {
            field: "parent".into(),
            reason: format!("the parent's weights do not fit its architecture: {e}"),
        })
}

/// The child of `parent` (whose architecture is `arch`) under `morphism`, with its architecture.
/// Every weight of the parent that still fits is kept; new weights are chosen so that a
/// function-preserving morphism leaves the logits unchanged (in evaluation mode).
pub fn morph(
    parent: &Network,
    arch: &NetworkArch,
    morphism: &Morphism,
    device: &Device,
) -> Result<(Network, NetworkArch), NnError> {
    let child_arch = morphism.apply(arch)?;
    let mut child = independent_copy(parent, arch, device)?;
    match *morphism {
        Morphism::AddConv { at, edge, op } => {
            let c = arch.stage_channels(at.stage);
            let kernel = if op == Op::NorConv1x1 { 1 } else { 3 };
            let mut conv = ReluConvBn::new(c, c, kernel, 1, device);
            // A zero batch-norm scale (and shift) makes the new edge output zero until it learns.
            conv.bn.gamma = Param::from_tensor(Tensor::zeros([c], device));
            child.stages[at.stage][at.index].edges[edge] = Edge::Conv(conv);
        }
        Morphism::GrowKernel { at, edge } => {
            let Edge::Conv(old) = &parent.stages[at.stage][at.index].edges[edge] else {
                return Err(NnError::InvalidSetting {
                    field: "morphism".into(),
                    reason: format!("{morphism}: the parent's edge is not a convolution"),
                });
            };
            let c = arch.stage_channels(at.stage);
            let mut conv = ReluConvBn::new(c, c, 3, 1, device);
            // The 1x1 kernel in the centre of a zero 3x3 kernel: the same convolution.
            let weight = old
                .conv
                .weight
                .val()
                .pad((1, 1, 1, 1), PadMode::Constant(0.0))
                .detach();
            conv.conv.weight = Param::from_tensor(weight);
            conv.bn = old.bn.clone();
            child.stages[at.stage][at.index].edges[edge] = Edge::Conv(conv);
        }
        Morphism::InsertIdentityCell { at } => {
            let cell = CellModule::new(&identity_cell(), arch.stage_channels(at.stage), device);
            child.stages[at.stage].insert(at.index, cell);
        }
        Morphism::ReplaceOp { at, edge, op } => {
            let c = arch.stage_channels(at.stage);
            child.stages[at.stage][at.index].edges[edge] = Edge::new(op, c, device);
        }
    }
    Ok((child, child_arch))
}
