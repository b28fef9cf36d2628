//! The digest of what is new: after a pass that delivered anything, one Slack-compatible JSON
//! message (`{"text": ...}`) to `--digest-url` listing the new gists grouped by person, with
//! the person's owner when known and a link to the Pipedrive person; capped in length with
//! "and N more". Nothing when nothing is new; never a token (only gists, logins, owners'
//! names and the company's own Pipedrive links go in it).

use serde::Serialize;

use crate::config::Secret;
use crate::notify::Webhook;
use crate::site::Site;
use crate::sync::{Delivered, SyncReport};

/// The longest text posted: chat tools cut or refuse long messages (Slack shows about 4,000
/// characters before folding).
pub const MAX_CHARS: usize = 3_000;

/// What is posted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DigestMessage {
    pub text: String,
}

pub struct Digest {
    webhook: Webhook,
    site: Site,
}

impl Digest {
    pub fn new(url: Secret, site: Site) -> Digest {
        Digest {
            webhook: Webhook::new(url, "digest"),
            site,
        }
    }

    /// Posts the pass's digest, if it delivered anything.
    pub fn after_pass(&self, report: &SyncReport) {
        if report.dry_run {
            return;
        }
        if let Some(message) = message(&report.delivered, &self.site, MAX_CHARS) {
            self.webhook.post(&message);
        }
    }
}

/// Text from GitHub as Slack's markup reads it: one line, and `&`, `<`, `>` escaped (the
/// only characters its `mrkdwn` gives a meaning to inside a link's label).
fn escaped(text: &str) -> String {
    crate::output::one_line(text)
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// The digest of these deliveries, grouped by person in the order each was first delivered
/// to; `None` when there are none. Lines stop before `max_chars`, the rest counted in an
/// "and N more" line.
pub fn message(delivered: &[Delivered], site: &Site, max_chars: usize) -> Option<DigestMessage> {
    if delivered.is_empty() {
        return None;
    }
    let mut groups: Vec<(&Delivered, Vec<&Delivered>)> = Vec::new();
    for gist in delivered {
        match groups
            .iter_mut()
            .find(|(first, _)| first.login == gist.login)
        {
            Some((_, gists)) => gists.push(gist),
            None => groups.push((gist, vec![gist])),
        }
    }
    let people = groups.len();
    let mut text = format!(
        "gisttrack: {} new gist{} from {people} {}",
        delivered.len(),
        if delivered.len() == 1 { "" } else { "s" },
        if people == 1 { "person" } else { "people" },
    );
    let mut shown = 0;
    'groups: for (first, gists) in &groups {
        let person = match site.pipedrive_person(Some(first.pipedrive_person)) {
            Some(href) => format!("<{href}|Pipedrive person #{}>", first.pipedrive_person),
            None => format!("Pipedrive person #{}", first.pipedrive_person),
        };
        let owner = first
            .owner
            .as_deref()
            .map(|o| format!(", owner {}", escaped(o)))
            .unwrap_or_default();
        let mut block = format!("\n*{}* ({person}{owner})", escaped(&first.login));
        for gist in gists {
            let label = gist
                .description
                .as_deref()
                .map(escaped)
                .unwrap_or_else(|| "(no description)".into());
            let line = format!("\n• <{}|{label}>", gist.html_url);
            // Room is kept for the closing "and N more" line.
            if text.len() + block.len() + line.len() + 40 > max_chars {
                if block.contains('•') {
                    text.push_str(&block);
                }
                break 'groups;
            }
            block.push_str(&line);
            shown += 1;
        }
        text.push_str(&block);
    }
    if shown < delivered.len() {
        text.push_str(&format!("\n…and {} more", delivered.len() - shown));
    }
    Some(DigestMessage { text })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clients::GithubUrl;
    use crate::ids::PipedrivePersonId;

    fn gist(login: &str, person: i64, n: usize) -> Delivered {
        Delivered {
            login: login.into(),
            pipedrive_person: PipedrivePersonId(person),
            owner: (person == 1).then(|| "Sam Seller".into()),
            description: Some(format!("gist <{n}> & more")),
            html_url: GithubUrl::parse(&format!("https://gist.github.com/{login}{n}"), None)
                .unwrap(),
        }
    }

    #[test]
    fn nothing_new_is_no_message() {
        assert_eq!(message(&[], &Site::default(), MAX_CHARS), None);
    }

    #[test]
    fn gists_are_grouped_by_person_with_the_owner_and_the_person_link() {
        let site = Site::from_api_urls("https://api.github.com", "https://acme.pipedrive.com");
        let delivered = [gist("alice", 1, 0), gist("bob", 2, 0), gist("alice", 1, 1)];
        let text = message(&delivered, &site, MAX_CHARS).unwrap().text;
        assert_eq!(
            text,
            "gisttrack: 3 new gists from 2 people\n\
             *alice* (<https://acme.pipedrive.com/person/1|Pipedrive person #1>, owner Sam Seller)\n\
             • <https://gist.github.com/alice0|gist &lt;0&gt; &amp; more>\n\
             • <https://gist.github.com/alice1|gist &lt;1&gt; &amp; more>\n\
             *bob* (<https://acme.pipedrive.com/person/2|Pipedrive person #2>)\n\
             • <https://gist.github.com/bob0|gist &lt;0&gt; &amp; more>"
        );
        let generic = message(&delivered[..1], &Site::default(), MAX_CHARS).unwrap();
        assert!(
            generic
                .text
                .contains("(Pipedrive person #1, owner Sam Seller)"),
            "{}",
            generic.text
        );
    }

    #[test]
    fn a_long_digest_is_capped_with_how_many_more() {
        let delivered: Vec<Delivered> = (0..500).map(|n| gist("alice", 1, n)).collect();
        let text = message(&delivered, &Site::default(), 1_000).unwrap().text;
        assert!(text.len() <= 1_000, "{}", text.len());
        let shown = text.matches('•').count();
        assert!(shown > 5, "{text}");
        assert!(
            text.ends_with(&format!("…and {} more", 500 - shown)),
            "{text}"
        );
    }
}
