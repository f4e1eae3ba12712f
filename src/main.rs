use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "verigame", version, about = "Settle disputes about WebAssembly execution")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run WebAssembly spec test scripts (.wast files or folders of them).
    Spectest {
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// Print every failing assertion, not just the counts.
        #[arg(long)]
        verbose: bool,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Spectest { paths, verbose } => spectest(&paths, verbose),
    }
}

fn spectest(paths: &[PathBuf], verbose: bool) -> ExitCode {
    let files = match verigame::spectest::collect_scripts(paths) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let (mut passed, mut failed) = (0, 0);
    for file in &files {
        let report = verigame::spectest::run_script(file);
        println!("{:<40} {:>6} passed {:>6} failed", file.display(), report.passed, report.failed);
        if verbose {
            for f in &report.failures {
                println!("    {f}");
            }
        }
        passed += report.passed;
        failed += report.failed;
    }
    println!("{passed} passed, {failed} failed");
    if failed == 0 { ExitCode::SUCCESS } else { ExitCode::FAILURE }
}
