//! Logging: `env_logger` under `RUST_LOG`, as text or one JSON object per line, except that
//! the HTTP, TLS and pool crates never log below INFO whatever `RUST_LOG` says (at debug and
//! trace they print request headers, and with them the tokens), and that every message is
//! one safe line.

use std::io::Write as _;

use log::{Level, Log, Metadata, Record};

/// `--log-format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum LogFormat {
    /// `[time LEVEL] message`.
    #[default]
    Text,
    /// `{"time", "level", "target", "message", ...fields}` per line.
    Json,
}

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
            // A message can carry upstream text (a gist's id, Pipedrive's error): one line,
            // nothing that steers the terminal, as every printed line.
            let message = record.args().to_string();
            let safe = crate::output::one_line(&message);
            if safe == message {
                self.0.log(record);
            } else {
                self.0
                    .log(&record.to_builder().args(format_args!("{safe}")).build());
            }
        }
    }

    fn flush(&self) {
        self.0.flush();
    }
}

/// Installs the logger: `RUST_LOG` if set, else `default_level`.
pub fn init(default_level: &str, format: LogFormat) {
    let mut builder =
        env_logger::Builder::from_env(env_logger::Env::default().default_filter_or(default_level));
    match format {
        LogFormat::Text => builder.format_target(false),
        LogFormat::Json => builder.format(|out, record| writeln!(out, "{}", json_line(record))),
    };
    let logger = builder.build();
    log::set_max_level(logger.filter());
    let _ = log::set_boxed_logger(Box::new(Capped(logger)));
}

/// One log record as a JSON object: time, level, target, message, and its key-value fields
/// (an access-log line's method, path, status and duration).
fn json_line(record: &Record<'_>) -> String {
    use log::kv::{Key, Value, VisitSource};
    struct Fields<'a>(&'a mut serde_json::Map<String, serde_json::Value>);
    impl<'kvs> VisitSource<'kvs> for Fields<'_> {
        fn visit_pair(&mut self, key: Key<'kvs>, value: Value<'kvs>) -> Result<(), log::kv::Error> {
            let value = if let Some(n) = value.to_i64() {
                n.into()
            } else if let Some(n) = value.to_f64() {
                n.into()
            } else {
                value.to_string().into()
            };
            self.0.insert(key.to_string(), value);
            Ok(())
        }
    }
    let mut object = serde_json::Map::new();
    object.insert(
        "time".into(),
        humantime::format_rfc3339_millis(std::time::SystemTime::now())
            .to_string()
            .into(),
    );
    object.insert("level".into(), record.level().as_str().into());
    object.insert("target".into(), record.target().into());
    object.insert("message".into(), record.args().to_string().into());
    let _ = record.key_values().visit(&mut Fields(&mut object));
    serde_json::Value::Object(object).to_string()
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

    #[test]
    fn a_json_line_carries_the_record_and_its_fields() {
        let fields: &[(&str, log::kv::Value<'_>)] = &[
            ("method", log::kv::Value::from("GET")),
            ("status", log::kv::Value::from(200u16)),
        ];
        let line = json_line(
            &Record::builder()
                .level(Level::Info)
                .target("gisttrack::http")
                .args(format_args!("GET /healthz 200"))
                .key_values(&fields)
                .build(),
        );
        let value: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(value["level"], "INFO");
        assert_eq!(value["target"], "gisttrack::http");
        assert_eq!(value["message"], "GET /healthz 200");
        assert_eq!(value["method"], "GET");
        assert_eq!(value["status"], 200);
        assert!(value["time"].as_str().unwrap().ends_with('Z'));
    }
}
