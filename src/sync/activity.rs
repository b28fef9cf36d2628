//! What an activity says about a gist: its subject, its HTML note, and the marker that finds it again.

use crate::clients::{GistId, GithubUrl, NewActivity, RemoteGist};
use crate::db::gists::{Gist, GistFile};
use crate::ids::{DealId, PipedriveOrgId, PipedrivePersonId, PipedriveUserId};
use crate::output::one_line;

/// Pipedrive's limit for a subject, in characters.
const SUBJECT_LIMIT: usize = 250;

/// The parts of a gist an activity's text is made of, from the ledger or from a listing:
/// the id and links of GitHub's form (checked at the client), the rest anyone's text.
#[derive(Debug, Clone)]
pub struct GistText<'a> {
    pub gist_id: &'a GistId,
    pub description: Option<&'a str>,
    pub html_url: &'a GithubUrl,
    pub pull_url: &'a GithubUrl,
    /// `(name, raw_url)` of each file, in name order.
    pub files: Vec<(&'a str, Option<&'a GithubUrl>)>,
}

impl<'a> GistText<'a> {
    pub fn of(gist: &'a Gist, files: &'a [GistFile]) -> GistText<'a> {
        GistText {
            gist_id: &gist.github_gist_id,
            description: gist.description.as_deref(),
            html_url: &gist.html_url,
            pull_url: &gist.pull_url,
            files: files
                .iter()
                .map(|f| (f.name.as_str(), f.raw_url.as_ref()))
                .collect(),
        }
    }

    pub fn of_remote(gist: &'a RemoteGist) -> GistText<'a> {
        GistText {
            gist_id: &gist.id,
            description: gist.description.as_deref(),
            html_url: &gist.html_url,
            pull_url: &gist.pull_url,
            files: gist
                .files
                .iter()
                .map(|f| (f.name.as_str(), f.raw_url.as_ref()))
                .collect(),
        }
    }
}

/// How activities are made: their type, whether created done, whose they are, and whether
/// they link the person's one open deal (`--activity-type`, `--activity-done`,
/// `--activity-owner`, `--link-open-deal`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActivitySettings {
    pub activity_type: String,
    pub done: bool,
    pub owner: ActivityOwner,
    pub link_open_deal: bool,
}

impl Default for ActivitySettings {
    fn default() -> Self {
        ActivitySettings {
            activity_type: "task".into(),
            done: false,
            owner: ActivityOwner::Person,
            link_open_deal: false,
        }
    }
}

/// Whose an activity is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ActivityOwner {
    /// The owner of the Pipedrive person at the time of delivery: the salesperson who acts.
    Person,
    /// The token's user (Pipedrive's default).
    Token,
    /// This Pipedrive user.
    User(PipedriveUserId),
}

impl std::str::FromStr for ActivityOwner {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text.trim() {
            "person" => Ok(ActivityOwner::Person),
            "token" => Ok(ActivityOwner::Token),
            other => other
                .parse::<i64>()
                .ok()
                .filter(|id| *id > 0)
                .map(|id| ActivityOwner::User(PipedriveUserId(id)))
                .ok_or_else(|| {
                    format!("{other:?} is not person, token or a Pipedrive user id (a number)")
                }),
        }
    }
}

/// Where an activity goes, as the look before delivering read it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Recipient {
    pub person: PipedrivePersonId,
    /// The person's owner.
    pub owner: Option<PipedriveUserId>,
    pub org: Option<PipedriveOrgId>,
    /// The person's one open deal, when `--link-open-deal` and there is exactly one.
    pub deal: Option<DealId>,
}

/// A string no human types by accident, carried in every note so a delivery whose answer
/// was lost can be recognised among the person's activities.
/// The id is of GitHub's form (letters and digits), so the marker is plain text in any note.
pub fn marker(github_gist_id: &GistId) -> String {
    format!("gisttrack:gist:{github_gist_id}")
}

/// The GitHub gist ids whose markers `note` carries.
pub fn markers(note: &str) -> impl Iterator<Item = GistId> + '_ {
    const PREFIX: &str = "gisttrack:gist:";
    note.match_indices(PREFIX).filter_map(|(at, _)| {
        let rest = &note[at + PREFIX.len()..];
        let end = rest
            .find(|c: char| !c.is_ascii_alphanumeric())
            .unwrap_or(rest.len());
        GistId::parse(&rest[..end]).ok()
    })
}

