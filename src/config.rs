//! Validated configuration: which database to open and the secrets, with a `Debug` that hides them.

use std::path::PathBuf;

use crate::error::{Error, Result};

/// Where the store lives; the backend is chosen from the URL scheme, explicitly.
#[derive(Clone, PartialEq, Eq)]
pub enum DatabaseTarget {
    /// An embedded SQLite file.
    Sqlite(PathBuf),
    /// A MySQL or MariaDB server, as a `mysql://` URL.
    Mysql(String),
}

impl DatabaseTarget {
    /// Parses `sqlite://PATH`, `sqlite:PATH`, a plain path, or
    /// `mysql://user:password@host:port/db` (`mariadb://` is accepted as a synonym). A value
    /// that looks like a URL (`scheme:...`) but is none of these is an error, not a file name.
    pub fn parse(url: &str) -> Result<DatabaseTarget> {
        if url.trim().is_empty() {
            return Err(Error::Config(format!("DATABASE_URL is empty; {ACCEPTED}")));
        }
        for scheme in ["mysql://", "mariadb://"] {
            if let Some(rest) = url.strip_prefix(scheme) {
                return DatabaseTarget::mysql(rest);
            }
        }
        let sqlite = url
            .strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"));
        if let Some(path) = sqlite {
            return DatabaseTarget::sqlite(path);
        }
        match url_scheme(url) {
            Some(scheme @ ("mysql" | "mariadb" | "sqlite")) => Err(Error::Config(format!(
                "DATABASE_URL starts with {scheme}: but is not a {scheme} URL (a slash missing?); {ACCEPTED}"
            ))),
            Some(scheme) => Err(Error::Config(format!(
                "unsupported database URL scheme {scheme:?}; {ACCEPTED}"
            ))),
            None => DatabaseTarget::sqlite(url),
        }
    }

    fn sqlite(path: &str) -> Result<DatabaseTarget> {
        match path {
            "" => Err(Error::Config(format!(
                "DATABASE_URL names no SQLite file; {ACCEPTED}"
            ))),
            ":memory:" | "/:memory:" => Err(Error::Config(
                "an in-memory SQLite database is not supported: every gisttrack command is its \
                 own process, so its data would vanish when it ends; give a file path, e.g. \
                 sqlite://./gisttrack.db"
                    .into(),
            )),
            path => Ok(DatabaseTarget::Sqlite(PathBuf::from(path))),
        }
    }

    fn mysql(rest: &str) -> Result<DatabaseTarget> {
        let target = DatabaseTarget::Mysql(format!("mysql://{rest}"));
        check_mysql_userinfo(&target)?;
        if target.database_name().is_empty() {
            return Err(Error::Config(format!(
                "DATABASE_URL {} names no database; {ACCEPTED}",
                target.redacted()
            )));
        }
        Ok(target)
    }

