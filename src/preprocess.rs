//! A drawing to the 28x28 image the network sees, the way MNIST was made: crop to the
//! ink, scale to fit 20x20 keeping the aspect ratio (area-averaged, so anti-aliased),
//! then place it in 28x28 so its centre of mass is at the centre.

/// Ink below this (0..1) counts as paper when finding the bounding box.
const INK_THRESHOLD: f32 = 0.05;
/// The digit's longer side after scaling, as in MNIST.
const FIT: usize = 20;
pub const SIDE: usize = 28;

/// The largest drawing accepted, in pixels (a 4K canvas is 8.3 million).
pub const MAX_PIXELS: usize = 1 << 25;

/// `ink` is `width * height` values in 0..1 (1 = full ink; values outside are clamped,
/// NaN counts as paper). Returns 784 values in 0..1, None for an empty drawing, or an
/// error for sizes that do not match the values or exceed `MAX_PIXELS`.
pub fn preprocess(ink: &[f32], width: usize, height: usize) -> Result<Option<Vec<f32>>, String> {
    match width.checked_mul(height) {
        Some(n) if n == ink.len() && n <= MAX_PIXELS => {}
        Some(n) if n == ink.len() => return Err(format!("a drawing of {width}x{height} pixels is larger than the {MAX_PIXELS} accepted")),
        _ => return Err(format!("a {width}x{height} drawing needs {width} * {height} ink values, not {}", ink.len())),
    }
    // A drawing with no pixels is empty; its other side may be anything (usize::MAX rows
    // of width 0 were looped over one by one in a debug build: the fuzz test hung there).
    if ink.is_empty() {
        return Ok(None);
    }
    let clean: Vec<f32>;
    let ink = if ink.iter().all(|v| (0.0..=1.0).contains(v)) {
        ink
    } else {
        clean = ink.iter().map(|&v| if v.is_nan() { 0.0 } else { v.clamp(0.0, 1.0) }).collect();
        &clean
    };
    Ok(centred(ink, width, height))
}

