//! The architecture of a whole network in the NAS-Bench-201 skeleton, with each cell its own
//! genotype, so that cells can be grown and varied one at a time.

use serde::{Deserialize, Serialize};

use crate::cell::{Cell, Op};
use crate::error::CoreError;
use crate::space::StaticCost;

/// Number of stages in the skeleton; a residual reduction block joins consecutive stages and
/// doubles the width.
pub const STAGES: usize = 3;

/// A network: stem conv (`channels` wide), three stages of cells (widths C, 2C, 4C) joined by
/// residual reduction blocks, global average pooling and a linear head.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct NetworkArch {
    /// Width of the first stage (C).
    pub channels: usize,
    /// The cells of each stage, as NAS-Bench-201 cell strings.
    #[serde(with = "cell_strings")]
    pub stages: Vec<Vec<Cell>>,
    /// Channels of the input images.
    pub input_channels: usize,
    /// Classes of the head.
    pub classes: usize,
    /// Classes of each earlier task's head, oldest first, kept beside the classifier when a
    /// network was adapted to new classes (pre-adaptation), so that the old tasks can still be
    /// scored; the network computes only its classifier.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub heads: Vec<usize>,
}

impl NetworkArch {
    /// The benchmark's network: every stage holds `cells_per_stage` copies of `cell`.
    pub fn uniform(
        cell: Cell,
        channels: usize,
        cells_per_stage: usize,
        input_channels: usize,
        classes: usize,
    ) -> Self {
        NetworkArch {
            channels,
            stages: vec![vec![cell; cells_per_stage]; STAGES],
            input_channels,
            classes,
            heads: Vec::new(),
        }
    }

    /// Width of stage `s`.
    pub fn stage_channels(&self, stage: usize) -> usize {
        self.channels << stage
    }

    /// Checks the sizes, naming the field out of range.
    pub fn validate(&self) -> Result<(), CoreError> {
        let bad = |field: &str, reason: String| {
            Err(CoreError::InvalidSetting {
                field: field.into(),
                reason,
            })
        };
        if self.channels == 0 {
            return bad("channels", "must be at least 1".into());
        }
        if self.stages.len() != STAGES {
            return bad(
                "stages",
                format!("must list {STAGES} stages, found {}", self.stages.len()),
            );
        }
        if self.input_channels == 0 {
            return bad("input_channels", "must be at least 1".into());
        }
        if self.classes < 2 {
            return bad(
                "classes",
                format!("must be at least 2, found {}", self.classes),
            );
        }
        Ok(())
    }

    /// Trainable parameters (batch norm affine; the head has a bias) and multiply-adds of one
    /// forward pass on a `input_size` x `input_size` image. Batch norm FLOPs are not counted, as in
    /// the NAS-Bench-201 figures.
    pub fn cost(&self, input_size: usize) -> StaticCost {
        let conv = |cin: usize, cout: usize, k: usize| (cin * cout * k * k) as u64;
        let bn = |c: usize| 2 * c as u64;
        let mut c = self.channels;
        let mut hw = (input_size * input_size) as u64;
        let mut params = conv(self.input_channels, c, 3) + bn(c);
        let mut flops = hw * conv(self.input_channels, c, 3);
        for (s, cells) in self.stages.iter().enumerate() {
            if s > 0 {
                // Residual reduction: 3x3 stride-2 conv, 3x3 conv, and a 1x1 conv on the shortcut.
                let cin = c;
                c = self.stage_channels(s);
                hw /= 4;
                params += conv(cin, c, 3) + bn(c) + conv(c, c, 3) + bn(c) + conv(cin, c, 1);
                flops += hw * (conv(cin, c, 3) + conv(c, c, 3) + conv(cin, c, 1));
            }
            for op in cells.iter().flat_map(Cell::ops) {
                let k = match op {
                    Op::NorConv1x1 => 1,
                    Op::NorConv3x3 => 3,
                    _ => continue,
                };
                params += conv(c, c, k) + bn(c);
                flops += hw * conv(c, c, k);
            }
        }
        let head = (c * self.classes + self.classes) as u64;
        StaticCost {
            params: params + bn(c) + head,
            flops: flops + head,
        }
    }

    /// Trainable parameters (they do not depend on the input size).
    pub fn params(&self) -> u64 {
        self.cost(0).params
    }
}

mod cell_strings {
    use serde::{Deserialize, Deserializer, Serializer, de::Error, ser::SerializeSeq};

    use crate::cell::Cell;

    pub fn serialize<S: Serializer>(stages: &[Vec<Cell>], s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(stages.len()))?;
        for stage in stages {
            let strings: Vec<String> = stage.iter().map(Cell::to_string).collect();
            seq.serialize_element(&strings)?;
        }
        seq.end()
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Vec<Cell>>, D::Error> {
        let stages: Vec<Vec<String>> = Vec::deserialize(d)?;
        stages
            .iter()
            .map(|stage| {
                stage
                    .iter()
                    .map(|s| s.parse::<Cell>().map_err(D::Error::custom))
                    .collect()
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_cell_counts_at_its_own_stage_width() {
        let empty: Cell = "|none~0|+|none~0|none~1|+|skip_connect~0|none~1|none~2|"
            .parse()
            .unwrap();
        let base = NetworkArch::uniform(empty, 8, 2, 3, 10);
        for stage in 0..STAGES {
            let mut grown = base.clone();
            grown.stages[stage][1] = empty.with_op(1, Op::NorConv3x3);
            let c = base.stage_channels(stage) as u64;
            // One 3x3 conv (c x c x 9) and its batch norm (2c).
            assert_eq!(
                grown.params() - base.params(),
                9 * c * c + 2 * c,
                "stage {stage}"
            );
            let hw = (32u64 >> stage).pow(2);
            assert_eq!(
                grown.cost(32).flops - base.cost(32).flops,
                hw * 9 * c * c,
                "stage {stage}"
            );
        }
    }
}
