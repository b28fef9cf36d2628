//! The `gisttrack` binary: parse, set up logging, run, print any error once.

use std::process::ExitCode;

use clap::Parser;
use gisttrack::cli::{Cli, Command};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let default_level = match cli.command {
        Command::Serve(_) => "info",
        _ => "warn",
    };
    gisttrack::logging::init(default_level);
    match gisttrack::cmd::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("gisttrack: {err}");
            ExitCode::FAILURE
        }
    }
}
