//! Random image changes for training batches: shift, rotation, mirror, noise, cutout.

use super::settings::Augmentation;
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal};

/// Changes each sample of `xs` (samples of `shape` = [C, H, W], one after another) in place.
/// Shapes other than images are left alone.
pub fn augment_batch(xs: &mut [f32], shape: &[usize], aug: &Augmentation, rng: &mut ChaCha8Rng) {
    let [c, h, w] = shape[..] else { return };
    if aug.is_off() || h < 2 || w < 2 {
        return;
    }
    let per = c * h * w;
    let mut scratch = vec![0f32; per];
    for sample in xs.chunks_exact_mut(per) {
        augment_one(sample, &mut scratch, c, h, w, aug, rng);
    }
}

fn augment_one(
    x: &mut [f32],
    scratch: &mut [f32],
    c: usize,
    h: usize,
    w: usize,
    aug: &Augmentation,
    rng: &mut ChaCha8Rng,
) {
    let flip = aug.flip && rng.random_bool(0.5);
    // A project file can hold any number here (the editor clamps its sliders, JSON does not):
    // a shift past the image or a rotation past a half turn says nothing more.
    let s = aug.shift_px.min(h.max(w)) as f32;
    let (dx, dy) = if s > 0.0 {
        (
            rng.random_range(-s..=s).round(),
            rng.random_range(-s..=s).round(),
        )
    } else {
        (0.0, 0.0)
    };
    let rotation_deg = if aug.rotation_deg.is_finite() {
        aug.rotation_deg.min(180.0)
    } else {
        0.0
    };
    let angle = if rotation_deg > 0.0 {
        rng.random_range(-rotation_deg..=rotation_deg).to_radians()
    } else {
        0.0
    };
    if flip || dx != 0.0 || dy != 0.0 || angle != 0.0 {
        // Inverse mapping: each output pixel reads the input where the transform came from,
        // bilinearly, clamping at the border.
        let (cy, cx) = ((h - 1) as f32 / 2.0, (w - 1) as f32 / 2.0);
        let (sin, cos) = angle.sin_cos();
        for ch in 0..c {
            let plane = &x[ch * h * w..(ch + 1) * h * w];
            for oy in 0..h {
                for ox in 0..w {
                    let (mut ux, uy) = (ox as f32 - dx - cx, oy as f32 - dy - cy);
                    if flip {
                        ux = -ux;
                    }
                    let sx = cos * ux + sin * uy + cx;
                    let sy = -sin * ux + cos * uy + cy;
                    scratch[ch * h * w + oy * w + ox] = bilinear(plane, h, w, sy, sx);
                }
            }
        }
        x.copy_from_slice(scratch);
    }
    if aug.noise_std > 0.0 {
        if let Ok(n) = Normal::new(0.0f32, aug.noise_std) {
            x.iter_mut().for_each(|v| *v += n.sample(rng));
        }
    }
    let k = aug.cutout_px.min(h).min(w);
    if k > 0 {
        let (y0, x0) = (rng.random_range(0..=h - k), rng.random_range(0..=w - k));
        for ch in 0..c {
            let plane = &mut x[ch * h * w..(ch + 1) * h * w];
            // The blank is the plane's own minimum: background for digits and most images.
            let fill = plane.iter().copied().fold(f32::INFINITY, f32::min);
            for yy in y0..y0 + k {
                plane[yy * w + x0..yy * w + x0 + k]
                    .iter_mut()
                    .for_each(|v| *v = fill);
            }
        }
    }
}

fn bilinear(plane: &[f32], h: usize, w: usize, y: f32, x: f32) -> f32 {
    let y = y.clamp(0.0, (h - 1) as f32);
    let x = x.clamp(0.0, (w - 1) as f32);
    let (y0, x0) = (y.floor() as usize, x.floor() as usize);
    let (y1, x1) = ((y0 + 1).min(h - 1), (x0 + 1).min(w - 1));
    let (fy, fx) = (y - y0 as f32, x - x0 as f32);
    let top = plane[y0 * w + x0] * (1.0 - fx) + plane[y0 * w + x1] * fx;
    let bottom = plane[y1 * w + x0] * (1.0 - fx) + plane[y1 * w + x1] * fx;
    top * (1.0 - fy) + bottom * fy
}
