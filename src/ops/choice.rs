//! Which kernel runs each convolution and dense pass. Every pass has candidates (the
//! direct convolution kernels of shaders/conv2d_direct.wgsl, and the tiled GEMM of
//! shaders/gemm.wgsl in two tile shapes); `model::tune` times them on the adapter and
//! records the fastest in a `Choices` table, which graphs read when they are built. A
//! pass that was never timed runs the measured default for its adapter.

use std::collections::HashMap;

use crate::desc::conv2d::Conv2dShape;
use crate::desc::dense::DenseShape;

/// One candidate kernel of a convolution or dense pass.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kernel {
    /// A register block per thread, no workgroup memory and no barriers: a block of output
    /// positions and channels (convolutions), or of rows and columns (dense layers).
    Direct,
    /// The tiled GEMM with 32 x 64 tiles.
    Tiled,
    /// The tiled GEMM with 16 x 128 tiles: no idle rows when m (the output channels of a
    /// convolution, or a dense layer's outputs in its weight gradient) is 16.
    TiledNarrow,
    /// Winograd's F(2x2, 5x5) (shaders/conv2d_winograd.wgsl): stride-1 5x5 convolutions'
    /// forward and input gradient only (`computes`).
    Winograd,
}

impl Kernel {
    /// The candidates of a convolution pass.
    pub const CONV: &'static [Kernel] = &[Kernel::Direct, Kernel::Tiled, Kernel::TiledNarrow, Kernel::Winograd];
    /// The candidates of a dense pass.
    pub const DENSE: &'static [Kernel] = &[Kernel::Direct, Kernel::Tiled, Kernel::TiledNarrow];

    /// The name used in the cache, on the command line and by the page.
    pub fn name(self) -> &'static str {
        match self {
            Kernel::Direct => "direct",
            Kernel::Tiled => "tiled",
            Kernel::TiledNarrow => "tiled-narrow",
            Kernel::Winograd => "winograd",
        }
    }

    /// Whether this kernel computes `pass` at shape `s` (elsewhere `ops::conv2d` runs the
    /// direct kernel in its place, and the autotuner does not time it).
    pub fn computes(self, pass: Pass, s: &Conv2dShape) -> bool {
        match self {
            Kernel::Winograd => pass != Pass::ConvBackwardWeights && super::conv2d_winograd::supports(s),
            _ => true,
        }
    }

    pub fn parse(name: &str) -> Option<Kernel> {
        Kernel::CONV.iter().copied().find(|k| k.name() == name)
    }

    /// (BM, BN) of the GEMM tile; the direct kernels' dense fallback is the wide tile.
    pub(crate) fn tile(self) -> (usize, usize) {
        match self {
            Kernel::TiledNarrow => (16, 128),
            Kernel::Direct | Kernel::Tiled | Kernel::Winograd => (32, 64),
        }
    }
}

/// The WGSL header that sizes gemm.wgsl's tile for `Kernel::Tiled`.
macro_rules! wide_tile {
    () => {
        "const BM: u32 = 32u;\nconst BN: u32 = 64u;\n"
    };
}
/// The WGSL header that sizes gemm.wgsl's tile for `Kernel::TiledNarrow`.
macro_rules! narrow_tile {
    () => {
        "const BM: u32 = 16u;\nconst BN: u32 = 128u;\n"
    };
}
pub(crate) use {narrow_tile, wide_tile};

/// A pass of a convolution or dense layer: what a kernel is chosen for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Pass {
    ConvForward,
    ConvBackwardInput,
    ConvBackwardWeights,
    DenseForward,
    DenseBackwardInput,
    DenseBackwardWeights,
}