/// True when `note` carries exactly this gist's marker (not one that merely starts with it).
pub fn has_marker(note: &str, github_gist_id: &GistId) -> bool {
    let marker = marker(github_gist_id);
    note.match_indices(&marker).any(|(at, _)| {
        note[at + marker.len()..]
            .chars()
            .next()
            .is_none_or(|c| !c.is_ascii_alphanumeric())
    })
}

/// `Gist: ` and the description, else the first file's name, else the id, on one line with
/// nothing that steers a terminal (a subject is read in lists, exports and mail); a subject
/// longer than Pipedrive takes ends in "…".
pub fn subject(gist: &GistText<'_>) -> String {
    let name = gist
        .description
        .map(str::trim)
        .filter(|d| !d.is_empty())
        .or_else(|| gist.files.first().map(|(name, _)| *name))
        .unwrap_or(gist.gist_id.as_str());
    let subject = format!("Gist: {}", one_line(name));
    if subject.chars().count() <= SUBJECT_LIMIT {
        return subject;
    }
    let mut cut: String = subject.chars().take(SUBJECT_LIMIT - 1).collect();
    cut.push('…');
    cut
}

pub fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The note: links to the gist page, its clone URL and every file's raw URL, then the marker.
/// Every `href` is a [`GithubUrl`] (never a `javascript:` or `data:` one); all text is made
/// one line without control or bidirectional-override characters, then HTML-escaped, and
/// the links are escaped as well, as a second line of defence.
pub fn note(login: &str, gist: &GistText<'_>) -> String {
    let text = |text: &str| escape_html(&one_line(text));
    let link = |url: &GithubUrl, shown: &str| {
        format!(
            "<a href=\"{}\">{}</a>",
            escape_html(url.as_str()),
            text(shown)
        )
    };
    let mut note = format!(
        "<p>New public gist by <b>{}</b>: {}</p>",
        text(login),
        link(
            gist.html_url,
            gist.description.unwrap_or(gist.gist_id.as_str())
        )
    );
    note.push_str(&format!(
        "<p>Clone: {}</p>",
        link(gist.pull_url, gist.pull_url.as_str())
    ));
    if !gist.files.is_empty() {
        note.push_str("<p>Files:</p><ul>");
        for (name, raw_url) in &gist.files {
            let item = match raw_url {
                Some(url) => link(url, name),
                None => text(name),
            };
            note.push_str(&format!("<li>{item}</li>"));
        }
        note.push_str("</ul>");
    }
    note.push_str(&format!("<p>{}</p>", marker(gist.gist_id)));
    note
}

