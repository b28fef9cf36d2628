//! Typed ids: a row of ours, a GitHub account and a Pipedrive record are all integers, and a
//! function taking two of them must not accept them swapped.

use serde::{Deserialize, Serialize};

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        #[derive(Serialize, Deserialize, diesel_derive_newtype::DieselNewType)]
        #[serde(transparent)]
        pub struct $name(pub i64);

        impl From<i64> for $name {
            fn from(id: i64) -> Self {
                $name(id)
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                self.0.fmt(f)
            }
        }
    };
}

id_type!(
    /// A row of `people`.
    PersonId
);
id_type!(
    /// A row of `gists` (not GitHub's gist id, which is a string).
    GistRowId
);
id_type!(
    /// A GitHub account's numeric id, which survives renames.
    GithubUserId
);
id_type!(
    /// A Pipedrive person.
    PipedrivePersonId
);
id_type!(
    /// A Pipedrive activity.
    ActivityId
);
id_type!(
    /// A Pipedrive user (a salesperson who owns persons and activities).
    PipedriveUserId
);
id_type!(
    /// A Pipedrive organization.
    PipedriveOrgId
);
id_type!(
    /// A Pipedrive deal.
    DealId
);
