//! Mismatched shapes and impossible sizes are errors, not panics, on every engine.

use crate::selftest::check::{Report, Rng};
use crate::selftest::engine::OpEngine;

pub async fn bad_shapes_are_errors<E: OpEngine>(engine: &E, _rng: &mut Rng) -> Result<Report, String> {
    let mut rep = Report::new("bad shapes");
    rep.shapes = engine.bad_shapes_are_errors()?;
    Ok(rep)
}
