//! `wgpu-mnist explain`: why a saved model gives its answer for one test image, on either
//! engine. Prints the guess and the label; draws the image, the saliency of one class (the
//! gradient of its logit with respect to each pixel, and integrated gradients from a blank
//! page) and every layer's output as PNG pictures; with --save-tensors, writes the raw
//! values as safetensors.

use std::path::PathBuf;

use wgpu_mnist::data::{pixels_to_input, Mnist, DEFAULT_DIR};
use wgpu_mnist::model::explain::Explainer;
use wgpu_mnist::model::{predicted_classes, safetensors};
use wgpu_mnist::Error;

use super::png_maps::{self, Picture};

/// Intervals of the integrated-gradients path, as the page takes them (within a few
/// percent of the logit's change on the presets).
const PATH_STEPS: usize = 16;

#[derive(clap::Args)]
pub struct ExplainArgs {
    /// The model file (safetensors, as `train --save` writes).
    #[arg(long, value_name = "FILE")]
    load: String,
    /// The test image, numbered from 0.
    #[arg(long, value_name = "N")]
    image: usize,
    /// The class to explain, 0 to 9 (default: the model's guess).
    #[arg(long, value_name = "K", value_parser = clap::value_parser!(u8).range(..10))]
    class: Option<u8>,
    /// The folder the PNG pictures are written to (it must exist).
    #[arg(long, value_name = "DIR", default_value = ".")]
    out: PathBuf,
    /// Also write the raw values here (safetensors, F32): `input` [1, 28, 28], `saliency`
    /// and `integrated` [28, 28], and each layer's output `layer{i}.{kind}` ([c, h, w], or
    /// [n] when flat), in the network's order.
    #[arg(long, value_name = "FILE")]
    save_tensors: Option<String>,
    #[command(flatten)]
    engine: super::EngineArgs,
    /// The folder with the four MNIST IDX files.
    #[arg(long, default_value = DEFAULT_DIR)]
    data: PathBuf,
}

pub async fn run(args: ExplainArgs) -> Result<(), Error> {
    let n = args.image;
    let png_path = |name: &str| args.out.join(format!("explain-{n}-{name}.png")).to_string_lossy().into_owned();
    // Outputs are checked before any work (the folder through the first picture's path).
    let outputs = [("--out", Some(png_path("input"))), ("--save-tensors", args.save_tensors.clone())];
    for (flag, path) in outputs {
        if let Some(path) = path {
            super::check_writable(flag, &path).map_err(|e| e.map_message(|m| format!("{m}; nothing was explained")))?;
        }
    }
    let data = Mnist::load(&args.data)?;
    if n >= data.test.len() {
        let message =
            format!("invalid value '{n}' for '--image <N>': the test set has {} images, 0 to {}\n", data.test.len(), data.test.len() - 1);
        clap::Error::raw(clap::error::ErrorKind::ValueValidation, message).exit();
    }
    let engine = super::engine(&args.engine).await?;
    let mut net = super::load_model(&engine, &args.load)?;
    let image = pixels_to_input(data.test.image(n));
    let label = data.test.labels[n];

    let seen = net.predictor(1)?.submit_activations(&mut net, &image).await?;
    let guess = predicted_classes(&seen.probs).next().expect("one image has a guess");
    println!("test image {n}: label {label}, guess {guess} ({:.1}%)", 100.0 * seen.probs[guess]);
    let class = args.class.map_or(guess, usize::from);
    let why = Explainer::new(&net, PATH_STEPS)?.submit(&mut net, &image, class).await?;
    println!(
        "explaining class {class}{}: logit {:.3}, {:.3} for a blank page; integrated gradients sum to {:.3}",
        if args.class.is_some() { "" } else { " (the guess)" },
        why.logits[class],
        why.baseline_logit,
        why.integrated.iter().sum::<f32>()
    );

    // Each layer's output: its name, shape ([n] when flat) and values.
    let mut layers = Vec::with_capacity(seen.layers.len());
    for (i, (layer, values)) in net.layers().iter().zip(seen.layers).enumerate() {
        let (c, h, w) = layer.output();
        let name = format!("layer{i}.{}", layer.kind());
        if values.len() != c * h * w {
            return Err(Error::Shape(format!("{name} gave {} values for its {c}x{h}x{w} output", values.len())));
        }
        layers.push((name, if h * w == 1 { vec![c] } else { vec![c, h, w] }, values, (c, h, w)));
    }

    let mut pictures: Vec<(String, Picture)> = vec![
        (png_path("input"), png_maps::gray(&image, 28, 28)),
        (png_path("saliency"), png_maps::diverging(&why.gradient, 28, 28)),
        (png_path("integrated"), png_maps::diverging(&why.integrated, 28, 28)),
    ];
    pictures.extend(layers.iter().map(|(name, _, values, dims)| (png_path(name), png_maps::layer(values, *dims))));
    for (path, picture) in &pictures {
        super::write_file(path, &picture.to_png()?)?;
        println!("wrote {path}");
    }

    if let Some(path) = &args.save_tensors {
        let mut tensors: Vec<(String, Vec<usize>, &[f32])> = vec![
            ("input".into(), vec![1, 28, 28], &image),
            ("saliency".into(), vec![28, 28], &why.gradient),
            ("integrated".into(), vec![28, 28], &why.integrated),
        ];
        tensors.extend(layers.iter().map(|(name, shape, values, _)| (name.clone(), shape.clone(), values.as_slice())));
        let metadata = [
            ("model", args.load.clone()),
            ("image", n.to_string()),
            ("label", label.to_string()),
            ("guess", guess.to_string()),
            ("class", class.to_string()),
        ];
        super::write_file(path, &safetensors::write(&metadata, &tensors))?;
        println!("wrote {path}");
    }
    Ok(())
}
