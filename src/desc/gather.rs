//! Batch gathering's shape, and the byte packing the GPU reads the data set in.

/// A batch of `batch` examples of `pixels` bytes, taken in the order of an index
/// buffer of `count` entries, mapped to byte * scale + shift.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct GatherShape {
    pub batch: usize,
    pub pixels: usize,
    pub count: usize,
    pub scale: f32,
    pub shift: f32,
}

/// Packs bytes four to a little-endian u32 word, as the GPU reads them.
pub fn pack_bytes(bytes: &[u8]) -> Vec<u32> {
    bytes.chunks(4).map(|c| c.iter().enumerate().fold(0u32, |w, (i, &b)| w | (b as u32) << (8 * i))).collect()
}
