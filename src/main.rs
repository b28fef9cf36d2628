//! The `gisttrack` binary: parse, set up logging, run, print any error once, and exit with a
//! status cron can act on (see `gisttrack --help`).

use std::process::ExitCode;

use gisttrack::cli::{Cli, Command};
use gisttrack::exit::Exit;

fn main() -> ExitCode {
    gisttrack::memory::limit_malloc_arenas();
    let cli = Cli::parse_args();
    let default_level = match cli.command {
        Command::Serve(_) => "info",
        _ => "warn",
    };
    gisttrack::logging::init(default_level, cli.log_format());
    let exit = match gisttrack::cmd::run(cli) {
        Ok(exit) => exit,
        Err(err) => {
            eprintln!(
                "gisttrack: {}",
                gisttrack::output::one_line(&err.to_string())
            );
            Exit::from(&err)
        }
    };
    ExitCode::from(exit.code())
}
