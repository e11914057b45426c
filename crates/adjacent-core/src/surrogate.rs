//! A ridge-regression model over a genotype's binary features: which choices pay, learned from the
//! trials so far. Cheap enough to refit before every proposal.

/// Accumulates (features, value) pairs and fits `value ~ mean + sum of feature weights` by ridge
/// regression.
#[derive(Debug, Clone)]
pub struct RidgeModel {
    dim: usize,
    lambda: f64,
    xtx: Vec<f64>,
    /// Per feature, the sum of the values of observations that have it.
    feature_sum_y: Vec<f64>,
    sum_y: f64,
    n: usize,
}

/// A fitted model.
#[derive(Debug, Clone)]
pub struct RidgeFit {
    intercept: f64,
    weights: Vec<f64>,
}

impl RidgeFit {
    pub fn predict(&self, features: &[usize]) -> f64 {
        self.intercept + features.iter().map(|&f| self.weights[f]).sum::<f64>()
    }
}

impl RidgeModel {
    pub fn new(dim: usize, lambda: f64) -> Self {
        RidgeModel {
            dim,
            lambda,
            xtx: vec![0.0; dim * dim],
            feature_sum_y: vec![0.0; dim],
            sum_y: 0.0,
            n: 0,
        }
    }

    pub fn len(&self) -> usize {
        self.n
    }

    pub fn is_empty(&self) -> bool {
        self.n == 0
    }

    pub fn add(&mut self, features: &[usize], y: f64) {
        for &i in features {
            for &j in features {
                self.xtx[i * self.dim + j] += 1.0;
            }
        }
        for &i in features {
            self.feature_sum_y[i] += y;
        }
        self.sum_y += y;
        self.n += 1;
    }

    /// Fits the model; `None` before any observation or when the space has no features.
    pub fn fit(&self) -> Option<RidgeFit> {
        if self.n == 0 || self.dim == 0 {
            return None;
        }
        let mean = self.sum_y / self.n as f64;
        // X^T (y - mean): a feature present in k observations contributes its sum minus k means.
        let b: Vec<f64> = (0..self.dim)
            .map(|i| self.feature_sum_y[i] - self.xtx[i * self.dim + i] * mean)
            .collect();
        let mut a = self.xtx.clone();
        for i in 0..self.dim {
            a[i * self.dim + i] += self.lambda;
        }
        let weights = cholesky_solve(&mut a, b, self.dim);
        Some(RidgeFit {
            intercept: mean,
            weights,
        })
    }
}

/// Solves `a x = b` for a symmetric positive definite `a` (n x n, row-major), overwriting `a` with
/// its Cholesky factor.
fn cholesky_solve(a: &mut [f64], mut b: Vec<f64>, n: usize) -> Vec<f64> {
    for j in 0..n {
        let mut d = a[j * n + j];
        for k in 0..j {
            d -= a[j * n + k] * a[j * n + k];
        }
        let d = d.max(1e-12).sqrt();
        a[j * n + j] = d;
        for i in j + 1..n {
            let mut s = a[i * n + j];
            for k in 0..j {
                s -= a[i * n + k] * a[j * n + k];
            }
            a[i * n + j] = s / d;
        }
    }
    for i in 0..n {
        let mut s = b[i];
        for k in 0..i {
            s -= a[i * n + k] * b[k];
        }
        b[i] = s / a[i * n + i];
    }
    for i in (0..n).rev() {
        let mut s = b[i];
        for k in i + 1..n {
            s -= a[k * n + i] * b[k];
        }
        b[i] = s / a[i * n + i];
    }
    b
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recovers_additive_weights() {
        // Two slots of two choices: y = 10 + [0, 2] + [0, -1].
        let mut m = RidgeModel::new(4, 1e-6);
        for (f, y) in [
            (vec![0, 2], 10.0),
            (vec![1, 2], 12.0),
            (vec![0, 3], 9.0),
            (vec![1, 3], 11.0),
        ] {
            m.add(&f, y);
        }
        let fit = m.fit().unwrap();
        for (f, y) in [([0, 2], 10.0), ([1, 2], 12.0), ([0, 3], 9.0), ([1, 3], 11.0)] {
            assert!((fit.predict(&f) - y).abs() < 1e-4, "{f:?}");
        }
    }
}
