//! `explain`'s pictures: values drawn as square cells and encoded as PNG. A signed map
//! (saliency) is diverging, red positive and blue negative, white at zero, scaled by its
//! largest magnitude so that zero stays white; an image or a layer's maps are gray, each
//! channel stretched to its own range (channels differ in scale by orders of magnitude).

use wgpu_mnist::Error;

/// Screen pixels per value of a 28x28 map: 224 px, the size the page draws it.
const IMAGE_CELL: usize = 8;
/// About the side, in screen pixels, a layer's channel map is drawn at, whatever its size.
const CHANNEL_SIDE: usize = 112;
/// About the width of a flat layer's row, the bounds of its cells' width, and their
/// height (a row of 256 cells 4 px wide is still easy to see at 32 px tall).
const ROW_WIDTH: usize = 1024;
const ROW_CELL_WIDTH: (usize, usize) = (4, 32);
const ROW_HEIGHT: usize = 32;
/// Screen pixels between maps and around them.
const GAP: usize = 2;
/// A dark blue: no gray cell can be mistaken for the space between maps.
const GAP_COLOR: [u8; 3] = [40, 70, 120];

/// An RGB picture, 8 bits a channel, rows top to bottom.
pub struct Picture {
    width: usize,
    height: usize,
    rgb: Vec<u8>,
}

impl Picture {
    /// Tiles of `h` x `w` colored cells, each cell `cell_w` x `cell_h` pixels, `cols` tiles
    /// to a row, GAP apart and inside a GAP border.
    fn tiles(tiles: &[Vec<[u8; 3]>], (h, w): (usize, usize), cols: usize, (cell_w, cell_h): (usize, usize)) -> Picture {
        let (tile_w, tile_h) = (w * cell_w + GAP, h * cell_h + GAP);
        let (width, height) = (cols * tile_w + GAP, tiles.len().div_ceil(cols) * tile_h + GAP);
        let mut rgb = GAP_COLOR.repeat(width * height);
        for (t, colors) in tiles.iter().enumerate() {
            let (left, top) = (GAP + (t % cols) * tile_w, GAP + (t / cols) * tile_h);
            for (i, color) in colors.iter().enumerate() {
                let (x, y) = (left + (i % w) * cell_w, top + (i / w) * cell_h);
                for row in y..y + cell_h {
                    rgb[(row * width + x) * 3..][..cell_w * 3].chunks_exact_mut(3).for_each(|p| p.copy_from_slice(color));
                }
            }
        }
        Picture { width, height, rgb }
    }

    /// The picture as a PNG file's bytes.
    pub fn to_png(&self) -> Result<Vec<u8>, Error> {
        let mut out = Vec::new();
        let mut encoder = png::Encoder::new(&mut out, self.width as u32, self.height as u32);
        encoder.set_color(png::ColorType::Rgb);
        encoder.set_depth(png::BitDepth::Eight);
        let failed = |e: png::EncodingError| Error::CannotWrite(format!("a {}x{} PNG could not be encoded ({e})", self.width, self.height));
        let mut writer = encoder.write_header().map_err(failed)?;
        writer.write_image_data(&self.rgb).map_err(failed)?;
        writer.finish().map_err(failed)?;
        Ok(out)
    }
}

/// A signed `h` x `w` map: red positive, blue negative, white zero, by the largest |value|.
pub fn diverging(values: &[f32], h: usize, w: usize) -> Picture {
    let top = values.iter().fold(0f32, |top, v| top.max(v.abs()));
    let colors = values
        .iter()
        .map(|&v| {
            let t = if top > 0.0 { v / top } else { 0.0 };
            let fade = (255.0 * (1.0 - t.abs())) as u8;
            if t >= 0.0 {
                [255, fade, fade]
            } else {
                [fade, fade, 255]
            }
        })
        .collect();
    Picture::tiles(&[colors], (h, w), 1, (IMAGE_CELL, IMAGE_CELL))
}

/// An `h` x `w` map in gray, black at its smallest value and white at its largest.
pub fn gray(values: &[f32], h: usize, w: usize) -> Picture {
    Picture::tiles(&[stretched(values)], (h, w), 1, (IMAGE_CELL, IMAGE_CELL))
}

/// A layer's output of `dims` (c, h, w): its channels' maps in a near-square grid, each
/// stretched to its own range; a flat output (h = w = 1) as one row of cells stretched
/// together (one value has no range of its own).
pub fn layer(values: &[f32], (c, h, w): (usize, usize, usize)) -> Picture {
    if h * w == 1 {
        let cell_w = (ROW_WIDTH / c.max(1)).clamp(ROW_CELL_WIDTH.0, ROW_CELL_WIDTH.1);
        return Picture::tiles(&[stretched(values)], (1, c), 1, (cell_w, ROW_HEIGHT));
    }
    let maps: Vec<Vec<[u8; 3]>> = values.chunks(h * w).map(stretched).collect();
    let cols = (1..).find(|k| k * k >= c).expect("some k has k * k >= c");
    let cell = (CHANNEL_SIDE / h.max(w)).max(1);
    Picture::tiles(&maps, (h, w), cols, (cell, cell))
}

/// Gray levels from the finite values' range (a constant map is black; NaN too).
fn stretched(values: &[f32]) -> Vec<[u8; 3]> {
    let (lo, hi) = values.iter().filter(|v| v.is_finite()).fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), &v| (lo.min(v), hi.max(v)));
    values
        .iter()
        .map(|&v| {
            let g = if hi > lo { (255.0 * (v - lo) / (hi - lo)) as u8 } else { 0 };
            [g; 3]
        })
        .collect()
}
