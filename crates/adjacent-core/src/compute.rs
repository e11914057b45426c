//! Compute: what training and validation cost, counted from the static cost model, so that searches
//! over networks of different sizes can be given the same budget.
//!
//! The unit is the cost model's: one FLOP is one multiply-add of a forward pass, as NAS-Bench-201
//! and most NAS papers count them (batch norm, pooling and activations are not counted). A training
//! image costs a forward and a backward pass, and the backward pass is counted as twice the forward
//! (the gradients with respect to the inputs and to the weights: Kaplan et al. 2020's convention);
//! a validation image costs one forward pass.

use crate::error::CoreError;

/// Forward-pass equivalents of one training image: the forward pass and a backward pass of twice
/// its cost.
pub const TRAIN_PASSES: u64 = 3;

/// FLOPs of training on `images` images, for a network whose forward pass costs `forward` FLOPs.
pub fn training_flops(forward: u64, images: u64) -> u64 {
    TRAIN_PASSES * forward * images
}

/// FLOPs of evaluating (forward only) `images` images.
pub fn eval_flops(forward: u64, images: u64) -> u64 {
    forward * images
}

/// The most training images that fit in `flops`, for a network whose forward pass costs `forward`.
pub fn images_within(flops: u64, forward: u64) -> u64 {
    flops / (TRAIN_PASSES * forward.max(1))
}

/// Parses a compute budget: a plain or scientific number (`25000000000000`, `2.5e13`) or a number
/// with an SI suffix (`25T`, `2.5 T`, `800G`, `1.2P`; k, M, G, T, P, E, case-sensitive but for k).
pub fn parse_flops(text: &str) -> Result<u64, CoreError> {
    let bad = |reason: &str| CoreError::InvalidSetting {
        field: "budget-flops".into(),
        reason: format!("{text:?} {reason}"),
    };
    let trimmed = text.trim();
    let (number, scale) = match trimmed.chars().last() {
        Some(c) if c.is_ascii_alphabetic() && c != 'e' => {
            let scale = match c {
                'k' | 'K' => 1e3,
                'M' => 1e6,
                'G' => 1e9,
                'T' => 1e12,
                'P' => 1e15,
                'E' => 1e18,
                _ => {
                    return Err(bad(
                        "has an unknown suffix; use k, M, G, T, P or E (e.g. 25T)",
                    ));
                }
            };
            (trimmed[..trimmed.len() - 1].trim_end(), scale)
        }
        _ => (trimmed, 1.0),
    };
    let value: f64 = number
        .parse()
        .map_err(|_| bad("is not a number (e.g. 2.5e13 or 25T)"))?;
    let flops = value * scale;
    if !(flops.is_finite() && flops >= 1.0) {
        return Err(bad("must be a positive number of FLOPs"));
    }
    if flops >= u64::MAX as f64 {
        return Err(bad("is too large"));
    }
    Ok(flops.round() as u64)
}

/// A compute figure for people: `5.34 TFLOPs`.
pub fn format_flops(flops: u64) -> String {
    let f = flops as f64;
    let (value, unit) = match f {
        f if f >= 1e15 => (f / 1e15, "P"),
        f if f >= 1e12 => (f / 1e12, "T"),
        f if f >= 1e9 => (f / 1e9, "G"),
        f if f >= 1e6 => (f / 1e6, "M"),
        f => (f, ""),
    };
    format!("{value:.3} {unit}FLOPs")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budgets_parse_in_both_notations() {
        assert_eq!(parse_flops("2.5e13").unwrap(), 25_000_000_000_000);
        assert_eq!(parse_flops("25T").unwrap(), 25_000_000_000_000);
        assert_eq!(parse_flops(" 25 T ").unwrap(), 25_000_000_000_000);
        assert_eq!(parse_flops("800G").unwrap(), 800_000_000_000);
        assert_eq!(parse_flops("1.5P").unwrap(), 1_500_000_000_000_000);
        assert_eq!(parse_flops("3k").unwrap(), 3000);
        assert_eq!(parse_flops("1E").unwrap(), 1_000_000_000_000_000_000);
        assert_eq!(parse_flops("123").unwrap(), 123);
        for bad in ["", "T", "25X", "-3T", "0", "nan", "1e400", "2.5e"] {
            let err = parse_flops(bad).unwrap_err().to_string();
            assert!(err.contains("budget-flops"), "{bad}: {err}");
        }
    }

    #[test]
    fn training_costs_three_forward_passes() {
        assert_eq!(training_flops(1000, 10), 30_000);
        assert_eq!(eval_flops(1000, 10), 10_000);
        assert_eq!(images_within(30_000, 1000), 10);
        assert_eq!(images_within(29_999, 1000), 9);
        assert_eq!(format_flops(5_340_000_000_000), "5.340 TFLOPs");
    }
}
