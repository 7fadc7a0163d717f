//! The map of the digits: the penultimate layer's features of a fixed sample of test
//! images projected to 2-D by PCA, re-projected as the network learns with its axes
//! kept steady (warm-started, then turned and flipped onto the last picture), and scored by
//! how well the classes separate in it (nearest-centroid accuracy).

use crate::rng::Rng;

/// Subspace iterations: from random axes, and from the last map's once it exists (those
/// converge in a few: the features change little between training chunks).
const COLD_ITERATIONS: usize = 40;
const WARM_ITERATIONS: usize = 8;

/// The last projection: what the next one is kept steady against.
#[derive(Clone, Debug, Default)]
pub struct DigitMap {
    width: usize,
    mean: Vec<f32>,
    /// Two unit axes in feature space, already turned onto the last picture.
    axes: [Vec<f32>; 2],
    points: Vec<[f32; 2]>,
}

/// One picture of the map.
#[derive(Clone, Debug, Default)]
pub struct MapFrame {
    /// Each image's (x, y).
    pub points: Vec<[f32; 2]>,
    /// The fraction of the images whose nearest class centroid in the 2-D map is their own.
    pub centroid_accuracy: f64,
    /// The share of the features' variance along each axis.
    pub explained: [f64; 2],
}

impl DigitMap {
    /// Forgets the last picture (another network, another feature space).
    pub fn reset(&mut self) {
        *self = DigitMap::default();
    }

    /// Projects `features` [n, width] of images labelled `labels` to 2-D.
    pub fn update(&mut self, features: &[f32], width: usize, labels: &[u8]) -> MapFrame {
        let n = labels.len();
        assert!(width > 0 && features.len() == n * width, "features are [n, width]");
        if width != self.width || self.points.len() != n {
            self.reset();
        }
        let mean: Vec<f32> = (0..width).map(|j| (0..n).map(|i| features[i * width + j] as f64).sum::<f64>() as f32 / n as f32).collect();
        let centred: Vec<f32> = features.chunks(width).flat_map(|row| row.iter().zip(&mean).map(|(v, m)| v - m)).collect();
        let total: f64 = centred.iter().map(|v| (*v as f64).powi(2)).sum::<f64>() / n as f64;
        let warm = self.width == width;
        let (mut a, mut b) = if warm {
            (self.axes[0].clone(), self.axes[1].clone())
        } else {
            let mut rng = Rng::new(width as u64);
            (rng.vec(width), rng.vec(width))
        };
        for _ in 0..if warm { WARM_ITERATIONS } else { COLD_ITERATIONS } {
            // One step of subspace iteration with the covariance (X^T X), then
            // Gram-Schmidt: the pair converges to the top two principal axes.
            a = covariance_times(&centred, width, &a);
            b = covariance_times(&centred, width, &b);
            normalize(&mut a);
            let along = dot(&a, &b);
            b.iter_mut().zip(&a).for_each(|(b, a)| *b -= along * a);
            normalize(&mut b);
        }
        // Ordered by variance: a then b.
        let variance = |v: &[f32]| covariance_times(&centred, width, v).iter().zip(v).map(|(x, y)| (*x * y) as f64).sum::<f64>() / n as f64;
        let (va, vb) = (variance(&a), variance(&b));
        if vb > va {
            std::mem::swap(&mut a, &mut b);
        }
        let mut points: Vec<[f32; 2]> = centred.chunks(width).map(|row| [dot(row, &a), dot(row, &b)]).collect();
        if warm {
            // Turn (or flip) the new picture onto the last one: the orthogonal 2x2 map
            // that best carries the new points onto the old (Procrustes, closed form).
            let m = cross(&points, &self.points);
            let (rot, refl) = ((m[0][0] + m[1][1], m[1][0] - m[0][1]), (m[0][0] - m[1][1], m[0][1] + m[1][0]));
            let r = if rot.0.hypot(rot.1) >= refl.0.hypot(refl.1) {
                let t = rot.1.atan2(rot.0);
                [[t.cos(), -t.sin()], [t.sin(), t.cos()]]
            } else {
                let t = refl.1.atan2(refl.0);
                [[t.cos(), t.sin()], [t.sin(), -t.cos()]]
            };
            let r = r.map(|row| row.map(|v| v as f32));
            points.iter_mut().for_each(|p| *p = [p[0] * r[0][0] + p[1] * r[0][1], p[0] * r[1][0] + p[1] * r[1][1]]);
            let (a0, b0) = (a.clone(), b.clone());
            a = a0.iter().zip(&b0).map(|(x, y)| x * r[0][0] + y * r[0][1]).collect();
            b = a0.iter().zip(&b0).map(|(x, y)| x * r[1][0] + y * r[1][1]).collect();
        }
        let explained = if total > 0.0 { [va.max(vb) / total, va.min(vb) / total] } else { [0.0, 0.0] };
        let centroid_accuracy = centroid_accuracy(&points, labels);
        *self = DigitMap { width, mean, axes: [a, b], points: points.clone() };
        MapFrame { points, centroid_accuracy, explained }
    }

