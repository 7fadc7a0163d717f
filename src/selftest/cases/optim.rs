//! Optimizers: three steps against the reference (at a constant rate, and at rates from
//! a schedule's table, past its end too), and the reference and the engine against
//! values worked out by hand.

use crate::desc::optim::{rate_at, Optimizer};
use crate::reference as cpu;
use crate::selftest::check::{Report, Rng};
use crate::selftest::engine::{OpEngine, Widen};
use crate::selftest::engine::{CpuEngine};
#[cfg(feature = "gpu")]
use crate::selftest::engine_gpu::{GpuEngine, upload};
#[cfg(feature = "gpu")]
use crate::selftest::engine::err;
#[cfg(feature = "gpu")]
use crate::ops;
#[cfg(feature = "gpu")]
use crate::ops::run;

/// The op on each engine, as the suite runs it: host inputs in, outputs (poisoned with
/// NaN before the op runs) out.
#[allow(async_fn_in_trait, clippy::too_many_arguments)]
pub trait Op {
    /// The parameters after each of `grads.len()` steps from `params` and zero state, and
    /// the step counter at the end.
    /// The parameters after each step (one per gradient) at the rates of the table
    /// `rates` (`crate::desc::optim::rate_at`), and the step counter.
    async fn optimizer_steps(
        &self,
        opt: &Optimizer,
        rates: &[f32],
        params: &[f32],
        grads: &[Vec<f32>],
    ) -> Result<(Vec<Vec<f32>>, u32), String>;
}

impl Op for CpuEngine {
    async fn optimizer_steps(
        &self,
        opt: &Optimizer,
        rates: &[f32],
        params: &[f32],
        grads: &[Vec<f32>],
    ) -> Result<(Vec<Vec<f32>>, u32), String> {
        let (mut p, mut s1, mut s2) = (params.to_vec(), vec![0f32; params.len()], vec![0f32; params.len()]);
        let mut out = Vec::new();
        for (step, grad) in grads.iter().enumerate() {
            let opt = opt.with_lr(crate::desc::optim::rate_at(rates, step as u32));
            crate::cpu::optim::optimizer_step(&opt, step as u32 + 1, &mut p, grad, &mut s1, &mut s2);
            out.push(p.clone());
        }
        Ok((out, grads.len() as u32))
    }
}

#[cfg(feature = "gpu")]
impl Op for GpuEngine {
    async fn optimizer_steps(
        &self,
        opt: &Optimizer,
        rates: &[f32],
        params: &[f32],
        grads: &[Vec<f32>],
    ) -> Result<(Vec<Vec<f32>>, u32), String> {
        let (g, n) = (&self.gpu, params.len());
        let zeros = vec![0f32; n];
        let (pv, gv, s1v, s2v, stepv, ratesv) =
            (upload(g, params)?, upload(g, &zeros)?, upload(g, &zeros)?, upload(g, &zeros)?, upload(g, &[0u32])?, upload(g, rates)?);
        let ds = ops::optim::optimizer_step(g, opt, &pv, &gv, &s1v, &s2v, &stepv, &ratesv).map_err(err)?;
        let mut out = Vec::new();
        for grad in grads {
            gv.write(g, grad);
            run(g, &ds.iter().collect::<Vec<_>>());
            out.push(pv.read(g).await.map_err(err)?);
        }
        let steps: Vec<u32> = stepv.read(g).await.map_err(err)?;
        Ok((out, steps[0]))
    }
}

fn optimizers() -> [Optimizer; 7] {
    [
        Optimizer::Sgd { lr: 0.01, momentum: 0.9, nesterov: false, weight_decay: 0.0 },
        Optimizer::Sgd { lr: 0.05, momentum: 0.9, nesterov: true, weight_decay: 1e-4 },
        Optimizer::Sgd { lr: 0.1, momentum: 0.0, nesterov: false, weight_decay: 0.0 },
        Optimizer::Adam { lr: 1e-3, beta1: 0.9, beta2: 0.999, eps: 1e-8, weight_decay: 0.0 },
        Optimizer::Adam { lr: 1e-2, beta1: 0.8, beta2: 0.99, eps: 1e-7, weight_decay: 1e-3 },
        Optimizer::RmsProp { lr: 1e-3, rho: 0.9, eps: 1e-7, weight_decay: 0.0 },
        Optimizer::Adadelta { lr: 1.0, rho: 0.95, eps: 1e-7, weight_decay: 0.0 },
    ]
}

