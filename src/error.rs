//! Errors as values, each with a message a person can act on.

use std::fmt;

/// Everything that can go wrong in wgpu-mnist that is not a programming mistake.
#[derive(Debug, Clone, PartialEq)]
pub enum Error {
    /// No usable GPU (no WebGPU in this browser, no adapter, device refused).
    NoGpu(String),
    /// The GPU device was lost or a readback failed.
    DeviceLost(String),
    /// Tensor shapes that do not fit together.
    Shape(String),
    /// A buffer or dispatch beyond what this GPU allows.
    TooLarge(String),
    /// A data or model file that is missing, truncated or malformed.
    BadFile(String),
    /// Training produced a non-finite loss.
    Diverged(String),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::NoGpu(m) => write!(f, "no GPU: {m}"),
            Error::DeviceLost(m) => write!(f, "GPU device lost: {m}"),
            Error::Shape(m) => write!(f, "shape mismatch: {m}"),
            Error::TooLarge(m) => write!(f, "too large for this GPU: {m}"),
            Error::BadFile(m) => write!(f, "bad file: {m}"),
            Error::Diverged(m) => write!(f, "training diverged: {m}"),
        }
    }
}

impl std::error::Error for Error {}

/// Shorthand for a shape error with a formatted message.
macro_rules! shape_err {
    ($($arg:tt)*) => { $crate::error::Error::Shape(format!($($arg)*)) };
}
pub(crate) use shape_err;
