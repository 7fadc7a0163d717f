//! Explicit SIMD lanes for the CPU engine's own kernels (the direct convolutions,
//! `conv2d_direct`), one implementation per instruction set, picked at run time natively
//! (AVX-512, else AVX2 with FMA) and at build time in wasm32 (simd128). Where none
//! applies (other CPUs, a wasm build without simd128) the engine keeps its GEMM path.
//!
//! The methods are `#[inline(always)]` without `#[target_feature]`: they are only ever
//! inlined into a kernel instantiated inside a function that enables the ISA's features
//! (`conv2d_direct`'s wrappers), so the whole loop nest compiles for that ISA.

/// One SIMD register of f32 lanes and the few operations the kernels need.
pub trait Lanes: Copy {
    /// Lanes per register.
    const N: usize;
    type V: Copy;
    /// # Safety
    /// The ISA is available on this CPU (see `Isa::available`).
    unsafe fn zero() -> Self::V;
    /// # Safety
    /// As `zero`.
    unsafe fn splat(x: f32) -> Self::V;
    /// # Safety
    /// As `zero`; `p..p + N` is readable.
    unsafe fn load(p: *const f32) -> Self::V;
    /// # Safety
    /// As `zero`; `p..p + N` is writable.
    unsafe fn store(p: *mut f32, v: Self::V);
    /// a * b + c, fused where the ISA has it.
    /// # Safety
    /// As `zero`.
    unsafe fn madd(a: Self::V, b: Self::V, c: Self::V) -> Self::V;
    /// # Safety
    /// As `zero`.
    unsafe fn add(a: Self::V, b: Self::V) -> Self::V;
    /// # Safety
    /// As `zero`.
    unsafe fn sub(a: Self::V, b: Self::V) -> Self::V;
}

/// An instruction set the direct kernels are built for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Isa {
    /// 16 lanes with FMA, 32 registers.
    Avx512,
    /// 8 lanes with FMA, 16 registers.
    Avx2,
    /// wasm32's 4 lanes; no FMA in core simd128, relaxed SIMD's fused one in a build
    /// with `+relaxed-simd` (`cpu::peak::isa_name` tells which).
    Simd128,
}

impl Isa {
    pub fn name(self) -> &'static str {
        match self {
            Isa::Avx512 => "avx512",
            Isa::Avx2 => "avx2",
            Isa::Simd128 => "simd128",
        }
    }

    /// Every ISA this CPU runs, best first.
    pub fn available() -> Vec<Isa> {
        #[allow(unused_mut)]
        let mut isas = Vec::new();
        #[cfg(target_arch = "x86_64")]
        {
            if std::is_x86_feature_detected!("avx512f") {
                isas.push(Isa::Avx512);
            }
            if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
                isas.push(Isa::Avx2);
            }
        }
        #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
        isas.push(Isa::Simd128);
        isas
    }

    /// The best ISA this CPU runs, if any (detected once).
    pub fn best() -> Option<Isa> {
        static BEST: std::sync::OnceLock<Option<Isa>> = std::sync::OnceLock::new();
        *BEST.get_or_init(|| Isa::available().first().copied())
    }
}

#[cfg(target_arch = "x86_64")]
pub use x86::{Avx2, Avx512};

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::Lanes;
    use std::arch::x86_64::*;

    /// One x86 ISA's `Lanes`: its register type, width and the six intrinsics.
    macro_rules! x86_lanes {
        ($isa:ident, $v:ty, $n:literal, $zero:ident, $splat:ident, $load:ident, $store:ident, $fmadd:ident, $add:ident, $sub:ident) => {
            #[derive(Clone, Copy)]
            pub struct $isa;

            impl Lanes for $isa {
                const N: usize = $n;
                type V = $v;
                #[inline(always)]
                unsafe fn zero() -> $v {
                    $zero()
                }
                #[inline(always)]
                unsafe fn splat(x: f32) -> $v {
                    $splat(x)
                }
                #[inline(always)]
                unsafe fn load(p: *const f32) -> $v {
                    $load(p)
                }
                #[inline(always)]
                unsafe fn store(p: *mut f32, v: $v) {
                    $store(p, v)
                }
                #[inline(always)]
                unsafe fn madd(a: $v, b: $v, c: $v) -> $v {
                    $fmadd(a, b, c)
                }
                #[inline(always)]
                unsafe fn add(a: $v, b: $v) -> $v {
                    $add(a, b)
                }
                #[inline(always)]
                unsafe fn sub(a: $v, b: $v) -> $v {
                    $sub(a, b)
                }
            }
        };
    }

    x86_lanes!(
        Avx512,
        __m512,
        16,
        _mm512_setzero_ps,
        _mm512_set1_ps,
        _mm512_loadu_ps,
        _mm512_storeu_ps,
        _mm512_fmadd_ps,
        _mm512_add_ps,
        _mm512_sub_ps
    );
    x86_lanes!(
        Avx2,
        __m256,
        8,
        _mm256_setzero_ps,
        _mm256_set1_ps,
        _mm256_loadu_ps,
        _mm256_storeu_ps,
        _mm256_fmadd_ps,
        _mm256_add_ps,
        _mm256_sub_ps
    );
}

#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
pub use wasm::Simd128;

#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
mod wasm {
    use super::Lanes;
    use std::arch::wasm32::*;

    #[derive(Clone, Copy)]
    pub struct Simd128;

    impl Lanes for Simd128 {
        const N: usize = 4;
        type V = v128;
        #[inline(always)]
        unsafe fn zero() -> v128 {
            f32x4_splat(0.0)
        }
        #[inline(always)]
        unsafe fn splat(x: f32) -> v128 {
            f32x4_splat(x)
        }
        #[inline(always)]
        unsafe fn load(p: *const f32) -> v128 {
            v128_load(p as *const v128)
        }
        #[inline(always)]
        unsafe fn store(p: *mut f32, v: v128) {
            v128_store(p as *mut v128, v)
        }
        #[inline(always)]
        unsafe fn madd(a: v128, b: v128, c: v128) -> v128 {
            // Fused in a relaxed-SIMD build (one instruction, rounded once or twice as the
            // engine chooses: an FMA on x86 with FMA and on ARM).
            #[cfg(target_feature = "relaxed-simd")]
            return f32x4_relaxed_madd(a, b, c);
            #[cfg(not(target_feature = "relaxed-simd"))]
            return f32x4_add(f32x4_mul(a, b), c);
        }
        #[inline(always)]
        unsafe fn add(a: v128, b: v128) -> v128 {
            f32x4_add(a, b)
        }
        #[inline(always)]
        unsafe fn sub(a: v128, b: v128) -> v128 {
            f32x4_sub(a, b)
        }
    }
}