    /// Where one image's features fall on the last picture (None before the first).
    pub fn project(&self, features: &[f32]) -> Option<[f32; 2]> {
        if self.width == 0 || features.len() != self.width {
            return None;
        }
        let centred: Vec<f32> = features.iter().zip(&self.mean).map(|(v, m)| v - m).collect();
        Some([dot(&centred, &self.axes[0]), dot(&centred, &self.axes[1])])
    }
}

/// The fraction of points whose nearest class centroid is their own class's.
pub fn centroid_accuracy(points: &[[f32; 2]], labels: &[u8]) -> f64 {
    let mut sums = [[0f64; 3]; 10];
    for (p, &l) in points.iter().zip(labels) {
        let s = &mut sums[l as usize % 10];
        s[0] += p[0] as f64;
        s[1] += p[1] as f64;
        s[2] += 1.0;
    }
    let centroids: Vec<(usize, [f64; 2])> =
        sums.iter().enumerate().filter(|(_, s)| s[2] > 0.0).map(|(c, s)| (c, [s[0] / s[2], s[1] / s[2]])).collect();
    let nearest = |p: &[f32; 2]| {
        let d = |c: &[f64; 2]| (p[0] as f64 - c[0]).powi(2) + (p[1] as f64 - c[1]).powi(2);
        centroids.iter().min_by(|x, y| d(&x.1).total_cmp(&d(&y.1))).map_or(0, |c| c.0)
    };
    let right = points.iter().zip(labels).filter(|(p, &l)| nearest(p) == l as usize).count();
    right as f64 / points.len().max(1) as f64
}

/// X^T (X v) for X [n, width].
fn covariance_times(x: &[f32], width: usize, v: &[f32]) -> Vec<f32> {
    let mut out = vec![0f32; width];
    for row in x.chunks(width) {
        let s = dot(row, v);
        out.iter_mut().zip(row).for_each(|(o, r)| *o += s * r);
    }
    out
}

fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

fn normalize(v: &mut [f32]) {
    let n = dot(v, v).sqrt();
    if n > 0.0 {
        v.iter_mut().for_each(|x| *x /= n);
    }
}

/// sum_i p_i^T q_i as a 2x2 matrix (new points against old).
fn cross(p: &[[f32; 2]], q: &[[f32; 2]]) -> [[f64; 2]; 2] {
    let mut m = [[0f64; 2]; 2];
    for (a, b) in p.iter().zip(q) {
        for i in 0..2 {
            for j in 0..2 {
                m[i][j] += a[i] as f64 * b[j] as f64;
            }
        }
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Points on known axes in 5-D, the first with 9x the second's variance.
    fn clusters(rng: &mut Rng, n: usize) -> (Vec<f32>, Vec<u8>) {
        let (mut x, mut labels) = (Vec::new(), Vec::new());
        for i in 0..n {
            let l = (i % 3) as u8;
            let (u, v) = (3.0 * (l as f32 - 1.0) + 0.1 * rng.normal(), (if l == 1 { 1.0 } else { -0.5 }) + 0.1 * rng.normal());
            x.extend([u, v, 0.01 * rng.normal(), u + 0.0, -v]);
            labels.push(l);
        }
        (x, labels)
    }

    #[test]
    fn finds_the_separating_axes() {
        let mut rng = Rng::new(3);
        let (x, labels) = clusters(&mut rng, 300);
        let frame = DigitMap::default().update(&x, 5, &labels);
        assert!(frame.centroid_accuracy > 0.99, "{}", frame.centroid_accuracy);
        assert!(frame.explained[0] > 0.8 && frame.explained[0] + frame.explained[1] > 0.99, "{:?}", frame.explained);
    }

    #[test]
    fn a_flipped_feature_space_keeps_the_picture() {
        let mut rng = Rng::new(4);
        let (x, labels) = clusters(&mut rng, 300);
        let mut map = DigitMap::default();
        let first = map.update(&x, 5, &labels);
        // The same features negated and slightly changed: PCA alone could flip either axis.
        let changed: Vec<f32> = x.iter().map(|v| -v * 1.01).collect();
        let second = map.update(&changed, 5, &labels);
        let moved = first.points.iter().zip(&second.points).map(|(a, b)| (a[0] - b[0]).abs() + (a[1] - b[1]).abs()).fold(0f32, f32::max);
        assert!(moved < 0.2, "points moved by up to {moved}");
        let p = map.project(&changed[..5]).expect("a map exists");
        assert!((p[0] - second.points[0][0]).abs() < 1e-3 && (p[1] - second.points[0][1]).abs() < 1e-3);
    }

    #[test]
    fn centroid_accuracy_fails_for_mixed_classes() {
        let points: Vec<[f32; 2]> = (0..100).map(|i| [(i % 7) as f32, (i % 5) as f32]).collect();
        let labels: Vec<u8> = (0..100).map(|i| (i % 2) as u8).collect();
        assert!(centroid_accuracy(&points, &labels) < 0.7);
    }
}
