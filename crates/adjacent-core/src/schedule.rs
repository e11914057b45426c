//! Learning-rate schedules: constant, cosine, SGDR warm restarts (Loshchilov and Hutter 2017),
//! triangular cyclic learning rates (Smith 2017) and one-cycle (Smith and Topin 2019).
//!
//! A schedule maps training progress, in (fractional) epochs, to a learning rate. The text form is
//! `NAME` or `NAME:key=value,key=value`, e.g. `sgdr:t0=2,tmult=2` or `triangular:half=1,min=0.01`.

use std::f64::consts::PI;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::CoreError;

/// A learning-rate schedule.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "name", rename_all = "lowercase")]
pub enum Schedule {
    /// The base rate throughout.
    Constant,
    /// Cosine annealing from the base rate to 0 over the whole run.
    Cosine,
    /// Cosine annealing restarted at the base rate (a warm restart) after `t0` epochs, then after
    /// `t0 * tmult`, `t0 * tmult^2`, ... epochs.
    Sgdr { t0: f64, tmult: f64 },
    /// Triangular cycles: the rate climbs linearly from `min * base` to the base rate over `half`
    /// epochs, then falls back over `half` epochs, and so on.
    Triangular { half: f64, min: f64 },
    /// One cycle: a cosine warm-up from `base / div` to the base rate over the first `warmup`
    /// fraction of the run, then cosine annealing to `base / (div * final_div)`.
    OneCycle {
        warmup: f64,
        div: f64,
        final_div: f64,
    },
}

impl Schedule {
    /// Every schedule's name.
    pub const NAMES: [&'static str; 5] = ["constant", "cosine", "sgdr", "triangular", "onecycle"];

    /// The learning rate at `progress` epochs into a run of `total` epochs with base rate `base`.
    pub fn lr(&self, base: f64, progress: f64, total: f64) -> f64 {
        let cosine = |from: f64, to: f64, fraction: f64| {
            to + (from - to) * 0.5 * (1.0 + (PI * fraction.clamp(0.0, 1.0)).cos())
        };
        match *self {
            Schedule::Constant => base,
            Schedule::Cosine => cosine(base, 0.0, progress / total),
            Schedule::Sgdr { t0, tmult } => {
                let (mut start, mut length) = (0.0, t0);
                while progress >= start + length {
                    start += length;
                    length *= tmult;
                }
                cosine(base, 0.0, (progress - start) / length)
            }
            Schedule::Triangular { half, min } => {
                let low = base * min;
                let position = (progress / half) % 2.0;
                let rise = if position <= 1.0 {
                    position
                } else {
                    2.0 - position
                };
                low + (base - low) * rise
            }
            Schedule::OneCycle {
                warmup,
                div,
                final_div,
            } => {
                let peak_at = warmup * total;
                if progress < peak_at {
                    cosine(base / div, base, progress / peak_at)
                } else {
                    cosine(
                        base,
                        base / (div * final_div),
                        (progress - peak_at) / (total - peak_at),
                    )
                }
            }
        }
    }
}

impl FromStr for Schedule {
    type Err = CoreError;

    fn from_str(text: &str) -> Result<Self, CoreError> {
        let (name, params) = text.split_once(':').unwrap_or((text, ""));
        let bad = |reason: String| CoreError::InvalidSetting {
            field: "schedule".into(),
            reason,
        };
        let mut values: Vec<(&str, f64)> = Vec::new();
        for pair in params.split(',').filter(|p| !p.is_empty()) {
            let (k, v) = pair
                .split_once('=')
                .ok_or_else(|| bad(format!("{pair:?} is not key=value")))?;
            let v: f64 = v
                .parse()
                .ok()
                .filter(|v: &f64| v.is_finite())
                .ok_or_else(|| bad(format!("{k}={v:?} is not a number")))?;
            values.push((k, v));
        }
        let known: &[&str] = match name {
            "constant" | "cosine" => &[],
            "sgdr" => &["t0", "tmult"],
            "triangular" => &["half", "min"],
            "onecycle" => &["warmup", "div", "final_div"],
            _ => {
                return Err(bad(format!(
                    "unknown schedule {name:?}; valid schedules: {}",
                    Schedule::NAMES.join(", ")
                )));
            }
        };
        if let Some((k, _)) = values.iter().find(|(k, _)| !known.contains(k)) {
            return Err(bad(format!(
                "{name} has no parameter {k:?}; its parameters: {}",
                if known.is_empty() {
                    "none".to_string()
                } else {
                    known.join(", ")
                }
            )));
        }
        let get = |k: &str, default: f64| {
            values
                .iter()
                .rev()
                .find(|(n, _)| *n == k)
                .map_or(default, |(_, v)| *v)
        };
        let positive = |k: &str, v: f64| {
            if v > 0.0 {
                Ok(v)
            } else {
                Err(bad(format!("{name}: {k} must be positive, got {v}")))
            }
        };
        Ok(match name {
            "constant" => Schedule::Constant,
            "cosine" => Schedule::Cosine,
            "sgdr" => {
                let tmult = get("tmult", 2.0);
                if tmult < 1.0 {
                    return Err(bad(format!("sgdr: tmult must be at least 1, got {tmult}")));
                }
                Schedule::Sgdr {
                    t0: positive("t0", get("t0", 1.0))?,
                    tmult,
                }
            }
            "triangular" => {
                let min = get("min", 0.1);
                if !(0.0..=1.0).contains(&min) {
                    return Err(bad(format!("triangular: min must be in [0, 1], got {min}")));
                }
                Schedule::Triangular {
                    half: positive("half", get("half", 1.0))?,
                    min,
                }
            }
            _ => {
                let warmup = get("warmup", 0.3);
                if !(warmup > 0.0 && warmup < 1.0) {
                    return Err(bad(format!(
                        "onecycle: warmup must be in (0, 1), got {warmup}"
                    )));
                }
                Schedule::OneCycle {
                    warmup,
                    div: positive("div", get("div", 25.0))?,
                    final_div: positive("final_div", get("final_div", 1e4))?,
                }
            }
        })
    }
}

impl fmt::Display for Schedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Schedule::Constant => write!(f, "constant"),
            Schedule::Cosine => write!(f, "cosine"),
            Schedule::Sgdr { t0, tmult } => write!(f, "sgdr:t0={t0},tmult={tmult}"),
            Schedule::Triangular { half, min } => write!(f, "triangular:half={half},min={min}"),
            Schedule::OneCycle {
                warmup,
                div,
                final_div,
            } => {
                write!(
                    f,
                    "onecycle:warmup={warmup},div={div},final_div={final_div}"
                )
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9
    }

