//! The committed completion scripts match what the CLI generates; `make completions` updates them.

use clap_complete::Shell;
use gisttrack::cmd::completions::{file_name, script};

#[test]
fn committed_completions_match_the_cli() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("completions");
    for shell in [
        Shell::Bash,
        Shell::Zsh,
        Shell::Fish,
        Shell::Elvish,
        Shell::PowerShell,
    ] {
        let path = dir.join(file_name(shell));
        let committed = std::fs::read(&path)
            .unwrap_or_else(|_| panic!("{} is missing; run make completions", path.display()));
        assert!(
            committed == script(shell),
            "{} is stale; run make completions",
            path.display()
        );
    }
}

#[test]
fn cli_definition_is_consistent() {
    use clap::CommandFactory;
    gisttrack::cli::Cli::command().debug_assert();
}
