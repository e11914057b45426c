//! Batches prepared in a thread of their own while the model trains on the previous ones:
//! shuffled, augmented (random crop with padding, horizontal flip) and normalized.

use std::ops::ControlFlow;
use std::sync::mpsc::sync_channel;

use rand::seq::SliceRandom;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::{ImageSet, Normalization};

/// A batch ready for the network: normalized images `[size, channels, height, width]` and labels.
#[derive(Debug, Clone)]
pub struct Batch {
    pub images: Vec<f32>,
    pub labels: Vec<i64>,
    pub size: usize,
}

/// How to go through a set once.
#[derive(Debug, Clone, Copy)]
pub struct Plan {
    pub batch: usize,
    /// Shuffle with this seed; `None` keeps the set's order.
    pub shuffle: Option<u64>,
    /// Random crop (padding 4) and horizontal flip, drawn from the shuffle seed.
    pub augment: bool,
}

/// Batches prepared ahead of the consumer.
const PREFETCH: usize = 3;

/// Calls `consume` on every batch of `set`, in order; batches are prepared by a second thread.
/// `consume` may stop early with `ControlFlow::Break`.
pub fn for_each_batch<B>(
    set: &ImageSet,
    norm: &Normalization,
    plan: Plan,
    mut consume: impl FnMut(Batch) -> ControlFlow<B>,
) -> Option<B> {
    let mut order: Vec<usize> = (0..set.len()).collect();
    let mut rng = ChaCha8Rng::seed_from_u64(plan.shuffle.unwrap_or(0));
    if plan.shuffle.is_some() {
        order.shuffle(&mut rng);
    }
    let batch = plan.batch.max(1);
    std::thread::scope(|scope| {
        let (tx, rx) = sync_channel::<Batch>(PREFETCH);
        let order = &order;
        scope.spawn(move || {
            for chunk in order.chunks(batch) {
                let b = make_batch(set, norm, chunk, plan.augment, &mut rng);
                if tx.send(b).is_err() {
                    return; // the consumer stopped early
                }
            }
        });
        for b in rx {
            if let ControlFlow::Break(result) = consume(b) {
                return Some(result);
            }
        }
        None
    })
}

/// One batch: augmentation in pixel space (zero padding, as torchvision's RandomCrop), then
/// normalization.
pub fn make_batch(
    set: &ImageSet,
    norm: &Normalization,
    indices: &[usize],
    augment: bool,
    rng: &mut ChaCha8Rng,
) -> Batch {
    const PAD: i64 = 4;
    let (c, h, w) = (set.channels, set.height, set.width);
    let mut images = Vec::with_capacity(indices.len() * c * h * w);
    let scale: Vec<f32> = norm.std.iter().map(|s| 1.0 / (255.0 * s)).collect();
    let shift: Vec<f32> = norm
        .mean
        .iter()
        .zip(&norm.std)
        .map(|(m, s)| m / s)
        .collect();
    for &i in indices {
        let img = set.image(i);
        let (dy, dx, flip) = if augment {
            (
                rng.random_range(-PAD..=PAD),
                rng.random_range(-PAD..=PAD),
                rng.random_bool(0.5),
            )
        } else {
            (0, 0, false)
        };
        for ch in 0..c {
            let plane = &img[ch * h * w..(ch + 1) * h * w];
            for y in 0..h as i64 {
                for x in 0..w as i64 {
                    let sx = if flip { w as i64 - 1 - x } else { x } + dx;
                    let sy = y + dy;
                    let p = if sy >= 0 && sy < h as i64 && sx >= 0 && sx < w as i64 {
                        plane[sy as usize * w + sx as usize]
                    } else {
                        0
                    };
                    images.push(p as f32 * scale[ch] - shift[ch]);
                }
            }
        }
    }
    Batch {
        images,
        labels: indices.iter().map(|&i| set.labels[i] as i64).collect(),
        size: indices.len(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tiny() -> ImageSet {
        ImageSet {
            pixels: (0..5 * 2 * 3 * 3).map(|v| v as u8).collect(),
            labels: vec![0, 1, 0, 1, 1],
            channels: 2,
            height: 3,
            width: 3,
            class_names: vec!["a".into(), "b".into()],
        }
    }

    #[test]
    fn every_image_comes_once_normalized() {
        let set = tiny();
        let norm = Normalization {
            mean: vec![0.0, 0.5],
            std: vec![1.0, 0.25],
        };
        let mut seen = Vec::new();
        for_each_batch::<()>(
            &set,
            &norm,
            Plan {
                batch: 2,
                shuffle: Some(3),
                augment: false,
            },
            |b| {
                assert!(b.size <= 2);
                seen.extend(b.labels.iter().copied());
                // First pixel of each image's second channel: (p / 255 - 0.5) / 0.25.
                for k in 0..b.size {
                    let v = b.images[k * 18 + 9];
                    let p = (v * 0.25 + 0.5) * 255.0;
                    assert!((p - p.round()).abs() < 1e-3 && p.round() >= 9.0, "{p}");
                }
                ControlFlow::Continue(())
            },
        );
        seen.sort();
        assert_eq!(seen, vec![0, 0, 1, 1, 1]);
    }

    #[test]
    fn stopping_early_returns_the_value() {
        let set = tiny();
        let norm = Normalization {
            mean: vec![0.0, 0.0],
            std: vec![1.0, 1.0],
        };
        let got = for_each_batch(
            &set,
            &norm,
            Plan {
                batch: 1,
                shuffle: None,
                augment: true,
            },
            |b| {
                if b.labels[0] == 1 {
                    ControlFlow::Break(b.size)
                } else {
                    ControlFlow::Continue(())
                }
            },
        );
        assert_eq!(got, Some(1));
    }
}
