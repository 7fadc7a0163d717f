//! The gpu layer's dispatch machinery as the ops use it (it lives in `crate::gpu`, which
//! knows nothing about ops).

pub(crate) use crate::gpu::uniform;
pub use crate::gpu::{groups_for, run, time_ms, Dispatch, Shader, Uniform, View, WORKGROUP_SIZE};
