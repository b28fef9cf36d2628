//! `gisttrack serve`: the HTTP API, the sync loop, graceful shutdown.

use crate::cli::EngineArgs;
use crate::db::Store;
use crate::error::Result;

#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub engine: EngineArgs,
}

pub fn run(_args: ServeArgs, _open: impl FnOnce() -> Result<Store>) -> Result<()> {
    todo!()
}