/// Everything Pipedrive needs to create the gist's one activity.
pub fn build(
    gist: &GistText<'_>,
    login: &str,
    to: &Recipient,
    settings: &ActivitySettings,
    now: i64,
) -> NewActivity {
    NewActivity {
        subject: subject(gist),
        note: note(login, gist),
        activity_type: settings.activity_type.clone(),
        done: settings.done,
        due_date: crate::time::utc_date(now),
        person_id: to.person,
        owner_id: match settings.owner {
            ActivityOwner::Person => to.owner,
            ActivityOwner::Token => None,
            ActivityOwner::User(user) => Some(user),
        },
        org_id: to.org,
        deal_id: to.deal,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(text: &str) -> GistId {
        GistId::parse(text).unwrap()
    }

    fn url(text: &str) -> GithubUrl {
        GithubUrl::parse(text, None).unwrap()
    }

    struct Owned {
        id: GistId,
        html: GithubUrl,
        pull: GithubUrl,
        files: Vec<(&'static str, Option<GithubUrl>)>,
    }

    fn owned(files: Vec<(&'static str, Option<&str>)>) -> Owned {
        Owned {
            id: id("abc123"),
            html: url("https://gist.github.com/abc123"),
            pull: url("https://gist.github.com/abc123.git"),
            files: files
                .into_iter()
                .map(|(name, raw)| (name, raw.map(url)))
                .collect(),
        }
    }

    fn text<'a>(gist: &'a Owned, description: Option<&'a str>) -> GistText<'a> {
        GistText {
            gist_id: &gist.id,
            description,
            html_url: &gist.html,
            pull_url: &gist.pull,
            files: gist
                .files
                .iter()
                .map(|(name, raw)| (*name, raw.as_ref()))
                .collect(),
        }
    }

    const FILE: (&str, Option<&str>) = (
        "a.rs",
        Some("https://gist.githubusercontent.com/u/abc123/raw/a.rs"),
    );

    #[test]
    fn subject_falls_back_to_first_file_then_the_id() {
        let with_file = owned(vec![FILE]);
        let bare = owned(vec![]);
        assert_eq!(subject(&text(&with_file, Some("Hello"))), "Gist: Hello");
        assert_eq!(subject(&text(&with_file, Some("  "))), "Gist: a.rs");
        assert_eq!(subject(&text(&bare, None)), "Gist: abc123");
    }

    #[test]
    fn only_a_subject_longer_than_the_limit_is_cut() {
        let bare = owned(vec![]);
        let exact = "x".repeat(SUBJECT_LIMIT - 6);
        let fits = subject(&text(&bare, Some(&exact)));
        assert_eq!(fits.chars().count(), SUBJECT_LIMIT);
        assert!(!fits.ends_with('…'), "exactly at the limit: kept whole");

        let long = "é".repeat(400);
        let cut = subject(&text(&bare, Some(&long)));
        assert_eq!(cut.chars().count(), SUBJECT_LIMIT);
        assert!(cut.ends_with('…'));
    }

    #[test]
    fn the_owner_follows_the_setting_and_org_and_deal_the_person() {
        let to = Recipient {
            person: PipedrivePersonId(42),
            owner: Some(PipedriveUserId(8)),
            org: Some(PipedriveOrgId(3)),
            deal: Some(DealId(5)),
        };
        let made = |owner: ActivityOwner| {
            let settings = ActivitySettings {
                owner,
                ..ActivitySettings::default()
            };
            build(&text(&owned(vec![]), None), "octo", &to, &settings, 0)
        };
        assert_eq!(
            made(ActivityOwner::Person).owner_id,
            Some(PipedriveUserId(8))
        );
        assert_eq!(made(ActivityOwner::Token).owner_id, None);
        let chosen = made(ActivityOwner::User(PipedriveUserId(9)));
        assert_eq!(chosen.owner_id, Some(PipedriveUserId(9)));
        assert_eq!((chosen.org_id, chosen.deal_id), (to.org, to.deal));
        assert_eq!("person".parse(), Ok(ActivityOwner::Person));
        assert_eq!("token".parse(), Ok(ActivityOwner::Token));
        assert_eq!("12".parse(), Ok(ActivityOwner::User(PipedriveUserId(12))));
        assert!("0".parse::<ActivityOwner>().is_err());
        assert!("nobody".parse::<ActivityOwner>().is_err());
    }

    #[test]
    fn note_escapes_and_carries_marker() {
        let gist = owned(vec![("a&b.rs", Some("https://x/raw/a&b.rs"))]);
        let note = note("octo", &text(&gist, Some("<script>x</script>")));
        assert!(!note.contains("<script>"));
        assert!(note.contains("&lt;script&gt;"));
        assert!(note.contains("a&amp;b.rs"));
        assert!(note.contains("https://gist.github.com/abc123.git"));
        assert!(has_marker(&note, &id("abc123")));
        assert_eq!(markers(&note).collect::<Vec<_>>(), [id("abc123")]);
        assert_eq!(
            markers("gisttrack:gist:a1<br>gisttrack:gist:b2 gisttrack:gist:").collect::<Vec<_>>(),
            [id("a1"), id("b2")]
        );
        assert!(!has_marker(&note, &id("abc12")));
        assert!(!has_marker("gisttrack:gist:abc1234", &id("abc123")));
    }

    #[test]
    fn text_that_steers_a_terminal_never_reaches_a_subject_or_a_note() {
        let hostile = "\u{1b}]52;c;cHduZWQ=\u{7}\u{1b}[31mred\u{202e}txt.exe\nnext";
        let gist = owned(vec![("\u{1b}[1mevil\u{7}\u{202e}hs.txt", None)]);
        let built = build(
            &text(&gist, Some(hostile)),
            "octo",
            &Recipient {
                person: PipedrivePersonId(1),
                owner: None,
                org: None,
                deal: None,
            },
            &ActivitySettings::default(),
            0,
        );
        for (what, value) in [("subject", &built.subject), ("note", &built.note)] {
            assert!(
                !value
                    .chars()
                    .any(|c| c.is_control() || ('\u{202a}'..='\u{202e}').contains(&c)),
                "{what}: {value:?}"
            );
            assert!(
                value.contains("red\u{FFFD}txt.exe next"),
                "{what}: {value:?}"
            );
        }
        assert!(
            built
                .note
                .contains("<li>\u{FFFD}[1mevil\u{FFFD}\u{FFFD}hs.txt</li>"),
            "a file whose link was refused is listed without one: {}",
            built.note
        );
    }
}
