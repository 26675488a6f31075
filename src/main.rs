use clap::Parser;
use glassbox::cli::{Cli, Command};

fn main() -> std::process::ExitCode {
    glassbox::keep_freed_memory();
    let cli = Cli::parse();
    if let Some(threads) = cli.threads {
        // candle and its gemm read this before they start their thread pools.
        std::env::set_var("RAYON_NUM_THREADS", threads.to_string());
    }
    if std::env::var_os("CANDLE_NUM_THREADS").is_none() {
        // candle's element-wise ops get their own pool of spinning threads; the heavy work runs
        // in Glassbox's kernels, and on a laptop's few cores those spinners steal the core a
        // parallel matmul needs. One thread keeps them out.
        std::env::set_var("CANDLE_NUM_THREADS", "1");
    }
    if let Some(warning) = glassbox::model::kernels::dispatch::cap_warning() {
        // A typo in a tuning variable should not stop the studio: say what runs instead.
        eprintln!("warning: {warning}");
    }
    match cli.command {
        None => run_studio(cli.project),
        Some(cmd) => glassbox::cli::run(cmd),
    }
}

#[cfg(feature = "gui")]
fn run_studio(project: Option<std::path::PathBuf>) -> std::process::ExitCode {
    match glassbox::app::run_studio(project) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", glassbox::cli::report(&e));
            std::process::ExitCode::FAILURE
        }
    }
}

/// A headless build (no `gui` feature) has the CLI and the server but no studio window.
#[cfg(not(feature = "gui"))]
fn run_studio(_project: Option<std::path::PathBuf>) -> std::process::ExitCode {
    eprintln!(
        "error: this glassbox was built without the studio (the `gui` feature); \
         run a subcommand instead (glassbox --help)"
    );
    std::process::ExitCode::from(2)
}

#[allow(dead_code)]
fn _assert_command_used(_: Command) {}
