//! A strict reader of the IDX files MNIST ships in: magic number, dimensions, counts,
//! file length and label range are all checked, and every error names the file.

use crate::error::Error;

/// Images of `rows` x `cols` bytes, one after another.
#[derive(Clone, Debug, PartialEq)]
pub struct Images {
    pub count: usize,
    pub rows: usize,
    pub cols: usize,
    pub pixels: Vec<u8>,
}

fn header(file: &str, bytes: &[u8], magic: u32, dims: usize) -> Result<Vec<usize>, Error> {
    let bad = |what: String| Error::BadFile(format!("{file}: {what}"));
    let head = 4 + 4 * dims;
    if bytes.len() < head {
        return Err(bad(format!("only {} bytes, too short for an IDX header", bytes.len())));
    }
    let word = |i: usize| u32::from_be_bytes(bytes[4 * i..4 * i + 4].try_into().unwrap());
    if word(0) != magic {
        return Err(bad(format!("magic number {:#010x}, expected {magic:#010x} (is it gzipped, or the wrong file?)", word(0))));
    }
    let sizes: Vec<usize> = (1..=dims).map(|i| word(i) as usize).collect();
    // Checked: three u32 sizes can multiply past usize (on wasm32, two can).
    let expected = sizes.iter().try_fold(1usize, |n, &d| n.checked_mul(d)).and_then(|n| n.checked_add(head));
    if expected != Some(bytes.len()) {
        let needs = expected.map_or("more than this machine can address".to_string(), |e| format!("exactly {e}"));
        return Err(bad(format!("{} bytes, but its header {sizes:?} needs {needs} (truncated or corrupt)", bytes.len())));
    }
    Ok(sizes)
}

/// Parses an idx3-ubyte image file.
pub fn parse_images(file: &str, bytes: &[u8]) -> Result<Images, Error> {
    let s = header(file, bytes, 0x0000_0803, 3)?;
    if s[0] == 0 || s[1] == 0 || s[2] == 0 {
        return Err(Error::BadFile(format!("{file}: empty image set {s:?}")));
    }
    Ok(Images { count: s[0], rows: s[1], cols: s[2], pixels: bytes[16..].to_vec() })
}

/// Parses an idx1-ubyte label file; every label must be a digit 0..9.
pub fn parse_labels(file: &str, bytes: &[u8]) -> Result<Vec<u8>, Error> {
    header(file, bytes, 0x0000_0801, 1)?;
    let labels = bytes[8..].to_vec();
    if let Some(i) = labels.iter().position(|&l| l > 9) {
        return Err(Error::BadFile(format!("{file}: label {i} is {}, not a digit 0..9", labels[i])));
    }
    Ok(labels)
}
