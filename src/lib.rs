//! gisttrack: track GitHub users' public gists and mirror each new one into Pipedrive as
//! exactly one activity. The binary is a thin shell over this library.

pub mod api;
pub mod blocking;
pub mod cli;
pub mod clients;
pub mod cmd;
pub mod config;
pub mod db;
pub mod defaults;
pub mod digest;
pub mod error;
pub mod exit;
pub mod http;
pub mod ids;
pub mod logging;
pub mod login;
pub mod memory;
pub mod metrics;
pub mod notify;
pub mod output;
pub mod routes;
pub mod service;
pub mod site;
pub mod sync;
pub mod time;
pub mod web;

pub use error::{Error, Result};