    /// Resolves the target from an explicit URL, else the seed's `DATABASE_HOST` family of
    /// variables, else the embedded default under the XDG data folder. A URL and any of the
    /// seed's variables at once is ambiguous (an image's default URL would silently win over
    /// an operator's MySQL settings), and so is a seed variable without `DATABASE_HOST`
    /// (it would silently mean SQLite): both are refused, naming the variables.
    pub fn resolve(
        url: Option<&str>,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<DatabaseTarget> {
        let seed: Vec<&str> = SEED_VARIABLES
            .into_iter()
            .filter(|name| env(name).is_some_and(|v| !v.is_empty()))
            .collect();
        if let Some(url) = url {
            if !seed.is_empty() {
                return Err(Error::Config(format!(
                    "DATABASE_URL (or --database-url) and {} are both set: use one or the \
                     other (an empty DATABASE_URL counts as unset)",
                    seed.join(", ")
                )));
            }
            return DatabaseTarget::parse(url);
        }
        if !seed.is_empty() && !seed.contains(&"DATABASE_HOST") {
            return Err(Error::Config(format!(
                "{} set without DATABASE_HOST: set DATABASE_HOST and DATABASE_NAME for MySQL, \
                 or unset {}",
                seed.join(", "),
                if seed.len() == 1 { "it" } else { "them" }
            )));
        }
        if let Some(host) = env("DATABASE_HOST").filter(|h| !h.is_empty()) {
            let given = |name: &str| env(name).filter(|v| !v.is_empty());
            let port = given("DATABASE_PORT").unwrap_or_else(|| "3306".into());
            let name = given("DATABASE_NAME").unwrap_or_default();
            if name.is_empty() {
                return Err(Error::Config(
                    "DATABASE_HOST is set but DATABASE_NAME is not".into(),
                ));
            }
            let user = given("DATABASE_USERNAME").unwrap_or_default();
            let password = given("DATABASE_PASSWORD").unwrap_or_default();
            let credentials = match (user.is_empty(), password.is_empty()) {
                (true, _) => String::new(),
                (false, true) => format!("{}@", percent_encode(&user)),
                (false, false) => {
                    format!("{}:{}@", percent_encode(&user), percent_encode(&password))
                }
            };
            return DatabaseTarget::parse(&format!("mysql://{credentials}{host}:{port}/{name}"));
        }
        let data_home = env("XDG_DATA_HOME")
            .filter(|d| !d.is_empty())
            .map(PathBuf::from)
            .or_else(|| env("HOME").map(|h| PathBuf::from(h).join(".local/share")))
            .ok_or_else(|| {
                Error::Config("neither DATABASE_URL, XDG_DATA_HOME nor HOME is set".into())
            })?;
        Ok(DatabaseTarget::Sqlite(
            data_home.join("gisttrack").join("gisttrack.db"),
        ))
    }

    pub fn backend(&self) -> &'static str {
        match self {
            DatabaseTarget::Sqlite(_) => "SQLite",
            DatabaseTarget::Mysql(_) => "MySQL",
        }
    }

    /// `host:port` of a server, or the SQLite file's path.
    pub fn host(&self) -> String {
        match self {
            DatabaseTarget::Sqlite(path) => path.display().to_string(),
            DatabaseTarget::Mysql(url) => mysql_parts(url)
                .1
                .split(['/', '?'])
                .next()
                .unwrap_or("")
                .to_string(),
        }
    }

    /// The database (schema) name; for SQLite the file name.
    pub fn database_name(&self) -> String {
        match self {
            DatabaseTarget::Sqlite(path) => path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            DatabaseTarget::Mysql(url) => mysql_parts(url)
                .1
                .split_once('/')
                .map(|(_, db)| db.split('?').next().unwrap_or("").to_string())
                .unwrap_or_default(),
        }
    }

    /// The URL without its user and password, safe for logs and errors.
    pub fn redacted(&self) -> String {
        match self {
            DatabaseTarget::Sqlite(path) => format!("sqlite://{}", path.display()),
            DatabaseTarget::Mysql(url) => match mysql_parts(url) {
                (Some(_), rest) => format!("mysql://***@{rest}"),
                (None, rest) => format!("mysql://{rest}"),
            },
        }
    }

    /// The password as the driver will see it (percent-decoded), to scrub driver messages.
    pub(crate) fn password(&self) -> Option<String> {
        let DatabaseTarget::Mysql(url) = self else {
            return None;
        };
        let (_, password) = mysql_parts(url).0?.split_once(':')?;
        (!password.is_empty()).then(|| percent_decode(password))
    }
}

/// The Go service's way to name a MySQL server, one variable a part.
const SEED_VARIABLES: [&str; 5] = [
    "DATABASE_HOST",
    "DATABASE_PORT",
    "DATABASE_NAME",
    "DATABASE_USERNAME",
    "DATABASE_PASSWORD",
];

/// The forms `DATABASE_URL` takes, for errors.
const ACCEPTED: &str = "use sqlite://PATH, a plain file path, or \
     mysql://user:password@host:port/db (mariadb:// also works)";

