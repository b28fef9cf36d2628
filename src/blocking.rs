//! The one way async code runs Diesel and ureq work: on tokio's blocking pool, off the async
//! threads, with a panic turned into an error instead of a lost task.

use crate::error::{Error, Result};

/// Runs `work` on the blocking pool and returns its result.
pub async fn run<T: Send + 'static>(
    work: impl FnOnce() -> Result<T> + Send + 'static,
) -> Result<T> {
    match tokio::task::spawn_blocking(work).await {
        Ok(outcome) => outcome,
        Err(join) => {
            log::error!("blocking work panicked: {join}");
            Err(Error::Internal(format!("blocking work panicked: {join}")))
        }
    }
}
