//! What an activity says about a gist: its subject, its HTML note, and the marker that finds it again.

use crate::clients::NewActivity;
use crate::db::gists::{Gist, GistFile};

/// A string no human types by accident, carried in every note so a delivery whose answer
/// was lost can be recognised among the person's activities.
pub fn marker(github_gist_id: &str) -> String {
    format!("gisttrack:gist:{github_gist_id}")
}

/// True when `note` carries exactly this gist's marker (not one that merely starts with it).
pub fn has_marker(note: &str, github_gist_id: &str) -> bool {
    let marker = marker(github_gist_id);
    note.match_indices(&marker).any(|(at, _)| {
        note[at + marker.len()..]
            .chars()
            .next()
            .is_none_or(|c| !c.is_ascii_alphanumeric())
    })
}

/// The gist's description, else its first file's name, else its id.
pub fn subject(gist: &Gist, files: &[GistFile]) -> String {
    let name = gist
        .description
        .as_deref()
        .map(str::trim)
        .filter(|d| !d.is_empty())
        .or_else(|| files.first().map(|f| f.name.as_str()))
        .unwrap_or(&gist.github_gist_id);
    let mut subject: String = format!("Gist: {name}").chars().take(250).collect();
    if subject.chars().count() == 250 {
        subject.push('…');
    }
    subject
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
pub fn note(login: &str, gist: &Gist, files: &[GistFile]) -> String {
    let link = |url: &str, text: &str| {
        format!("<a href=\"{}\">{}</a>", escape_html(url), escape_html(text))
    };
    let mut note = format!(
        "<p>New public gist by <b>{}</b>: {}</p>",
        escape_html(login),
        link(
            &gist.html_url,
            gist.description.as_deref().unwrap_or(&gist.github_gist_id)
        )
    );
    note.push_str(&format!(
        "<p>Clone: {}</p>",
        link(&gist.pull_url, &gist.pull_url)
    ));
    if !files.is_empty() {
        note.push_str("<p>Files:</p><ul>");
        for file in files {
            note.push_str(&format!("<li>{}</li>", link(&file.raw_url, &file.name)));
        }
        note.push_str("</ul>");
    }
    note.push_str(&format!("<p>{}</p>", marker(&gist.github_gist_id)));
    note
}

/// Everything Pipedrive needs to create the gist's one activity.
pub fn build(
    login: &str,
    gist: &Gist,
    files: &[GistFile],
    pipedrive_person_id: i64,
    activity_type: &str,
    done: bool,
    now: i64,
) -> NewActivity {
    NewActivity {
        subject: subject(gist, files),
        note: note(login, gist, files),
        activity_type: activity_type.to_string(),
        done,
        due_date: crate::time::utc_date(now),
        person_id: pipedrive_person_id,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gist(description: Option<&str>) -> Gist {
        Gist {
            id: 1,
            person_id: 1,
            github_gist_id: "abc123".into(),
            description: description.map(str::to_string),
            html_url: "https://gist.github.com/abc123".into(),
            pull_url: "https://gist.github.com/abc123.git".into(),
            github_created_at: 0,
            github_updated_at: 0,
            first_seen_at: 0,
            delivery_state: "pending".into(),
            activity_id: None,
            attempts: 0,
            last_error: None,
            next_attempt_at: None,
            attempt_started_at: None,
        }
    }

    fn file(name: &str) -> GistFile {
        GistFile {
            id: 1,
            gist_id: 1,
            name: name.into(),
            raw_url: format!("https://gist.githubusercontent.com/u/abc123/raw/{name}"),
            language: None,
            size: 1,
        }
    }

    #[test]
    fn subject_falls_back_to_first_file() {
        assert_eq!(
            subject(&gist(Some("Hello")), &[file("a.rs")]),
            "Gist: Hello"
        );
        assert_eq!(subject(&gist(Some("  ")), &[file("a.rs")]), "Gist: a.rs");
        assert_eq!(subject(&gist(None), &[]), "Gist: abc123");
    }

    #[test]
    fn note_escapes_and_carries_marker() {
        let note = note("octo", &gist(Some("<script>x</script>")), &[file("a&b.rs")]);
        assert!(!note.contains("<script>"));
        assert!(note.contains("&lt;script&gt;"));
        assert!(note.contains("a&amp;b.rs"));
        assert!(note.contains("https://gist.github.com/abc123.git"));
        assert!(has_marker(&note, "abc123"));
        assert!(!has_marker(&note, "abc12"));
        assert!(!has_marker("gisttrack:gist:abc1234", "abc123"));
    }
}