/// The scheme of a value that looks like a URL (`name:` with a name of two or more letters,
/// digits, `+`, `-` or `.`, starting with a letter), never shown beyond the scheme itself.
fn url_scheme(value: &str) -> Option<&str> {
    let (scheme, _) = value.split_once(':')?;
    let looks_like_one = scheme.len() >= 2
        && scheme.starts_with(|c: char| c.is_ascii_alphabetic())
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    looks_like_one.then_some(scheme)
}

/// Splits `mysql://USERINFO@REST` at the last `@`, so a password holding an unencoded `@`, `/`
/// or `?` is still wholly inside the userinfo, which is never printed.
fn mysql_parts(url: &str) -> (Option<&str>, &str) {
    let rest = url.strip_prefix("mysql://").unwrap_or(url);
    match rest.rsplit_once('@') {
        Some((userinfo, rest)) => (Some(userinfo), rest),
        None => (None, rest),
    }
}

/// Characters that end the userinfo part of a URL unless percent-encoded.
fn check_mysql_userinfo(target: &DatabaseTarget) -> Result<()> {
    let DatabaseTarget::Mysql(url) = target else {
        return Ok(());
    };
    let bad_escape = |text: &str| {
        text.split('%')
            .skip(1)
            .any(|tail| tail.len() < 2 || !tail.as_bytes()[..2].iter().all(u8::is_ascii_hexdigit))
    };
    let broken = match mysql_parts(url).0 {
        Some(userinfo) => userinfo.contains(['@', '/', '?', '#']) || bad_escape(userinfo),
        None => url.contains('#'),
    };
    if broken {
        return Err(Error::Config(
            "DATABASE_URL: the user name or password holds a character that must be \
             percent-encoded in a URL (@ as %40, / as %2F, ? as %3F, # as %23, % as %25, : in \
             the user name as %3A); or set DATABASE_HOST, DATABASE_NAME, DATABASE_USERNAME and \
             DATABASE_PASSWORD instead, which need no encoding"
                .into(),
        ));
    }
    Ok(())
}

fn percent_decode(text: &str) -> String {
    percent_encoding::percent_decode_str(text)
        .decode_utf8_lossy()
        .into_owned()
}

impl std::fmt::Debug for DatabaseTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.redacted())
    }
}

/// Checks an upstream API base URL (`--github-api-url`, `--pipedrive-api-url`): http or
/// https with a host, and no user name or password in it, which would be sent and logged
/// with every request. The value is never repeated in the error: it may hold a secret.
pub fn check_api_url(what: &str, url: &str) -> Result<()> {
    let refuse = |why: &str| Err(Error::Config(format!("{what} {why}")));
    let Ok(uri) = url.trim().parse::<ureq::http::Uri>() else {
        return refuse("is not a URL");
    };
    if !matches!(uri.scheme_str(), Some("http" | "https")) {
        return refuse("must start with https:// (or http://)");
    }
    match uri.authority() {
        None => refuse("names no host"),
        Some(authority) if authority.as_str().contains('@') => refuse(
            "carries a user name or password; tokens go in GITHUB_TOKEN and PIPEDRIVE_TOKEN, \
             never in a URL",
        ),
        // A fragment never reaches the server (ureq's Uri drops it), so look at the text.
        Some(_) if uri.query().is_some() || url.contains('#') => refuse(
            "carries a query string or fragment; an API URL is a scheme, host and path \
             (tokens go in GITHUB_TOKEN and PIPEDRIVE_TOKEN, never in a URL)",
        ),
        Some(_) => Ok(()),
    }
}

/// The shortest API token `serve` takes.
pub const MIN_API_TOKEN_CHARS: usize = 16;

/// What a refused API token's message advises.
const STRONG_TOKEN: &str =
    "set a random one of at least 16 characters (e.g. from `openssl rand -hex 32`)";