    #[test]
    fn constant_and_cosine_at_known_points() {
        assert!(close(Schedule::Constant.lr(0.1, 7.3, 10.0), 0.1));
        let c = Schedule::Cosine;
        assert!(close(c.lr(0.1, 0.0, 10.0), 0.1));
        assert!(close(c.lr(0.1, 5.0, 10.0), 0.05));
        assert!(close(c.lr(0.1, 10.0, 10.0), 0.0));
        assert!(close(c.lr(0.1, 2.5, 10.0), 0.05 * (1.0 + (PI / 4.0).cos())));
    }

    #[test]
    fn sgdr_restarts_at_t0_then_t0_tmult() {
        let s: Schedule = "sgdr:t0=1,tmult=2".parse().unwrap();
        assert!(close(s.lr(0.1, 0.0, 10.0), 0.1));
        assert!(close(s.lr(0.1, 0.5, 10.0), 0.05));
        assert!(s.lr(0.1, 0.999, 10.0) < 1e-5);
        // Warm restart at epoch 1; the second cycle lasts 2 epochs, the third 4.
        assert!(close(s.lr(0.1, 1.0, 10.0), 0.1));
        assert!(close(s.lr(0.1, 2.0, 10.0), 0.05));
        assert!(close(s.lr(0.1, 3.0, 10.0), 0.1));
        assert!(close(s.lr(0.1, 5.0, 10.0), 0.05));
        assert!(close(s.lr(0.1, 7.0, 10.0), 0.1));
    }

    #[test]
    fn triangular_climbs_and_falls() {
        let s: Schedule = "triangular:half=2,min=0.1".parse().unwrap();
        assert!(close(s.lr(1.0, 0.0, 10.0), 0.1));
        assert!(close(s.lr(1.0, 1.0, 10.0), 0.55));
        assert!(close(s.lr(1.0, 2.0, 10.0), 1.0));
        assert!(close(s.lr(1.0, 3.0, 10.0), 0.55));
        assert!(close(s.lr(1.0, 4.0, 10.0), 0.1));
        assert!(close(s.lr(1.0, 6.0, 10.0), 1.0));
    }

    #[test]
    fn onecycle_warms_up_then_anneals() {
        let s: Schedule = "onecycle".parse().unwrap();
        assert!(close(s.lr(1.0, 0.0, 10.0), 1.0 / 25.0));
        assert!(close(s.lr(1.0, 3.0, 10.0), 1.0));
        assert!(close(s.lr(1.0, 10.0, 10.0), 1.0 / 25.0 / 1e4));
        assert!(s.lr(1.0, 1.5, 10.0) > 0.4 && s.lr(1.0, 1.5, 10.0) < 0.6);
    }

    #[test]
    fn text_form_round_trips_and_bad_input_names_the_problem() {
        for text in [
            "constant",
            "cosine",
            "sgdr:t0=3,tmult=1",
            "triangular:half=0.5,min=0",
            "onecycle:warmup=0.25,div=10,final_div=100",
        ] {
            let s: Schedule = text.parse().unwrap();
            assert_eq!(s.to_string().parse::<Schedule>().unwrap(), s);
        }
        let err = |t: &str| t.parse::<Schedule>().unwrap_err().to_string();
        assert!(
            err("step").contains("valid schedules: constant, cosine, sgdr, triangular, onecycle")
        );
        assert!(err("sgdr:t=1").contains("sgdr has no parameter \"t\"; its parameters: t0, tmult"));
        assert!(err("sgdr:t0=x").contains("t0=\"x\" is not a number"));
        assert!(err("sgdr:t0=0").contains("t0 must be positive"));
        assert!(err("cosine:x=1").contains("its parameters: none"));
        assert!(err("onecycle:warmup=1").contains("warmup must be in (0, 1)"));
    }
}
