//! The store: one Diesel connection type over SQLite and MySQL, pooled, migrated on open.

pub mod claims;
mod connection;
pub mod departed;
mod errors;
pub mod gists;
pub mod link_history;
pub mod migrations;
pub mod orgs;
pub mod people;
pub mod person_creations;
mod pool;
pub mod schema;
mod store;
pub mod sync_runs;
pub(crate) mod text_enum;

pub use connection::*;
pub use errors::*;
pub use pool::*;
pub use store::*;