/// A token or password: kept out of `Debug`, `Display` and logs. Never empty: an empty or
/// blank value means "not set" (see [`Secret::given`]).
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// The secret in a value, or `None` for an empty or blank one.
    pub fn new(value: impl Into<String>) -> Option<Secret> {
        let value = value.into();
        let value = value.trim();
        (!value.is_empty()).then(|| Secret(value.to_string()))
    }

    /// A secret as the command line parsed it: `None` when unset or given empty (an
    /// `.env` file's `PIPEDRIVE_TOKEN=` means "not set", not "an empty token").
    pub fn given(arg: &Option<ArgSecret>) -> Option<Secret> {
        arg.as_ref().and_then(|raw| Secret::new(raw.0.clone()))
    }

    /// The API token as given: unset or empty means none, but a value of only whitespace,
    /// or one shorter than [`MIN_API_TOKEN_CHARS`], is refused rather than taken for "no
    /// token" or let guessers in.
    pub fn api_token(arg: &Option<ArgSecret>) -> Result<Option<Secret>> {
        let Some(ArgSecret(raw)) = arg.as_ref().filter(|raw| !raw.0.is_empty()) else {
            return Ok(None);
        };
        let Some(secret) = Secret::new(raw.as_str()) else {
            return Err(Error::Config(format!(
                "the API token (--api-token or GISTTRACK_API_TOKEN) is only whitespace, which \
                 would leave the API open: {STRONG_TOKEN}, or unset it to serve without one"
            )));
        };
        if secret.0.chars().count() < MIN_API_TOKEN_CHARS {
            return Err(Error::Config(format!(
                "the API token (--api-token or GISTTRACK_API_TOKEN) is shorter than \
                 {MIN_API_TOKEN_CHARS} characters, which could be guessed: {STRONG_TOKEN}"
            )));
        }
        Ok(Some(secret))
    }

    /// The secret itself, for the one place that sends it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

/// A secret as clap parses it, before "empty means unset" is applied by [`Secret::given`].
#[derive(Clone)]
pub struct ArgSecret(String);

impl std::str::FromStr for ArgSecret {
    type Err = std::convert::Infallible;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        Ok(ArgSecret(value.to_string()))
    }
}

impl std::fmt::Debug for ArgSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// Everything but the characters RFC 3986 leaves unreserved, as a URL's user name and
/// password need.
const USERINFO: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