impl Pass {
    pub fn name(self) -> &'static str {
        match self {
            Pass::ConvForward | Pass::DenseForward => "forward",
            Pass::ConvBackwardInput | Pass::DenseBackwardInput => "backward input",
            Pass::ConvBackwardWeights | Pass::DenseBackwardWeights => "backward weights",
        }
    }

    pub fn candidates(self) -> &'static [Kernel] {
        match self {
            Pass::ConvForward | Pass::ConvBackwardInput | Pass::ConvBackwardWeights => Kernel::CONV,
            _ => Kernel::DENSE,
        }
    }
}

/// A pass at one layer shape (batch included): the key kernels are chosen and cached by.
pub fn conv_key(pass: Pass, s: &Conv2dShape) -> String {
    format!(
        "conv {} x[{},{},{},{}] w[{},{},{}] s{} p{}x{}",
        pass.name(),
        s.batch,
        s.in_c,
        s.in_h,
        s.in_w,
        s.out_c,
        s.k_h,
        s.k_w,
        s.stride,
        s.pad_h,
        s.pad_w
    )
}

/// `conv_key` for a dense layer.
pub fn dense_key(pass: Pass, s: &DenseShape) -> String {
    format!("dense {} [{},{}]->{}", pass.name(), s.batch, s.in_f, s.out_f)
}

/// The kernels graphs use: the ones timed on this adapter, else the measured default.
#[derive(Clone, Debug, Default)]
pub struct Choices {
    /// Timed choices by `conv_key`/`dense_key`.
    pub chosen: HashMap<String, Kernel>,
    /// Every convolution runs this algorithm (`Direct` or a tile), untimed: WGPU_MNIST_CONV
    /// natively, or the page's benchmark request.
    pub forced_conv: Option<Kernel>,
    /// Whether the adapter runs on the CPU (the defaults differ).
    pub software: bool,
}

impl Choices {
    /// No timed choices yet; natively, WGPU_MNIST_CONV=direct|tiled|tiled-narrow|winograd forces
    /// every convolution's kernel.
    pub fn for_adapter(info: &wgpu::AdapterInfo) -> Choices {
        #[cfg(not(target_arch = "wasm32"))]
        let forced_conv = std::env::var("WGPU_MNIST_CONV").ok().and_then(|v| Kernel::parse(&v));
        #[cfg(target_arch = "wasm32")]
        let forced_conv = None;
        Choices { chosen: HashMap::new(), forced_conv, software: info.device_type == wgpu::DeviceType::Cpu }
    }

    /// The kernel of a convolution pass.
    pub fn conv(&self, pass: Pass, s: &Conv2dShape) -> Kernel {
        if let (None, Some(k)) = (self.forced_conv, self.chosen.get(&conv_key(pass, s))) {
            return *k;
        }
        // On CPU adapters (SwiftShader in browsers, lavapipe natively) the barrier-free,
        // register-blocked direct kernels won every pass of pytorch-cnn, and Winograd beats
        // them where it applies and sums 8 or more channels: on SwiftShader, batch 64,
        // conv2's forward 498 -> 145 ms and input gradient 667 -> 135 ms, but conv1's
        // forward (1 channel) 56 -> 75 ms (docs/benchmarks.md).
        let summed = if pass == Pass::ConvBackwardInput { s.out_c } else { s.in_c };
        let winograd = Kernel::Winograd.computes(pass, s) && summed >= 8;
        let software = if winograd { Kernel::Winograd } else { Kernel::Direct };
        self.forced_conv.unwrap_or(if self.software { software } else { Kernel::Tiled })
    }

    /// The kernel of a dense pass.
    pub fn dense(&self, pass: Pass, s: &DenseShape) -> Kernel {
        // On CPU adapters the barrier-free direct kernel, as for convolutions: on
        // SwiftShader, pytorch-cnn's dense layer (1568 -> 10) at batch 64 took 3-4 ms a
        // pass against 23-60 ms tiled, and 30 against 440 ms for 1,000 images.
        let default = if self.software { Kernel::Direct } else { Kernel::Tiled };
        self.chosen.get(&dense_key(pass, s)).copied().unwrap_or(default)
    }
}
