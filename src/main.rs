//! The `shadergan` command line.

use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use shadergan::gpu::{self, BackendChoice, GpuOptions};
use shadergan::{Error, Gpu};

#[derive(Parser)]
#[command(
    name = "shadergan",
    version,
    about = "Train GANs with WGSL compute shaders on any GPU (or none)"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// Which adapter to run on.
#[derive(Args, Clone, Debug, Default)]
struct AdapterArgs {
    /// Graphics API: vulkan, metal, dx12 or gl (default: WGPU_BACKEND, else all).
    #[arg(long, value_enum, global = true)]
    backend: Option<BackendChoice>,
    /// A part of the adapter's name, as `shadergan adapters` prints it.
    #[arg(long, global = true)]
    adapter: Option<String>,
}

impl AdapterArgs {
    fn options(&self) -> GpuOptions {
        GpuOptions {
            backend: self.backend,
            adapter: self.adapter.clone(),
        }
    }
}

#[derive(Subcommand)]
enum Command {
    /// List every adapter with the limits and features the kernels use.
    Adapters {
        #[command(flatten)]
        which: AdapterArgs,
    },
    /// Open the chosen adapter and say which one it is.
    Info {
        #[command(flatten)]
        which: AdapterArgs,
    },
}

fn run(cli: Cli) -> Result<(), Error> {
    match cli.command {
        Command::Adapters { which } => {
            let adapters = gpu::enumerate(which.backend);
            if adapters.is_empty() {
                return Err(Error::NoAdapter {
                    backends: match which.backend {
                        Some(b) => format!("backend {b:?}"),
                        None => "all backends".into(),
                    },
                });
            }
            let chosen = gpu::choose_adapter(&which.options())?.get_info();
            for a in &adapters {
                let mark = if a.get_info() == chosen {
                    "  (chosen)"
                } else {
                    ""
                };
                print!(
                    "{}",
                    gpu::adapter_report(a).replacen('\n', &format!("{mark}\n"), 1)
                );
                println!();
            }
            Ok(())
        }
        Command::Info { which } => {
            let gpu = Gpu::new(&which.options())?;
            println!("{}", gpu.describe());
            println!("matmul tile: {}", gpu.tiles);
            Ok(())
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