fn percent_encode(text: &str) -> String {
    percent_encoding::utf8_percent_encode(text, USERINFO).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_env(_: &str) -> Option<String> {
        None
    }

    #[test]
    fn picks_backend_from_scheme() {
        assert_eq!(
            DatabaseTarget::parse("sqlite:///tmp/a.db").unwrap(),
            DatabaseTarget::Sqlite("/tmp/a.db".into())
        );
        assert_eq!(
            DatabaseTarget::parse("data/a.db").unwrap(),
            DatabaseTarget::Sqlite("data/a.db".into())
        );
        let mysql = DatabaseTarget::parse("mariadb://u:p@db:3307/gt").unwrap();
        assert_eq!(mysql.backend(), "MySQL");
        assert_eq!(mysql.host(), "db:3307");
        assert_eq!(mysql.database_name(), "gt");
        assert!(DatabaseTarget::parse("postgres://x/y").is_err());
        assert!(DatabaseTarget::parse("mysql://u@host:3306").is_err());
        assert_eq!(
            DatabaseTarget::parse("./odd:name.db").unwrap(),
            DatabaseTarget::Sqlite("./odd:name.db".into()),
            "a path that does not start with a scheme stays a path"
        );
    }

    #[test]
    fn a_malformed_or_unknown_url_is_refused_not_taken_for_a_file() {
        for (url, says) in [
            ("mysql:/db/gisttrack", "not a mysql URL"),
            ("mariadb:db", "not a mariadb URL"),
            ("postgresql://x/y", "unsupported database URL scheme"),
            ("redis:x", "unsupported database URL scheme"),
            ("sqlite:", "names no SQLite file"),
            ("sqlite://", "names no SQLite file"),
            ("sqlite::memory:", "in-memory"),
            ("sqlite://:memory:", "in-memory"),
            ("", "empty"),
        ] {
            let err = DatabaseTarget::parse(url).unwrap_err().to_string();
            assert!(err.contains(says), "{url:?}: {err}");
        }
    }

    #[test]
    fn never_shows_the_password() {
        let target = DatabaseTarget::parse("mysql://root:hunter2@db:3306/gt").unwrap();
        assert_eq!(target.redacted(), "mysql://***@db:3306/gt");
        assert_eq!(target.password().as_deref(), Some("hunter2"));
        assert!(!format!("{target:?}").contains("hunter2"));
        assert!(!format!("{:?}", Secret::new("hunter2").unwrap()).contains("hunter2"));
    }

    #[test]
    fn a_password_with_unencoded_url_characters_is_refused_without_echoing_it() {
        for url in [
            "mysql://app:p@ss@db/gt",
            "mysql://app:pa/ss@db/gt",
            "mysql://app:pa?ss@db/gt",
            "mysql://app:pa#ss@db/gt",
            "mysql://app:50%off@db/gt",
        ] {
            let err = DatabaseTarget::parse(url).unwrap_err().to_string();
            assert!(err.contains("percent-encoded"), "{url}: {err}");
            for piece in ["p@ss", "pa/ss", "pa?ss", "pa#ss", "50%off", "app"] {
                assert!(!err.contains(piece), "{url}: {err} shows {piece}");
            }
        }
        let encoded = DatabaseTarget::parse("mysql://app:p%40ss%2Fw@db:3306/gt").unwrap();
        assert_eq!(encoded.password().as_deref(), Some("p@ss/w"));
        assert_eq!(encoded.host(), "db:3306");
        assert_eq!(encoded.database_name(), "gt");
        assert!(!format!("{encoded:?}").contains("p%40ss"));
    }

    #[test]
    fn builds_url_from_seed_variables() {
        let env = |k: &str| match k {
            "DATABASE_HOST" => Some("db".to_string()),
            "DATABASE_NAME" => Some("pipedrive".to_string()),
            "DATABASE_USERNAME" => Some("app".to_string()),
            "DATABASE_PASSWORD" => Some("p@ss/word".to_string()),
            _ => None,
        };
        let target = DatabaseTarget::resolve(None, &env).unwrap();
        assert_eq!(
            target,
            DatabaseTarget::Mysql("mysql://app:p%40ss%2Fword@db:3306/pipedrive".into())
        );
    }

    #[test]
    fn a_url_and_the_seed_variables_at_once_are_refused_naming_both() {
        let env = |k: &str| match k {
            "DATABASE_HOST" => Some("db".to_string()),
            "DATABASE_NAME" => Some("gisttrack".to_string()),
            "DATABASE_PORT" => Some(String::new()),
            _ => None,
        };
        let err = DatabaseTarget::resolve(Some("sqlite:///data/gisttrack.db"), &env)
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "DATABASE_URL (or --database-url) and DATABASE_HOST, DATABASE_NAME are both set: \
             use one or the other (an empty DATABASE_URL counts as unset)"
        );
        let orphan = |k: &str| (k == "DATABASE_PASSWORD").then(|| "pw".to_string());
        let err = DatabaseTarget::resolve(None, &orphan)
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "DATABASE_PASSWORD set without DATABASE_HOST: set DATABASE_HOST and DATABASE_NAME \
             for MySQL, or unset it"
        );
        assert!(!err.contains("pw"), "no value is shown");
    }

    #[test]
    fn defaults_to_xdg_data_home() {
        let env = |k: &str| (k == "XDG_DATA_HOME").then(|| "/data".to_string());
        assert_eq!(
            DatabaseTarget::resolve(None, &env).unwrap(),
            DatabaseTarget::Sqlite("/data/gisttrack/gisttrack.db".into())
        );
        let home = |k: &str| (k == "HOME").then(|| "/home/u".to_string());
        assert_eq!(
            DatabaseTarget::resolve(None, &home).unwrap(),
            DatabaseTarget::Sqlite("/home/u/.local/share/gisttrack/gisttrack.db".into())
        );
        assert!(DatabaseTarget::resolve(None, &no_env).is_err());
    }
}
