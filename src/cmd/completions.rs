//! `gisttrack completions <shell>`: shell completion scripts from the clap definition.

use clap::CommandFactory;
use clap_complete::Shell;

use crate::cli::Cli;
use crate::error::Result;
use crate::exit::Exit;

#[derive(Debug, clap::Args)]
pub struct CompletionsArgs {
    /// bash, zsh, fish, elvish or powershell.
    #[arg(value_enum)]
    pub shell: Shell,
}

/// The completion script for `shell`.
pub fn script(shell: Shell) -> Vec<u8> {
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "gisttrack", &mut out);
    out
}

/// The file name the script is committed under in `completions/`.
pub fn file_name(shell: Shell) -> &'static str {
    match shell {
        Shell::Bash => "gisttrack.bash",
        Shell::Zsh => "_gisttrack",
        Shell::Fish => "gisttrack.fish",
        Shell::Elvish => "gisttrack.elv",
        Shell::PowerShell => "_gisttrack.ps1",
        _ => "gisttrack.completion",
    }
}

pub fn run(args: CompletionsArgs) -> Result<Exit> {
    crate::output::write(&script(args.shell))?;
    Ok(Exit::Ok)
}
