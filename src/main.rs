//! `wgpu-mnist`, the native command line (see src/cli/); the browser build has none.

#[cfg(not(target_arch = "wasm32"))]
mod cli;

fn main() {
    #[cfg(not(target_arch = "wasm32"))]
    cli::main();
}
