//! `wgpu-mnist eval`: a saved model's accuracy on the test set, on either engine.

use wgpu_mnist::data::pixels_to_input;
use wgpu_mnist::model::predicted_classes;
use wgpu_mnist::train::Predictor;
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
        let images = pixels_to_input(&data.test.images.pixels[start * 784..(start + n) * 784]);
        let probs = predictor.run(&mut model, &images).await?;
        for (i, guess) in predicted_classes(&probs).enumerate() {
            correct += (guess == data.test.labels[start + i] as usize) as usize;
            total += 1;
        }
    }
    println!("{}: {} — test accuracy {:.2}% on {total} images", args.load, model.spec().name, 100.0 * correct as f64 / total as f64);
    Ok(())
}
