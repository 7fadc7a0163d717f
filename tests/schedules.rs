//! Learning-rate schedules against PyTorch's own schedulers, step by step
//! (tests/data/pytorch-schedules.json, written by scripts/pytorch-schedules.py).

use wgpu_mnist::desc::optim::{rate_at, Schedule};

#[test]
fn schedules_give_pytorchs_learning_rates_step_by_step() {
    let file: serde_json::Value = serde_json::from_str(include_str!("data/pytorch-schedules.json")).expect("the fixture parses");
    let cases = file["cases"].as_array().expect("cases");
    assert!(cases.len() >= 3);
    for case in cases {
        let name = case["schedule"].as_str().unwrap();
        let schedule = Schedule::named(name).unwrap_or_else(|| panic!("no schedule named {name}"));
        let (lr, per_epoch, epochs) = (
            case["lr"].as_f64().unwrap() as f32,
            case["steps_per_epoch"].as_u64().unwrap() as usize,
            case["epochs"].as_u64().unwrap() as usize,
        );
        let torch: Vec<f64> = case["rates"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
        let ours = schedule.rates(lr, per_epoch, epochs);
        assert_eq!(ours.len(), torch.len(), "{name}: one rate per step");
        for (step, (&o, &t)) in ours.iter().zip(&torch).enumerate() {
            // f32 rates (the lr itself is an f32 0.01 here): a few units in the last place.
            let error = (o as f64 - t).abs() / t.abs().max(1e-12);
            assert!(error < 1e-6, "{name} step {step}: ours {o}, PyTorch {t} (relative error {error:.2e})");
        }
    }
}

#[test]
fn a_constant_schedule_is_one_rate_and_the_last_rate_holds_past_the_end() {
    assert_eq!(Schedule::Constant.rates(0.5, 100, 3), vec![0.5]);
    let rates = Schedule::ONE_CYCLE.rates(0.01, 10, 1);
    assert_eq!(rate_at(&rates, 0), rates[0]);
    assert_eq!(rate_at(&rates, 9), rates[9]);
    assert_eq!(rate_at(&rates, 1000), rates[9]);
    assert!(rates.iter().all(|r| r.is_finite() && *r > 0.0));
    // A run of one step: no warm-up step at all, and still a finite rate.
    assert!(Schedule::ONE_CYCLE.rates(0.01, 1, 1)[0].is_finite());
}
