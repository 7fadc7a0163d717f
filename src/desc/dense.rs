//! A dense layer's and a matrix product's shapes.

/// C[m, n] = op(A)[m, k] op(B)[k, n]; A is stored [k, m] when `trans_a`, B [n, k] when `trans_b`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MatmulShape {
    pub m: usize,
    pub n: usize,
    pub k: usize,
    pub trans_a: bool,
    pub trans_b: bool,
}

/// A dense layer: input [batch, in_f] -> output [batch, out_f].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DenseShape {
    pub batch: usize,
    pub in_f: usize,
    pub out_f: usize,
}
