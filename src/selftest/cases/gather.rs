//! gather: a batch of images and labels from the data set in a shuffled order, against
//! the reference, with the cursor advanced by the batch.

use crate::desc::gather::GatherShape;
use crate::reference as cpu;
use crate::selftest::check::{Report, Rng};
use crate::selftest::engine::{OpEngine, Widen};

pub async fn gather_matches_reference<E: OpEngine>(engine: &E, rng: &mut Rng) -> Result<Report, String> {
    let mut rep = Report::new("gather");
    for (row, &(count, pixels, batch, order_len)) in [(10, 784, 3, 10), (37, 5, 7, 20), (1000, 784, 64, 999)].iter().enumerate() {
        for (e, _) in engine.variants(Widen::Grid, row) {
            let images: Vec<u8> = (0..count * pixels).map(|_| rng.below(256) as u8).collect();
            let labels: Vec<u32> = (0..count).map(|_| rng.below(10) as u32).collect();
            let order: Vec<u32> = (0..order_len).map(|_| rng.below(count) as u32).collect();
            let s = GatherShape { batch, pixels, count: order_len, scale: 1.0 / 255.0, shift: -0.5 };
            let cursor = rng.below(order_len);
            let (x, y, next) = e.gather(&s, &images, &labels, &order, cursor as u32).await?;
            let (ref_x, ref_y) = cpu::gather::gather_batch(&s, &images, &labels, &order, cursor);
            let what = format!("{batch} of {count} images of {pixels} bytes");
            rep.compare(&what, &x, &ref_x)?;
            rep.compare_exact("labels", &y, &ref_y)?;
            rep.compare_exact("cursor advanced by the batch", &[next], &[(cursor + batch) as u32])?;
            rep.shapes.push(what);
        }
    }
    Ok(rep)
}