fn centred(ink: &[f32], width: usize, height: usize) -> Option<Vec<f32>> {
    let (mut x0, mut y0, mut x1, mut y1) = (usize::MAX, usize::MAX, 0, 0);
    for y in 0..height {
        for x in 0..width {
            if ink[y * width + x] > INK_THRESHOLD {
                (x0, y0, x1, y1) = (x0.min(x), y0.min(y), x1.max(x), y1.max(y));
            }
        }
    }
    if x0 == usize::MAX {
        return None;
    }
    let (bw, bh) = (x1 - x0 + 1, y1 - y0 + 1);
    let scale = FIT as f64 / bw.max(bh) as f64;
    let (sw, sh) = (((bw as f64 * scale).round() as usize).max(1), ((bh as f64 * scale).round() as usize).max(1));
    // Area averaging: each target pixel is the mean of the source area it covers.
    let mut small = vec![0f64; sw * sh];
    for ty in 0..sh {
        for tx in 0..sw {
            let (sx0, sx1) = (tx as f64 / scale, (tx + 1) as f64 / scale);
            let (sy0, sy1) = (ty as f64 / scale, (ty + 1) as f64 / scale);
            let (mut sum, mut area) = (0.0, 0.0);
            for sy in sy0.floor() as usize..(sy1.ceil() as usize).min(bh) {
                let hy = (sy1.min(sy as f64 + 1.0) - sy0.max(sy as f64)).max(0.0);
                for sx in sx0.floor() as usize..(sx1.ceil() as usize).min(bw) {
                    let wx = (sx1.min(sx as f64 + 1.0) - sx0.max(sx as f64)).max(0.0);
                    sum += ink[(y0 + sy) * width + x0 + sx] as f64 * wx * hy;
                    area += wx * hy;
                }
            }
            small[ty * sw + tx] = if area > 0.0 { sum / area } else { 0.0 };
        }
    }
    // Centre of mass of the scaled digit, moved to the image centre (14, 14).
    let total: f64 = small.iter().sum();
    if total <= 0.0 {
        return None;
    }
    let cx = small.iter().enumerate().map(|(i, v)| (i % sw) as f64 * v).sum::<f64>() / total;
    let cy = small.iter().enumerate().map(|(i, v)| (i / sw) as f64 * v).sum::<f64>() / total;
    let ox = (SIDE as f64 / 2.0 - 0.5 - cx).round() as isize;
    let oy = (SIDE as f64 / 2.0 - 0.5 - cy).round() as isize;
    let mut out = vec![0f32; SIDE * SIDE];
    for y in 0..sh {
        for x in 0..sw {
            let (tx, ty) = (x as isize + ox, y as isize + oy);
            if (0..SIDE as isize).contains(&tx) && (0..SIDE as isize).contains(&ty) {
                out[ty as usize * SIDE + tx as usize] = small[y * sw + x].min(1.0) as f32;
            }
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bbox(img: &[f32]) -> (usize, usize, usize, usize) {
        let ink: Vec<usize> = (0..img.len()).filter(|&i| img[i] > 0.05).collect();
        let xs = ink.iter().map(|i| i % SIDE);
        let ys = ink.iter().map(|i| i / SIDE);
        (xs.clone().min().unwrap(), ys.clone().min().unwrap(), xs.max().unwrap(), ys.max().unwrap())
    }

    fn centre_of_mass(img: &[f32]) -> (f64, f64) {
        let total: f64 = img.iter().map(|v| *v as f64).sum();
        let cx = img.iter().enumerate().map(|(i, v)| (i % SIDE) as f64 * *v as f64).sum::<f64>() / total;
        let cy = img.iter().enumerate().map(|(i, v)| (i / SIDE) as f64 * *v as f64).sum::<f64>() / total;
        (cx, cy)
    }

    #[test]
    fn an_empty_canvas_gives_no_image() {
        assert_eq!(preprocess(&vec![0.0; 280 * 280], 280, 280), Ok(None));
        assert_eq!(preprocess(&vec![0.01; 100], 10, 10), Ok(None));
    }

    #[test]
    fn a_small_digit_in_a_corner_comes_out_centred_and_of_mnist_size() {
        // A "7"-like stroke, 30 x 50 pixels, in the top-left corner of a 280 x 280 canvas.
        let (w, h) = (280, 280);
        let mut ink = vec![0f32; w * h];
        for x in 5..35 {
            ink[6 * w + x] = 1.0;
            ink[7 * w + x] = 1.0;
        }
        for y in 6..56 {
            let x = 34 - (y - 6) * 20 / 50;
            ink[y * w + x] = 1.0;
            ink[y * w + x - 1] = 1.0;
        }
        let img = preprocess(&ink, w, h).unwrap().unwrap();
        assert_eq!(img.len(), 784);
        let (x0, y0, x1, y1) = bbox(&img);
        assert_eq!(y1 - y0 + 1, 20, "the longer side is scaled to 20 pixels");
        assert!(x1 - x0 + 1 <= 20 && x1 - x0 + 1 >= 10, "aspect ratio kept: width {}", x1 - x0 + 1);
        let (cx, cy) = centre_of_mass(&img);
        assert!((cx - 13.5).abs() <= 0.75 && (cy - 13.5).abs() <= 0.75, "centre of mass at ({cx:.2}, {cy:.2})");
        assert!(img.iter().all(|v| (0.0..=1.0).contains(v)));
        assert!(img.iter().any(|v| *v > 0.05 && *v < 0.95), "anti-aliased edges");
    }

    #[test]
    fn a_wide_stroke_keeps_its_aspect_ratio() {
        let (w, h) = (100, 100);
        let mut ink = vec![0f32; w * h];
        for y in 40..50 {
            for x in 10..90 {
                ink[y * w + x] = 1.0;
            }
        }
        let img = preprocess(&ink, w, h).unwrap().unwrap();
        let (x0, y0, x1, y1) = bbox(&img);
        assert_eq!(x1 - x0 + 1, 20);
        assert!(y1 - y0 + 1 <= 4, "80 x 10 becomes 20 x 2.5");
    }
}
