use clap::Parser;
use glassbox::cli::{Cli, Command};

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    if let Some(threads) = cli.threads {
        // candle and its gemm read this before they start their thread pools.
        std::env::set_var("RAYON_NUM_THREADS", threads.to_string());
    }
    match cli.command {
        None => match glassbox::app::run_studio(cli.project) {
            Ok(()) => std::process::ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("error: {e:#}");
                std::process::ExitCode::FAILURE
            }
        },
        Some(cmd) => glassbox::cli::run(cmd),
    }
}

#[allow(dead_code)]
fn _assert_command_used(_: Command) {}
