//! `wgpu-mnist eval`: a saved model's accuracy on the test set, on either engine.

use wgpu_mnist::train::{Predictor, PIXEL_SCALE};
use wgpu_mnist::Error;

#[derive(clap::Args)]
pub struct EvalArgs {
    /// The model file (safetensors, as `train --save` writes).
    #[arg(long, value_name = "FILE")]
    load: String,
    #[command(flatten)]
    engine: super::EngineArgs,
    #[command(flatten)]
    data: super::DataArgs,
}

pub async fn run(args: EvalArgs) -> Result<(), Error> {
    let engine = super::engine(&args.engine).await?;
    let mut model = super::load_model(&engine, &args.load)?;
    let data = super::load_data(&args.data)?;
    let n = data.test.len().min(1000);
    let mut predictor = Predictor::new(&model, n)?;
    let (mut correct, mut total) = (0, 0);
    for start in (0..data.test.len() - data.test.len() % n).step_by(n) {
        let images: Vec<f32> = data.test.images.pixels[start * 784..(start + n) * 784].iter().map(|&p| p as f32 * PIXEL_SCALE).collect();
        let probs = predictor.run(&mut model, &images).await?;
        for (i, row) in probs.chunks(10).enumerate() {
            let guess = (0..10).fold(0, |b, j| if row[j] > row[b] { j } else { b });
            correct += (guess == data.test.labels[start + i] as usize) as usize;
            total += 1;
        }
    }
    println!("{}: {} — test accuracy {:.2}% on {total} images", args.load, model.spec().name, 100.0 * correct as f64 / total as f64);
    Ok(())
}
