//! The cases, one file per op (mirroring src/ops/), each generic over the engine.

pub mod batchnorm;
pub mod conv2d;
pub mod dense;
pub mod dropout;
pub mod gather;
pub mod maxpool;
pub mod network;
pub mod normalize;
pub mod optim;
pub mod relu;
pub mod shapes;
pub mod softmax_xent;
