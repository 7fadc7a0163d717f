//! `wgpu-mnist summary`: a preset's layers, output shapes and parameter counts.

use wgpu_mnist::model::summary;
use wgpu_mnist::Error;

#[derive(clap::Args)]
pub struct SummaryArgs {
    /// The preset.
    #[arg(long, default_value = "pytorch-cnn", value_parser = super::preset_names())]
    model: String,
}

pub fn run(args: SummaryArgs) -> Result<(), Error> {
    print!("{}", summary(&super::preset(&args.model)?)?);
    Ok(())
}
