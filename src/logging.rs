//! Logging: `env_logger` under `RUST_LOG`, except that the HTTP, TLS and pool crates never log
//! below INFO, whatever `RUST_LOG` says: at debug and trace they print request headers, and
//! with them the GitHub, Pipedrive and API tokens.

use log::{Level, Log, Metadata, Record};

/// Crates whose debug and trace output can carry header values.
const CAPPED: &[&str] = &[
    "ureq",
    "ureq_proto",
    "rustls",
    "hyper",
    "hyper_util",
    "h2",
    "http",
    "warp",
    "r2d2",
];

/// True when a record of `target` at `level` is muted whatever the filter says.
fn capped(target: &str, level: Level) -> bool {
    level > Level::Info
        && CAPPED.iter().any(|krate| {
            target == *krate
                || target
                    .strip_prefix(krate)
                    .is_some_and(|rest| rest.starts_with("::"))
        })
}

struct Capped(env_logger::Logger);

impl Log for Capped {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        !capped(metadata.target(), metadata.level()) && self.0.enabled(metadata)
    }

    fn log(&self, record: &Record<'_>) {
        if self.enabled(record.metadata()) {
            self.0.log(record);
        }
    }

    fn flush(&self) {
        self.0.flush();
    }
}

/// Installs the logger: `RUST_LOG` if set, else `default_level`.
pub fn init(default_level: &str) {
    let logger =
        env_logger::Builder::from_env(env_logger::Env::default().default_filter_or(default_level))
            .format_target(false)
            .build();
    log::set_max_level(logger.filter());
    let _ = log::set_boxed_logger(Box::new(Capped(logger)));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_tls_and_pool_crates_never_log_below_info() {
        for target in [
            "ureq",
            "ureq::unversioned::transport",
            "ureq_proto::client",
            "hyper::proto::h1",
            "rustls::client",
            "r2d2",
        ] {
            assert!(capped(target, Level::Debug), "{target}");
            assert!(capped(target, Level::Trace), "{target}");
            assert!(!capped(target, Level::Warn), "{target} warnings still show");
        }
        for target in ["gisttrack", "gisttrack::http", "ureqx", "hyperion"] {
            assert!(!capped(target, Level::Trace), "{target}");
        }
    }
}
