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
    /// An output file (a model, a checkpoint, a log) that cannot be written.
    CannotWrite(String),
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
            Error::CannotWrite(m) => write!(f, "cannot write: {m}"),
        }
    }
}

impl std::error::Error for Error {}

impl Error {
    /// The same kind of error with its message rewritten (context added without saying
    /// the kind twice).
    pub fn map_message(self, f: impl FnOnce(&str) -> String) -> Error {
        match self {
            Error::NoGpu(m) => Error::NoGpu(f(&m)),
            Error::DeviceLost(m) => Error::DeviceLost(f(&m)),
            Error::Shape(m) => Error::Shape(f(&m)),
            Error::TooLarge(m) => Error::TooLarge(f(&m)),
            Error::BadFile(m) => Error::BadFile(f(&m)),
            Error::Diverged(m) => Error::Diverged(f(&m)),
            Error::CannotWrite(m) => Error::CannotWrite(f(&m)),
        }
    }
}

/// Shorthand for a shape error with a formatted message.
macro_rules! shape_err {
    ($($arg:tt)*) => { $crate::error::Error::Shape(format!($($arg)*)) };
}
pub(crate) use shape_err;