pub async fn optimizers_match_reference_for_three_steps<E: OpEngine + Op>(engine: &E, rng: &mut Rng) -> Result<Report, String> {
    let mut rep = Report::new("optimizers");
    for (row, opt) in optimizers().iter().enumerate() {
        for (e, _) in engine.variants(Widen::Grid, row) {
            let n = 1000 + row * 37;
            let start = rng.vec(n);
            let grads: Vec<Vec<f32>> = (0..3).map(|_| rng.vec(n).into_iter().map(|v| v * 0.1).collect()).collect();
            // Odd rows: a two-step table, so the third step runs past its end.
            let rates = if row % 2 == 0 { vec![opt.lr()] } else { vec![opt.lr() * 0.5, opt.lr() * 2.0] };
            let (after, steps) = e.optimizer_steps(opt, &rates, &start, &grads).await?;
            let (mut params, mut s1, mut s2) = (start.clone(), vec![0f32; n], vec![0f32; n]);
            for (step, (grad, out)) in grads.iter().zip(&after).enumerate() {
                let at_rate = opt.with_lr(rate_at(&rates, step as u32));
                cpu::optim::optimizer_step(&at_rate, step as u32 + 1, &mut params, grad, &mut s1, &mut s2);
                rep.compare(&format!("{opt:?} step {} rates {rates:?}", step + 1), out, &params)?;
            }
            rep.compare_exact("step counter", &[steps], &[3])?;
            rep.shapes.push(format!("{} n={n} {} rates", opt.update_rule(), rates.len()));
        }
    }
    Ok(rep)
}

/// The reference and the engine against numbers worked out by hand (constant or given
/// gradients, p0 = 1).
pub async fn optimizers_match_hand_computed_values<E: OpEngine + Op>(engine: &E, _rng: &mut Rng) -> Result<Report, String> {
    let mut rep = Report::new("optimizers (hand-computed)");
    let cases: [(Optimizer, [f32; 3], [f32; 3]); 5] = [
        // v = 1, 1.9, 2.71; p -= 0.1 v
        (Optimizer::Sgd { lr: 0.1, momentum: 0.9, nesterov: false, weight_decay: 0.0 }, [1.0; 3], [0.9, 0.71, 0.439]),
        // p -= 0.1 (g + 0.9 v): 0.19, 0.271, 0.3439
        (Optimizer::Sgd { lr: 0.1, momentum: 0.9, nesterov: true, weight_decay: 0.0 }, [1.0; 3], [0.81, 0.539, 0.1951]),
        // step 1 moves by exactly lr; then m_hat / sqrt(v_hat) with g = -2, 0.5
        (
            Optimizer::Adam { lr: 0.1, beta1: 0.9, beta2: 0.999, eps: 1e-8, weight_decay: 0.0 },
            [1.0, -2.0, 0.5],
            [0.9, 0.936_610_35, 0.950_279_4],
        ),
        // v = 0.1, 0.19, 0.271; p -= 0.01 / sqrt(v)
        (Optimizer::RmsProp { lr: 0.01, rho: 0.9, eps: 0.0, weight_decay: 0.0 }, [1.0; 3], [0.968_377_2, 0.945_435_65, 0.926_226_2]),
        // delta = sqrt(u + eps) / sqrt(v + eps) g, u tracks delta^2
        (Optimizer::Adadelta { lr: 1.0, rho: 0.9, eps: 1e-6, weight_decay: 0.0 }, [1.0; 3], [0.996_837_74, 0.993_593_3, 0.990_292_5]),
    ];
    for (opt, grads, expected) in cases {
        let (mut p, mut s1, mut s2) = ([1f32], [0f32], [0f32]);
        let (after, _) = engine.optimizer_steps(&opt, &[opt.lr()], &[1.0], &grads.map(|g| vec![g])).await?;
        for step in 0..3 {
            cpu::optim::optimizer_step(&opt, step as u32 + 1, &mut p, &[grads[step]], &mut s1, &mut s2);
            rep.compare(&format!("reference {opt:?} step {}", step + 1), &p, &[expected[step]])?;
            rep.compare(&format!("{} {opt:?} step {}", engine.name(), step + 1), &after[step], &[expected[step]])?;
        }
        rep.shapes.push(opt.update_rule().into());
    }
    Ok(rep)
}
