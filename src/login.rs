//! GitHub logins: validated once, here, before any I/O; compared case-insensitively.

use crate::error::{Error, Result};

/// [`Login::parse`]'s rule as a regular expression (with a length of 1 to 39): an ASCII
/// letter or digit first, then letters, digits, `_` and single hyphens. The OpenAPI
/// attributes must repeat it as a literal; a test holds the served document to this value.
pub const LOGIN_PATTERN: &str = r"^[A-Za-z0-9][A-Za-z0-9_]*(-[A-Za-z0-9_]+)*-?$";

/// A GitHub login that passed validation. GitHub treats logins case-insensitively, so
/// lookups go through [`Login::key`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Login(String);

impl Login {
    /// Validates a login: 1 to 39 letters, digits and single hyphens, no leading hyphen.
    /// A trailing hyphen (some old accounts) and `_` (managed-user suffixes) are tolerated;
    /// GitHub's 404 is the final word on whether the account exists.
    pub fn parse(input: &str) -> Result<Login> {
        let invalid = |reason| Error::InvalidLogin {
            login: input.chars().take(60).collect(),
            reason,
        };
        if input.is_empty() {
            return Err(invalid("it is empty"));
        }
        if input.chars().count() > 39 {
            return Err(invalid("it is longer than 39 characters"));
        }
        if !input
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err(invalid("only letters, digits, '-' and '_' are allowed"));
        }
        if input.starts_with('-') || input.starts_with('_') {
            return Err(invalid("it cannot start with '-' or '_'"));
        }
        if input.contains("--") {
            return Err(invalid("it cannot contain '--'"));
        }
        Ok(Login(input.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The case-folded form used for uniqueness and lookups.
    pub fn key(&self) -> String {
        self.0.to_ascii_lowercase()
    }
}

impl std::fmt::Display for Login {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_real_logins() {
        for ok in [
            "octocat",
            "a",
            "mona-cat",
            "x-",
            "mona-cat_octo",
            &"a".repeat(39),
        ] {
            assert!(Login::parse(ok).is_ok(), "{ok} should be valid");
        }
    }

    #[test]
    fn rejects_bad_logins() {
        let long = "a".repeat(40);
        for bad in [
            "", "-x", "_x", "a--b", "a b", "../etc", "é", "a;DROP", &long,
        ] {
            assert!(Login::parse(bad).is_err(), "{bad:?} should be invalid");
        }
    }

    #[test]
    fn key_is_case_insensitive() {
        assert_eq!(
            Login::parse("OctoCat").unwrap().key(),
            Login::parse("octocat").unwrap().key()
        );
    }
}
