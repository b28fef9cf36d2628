//! The dashboard's pages as maud markup: escaped by construction, no scripts, one stylesheet.

use maud::{html, Markup, DOCTYPE};

use crate::output::when;
use crate::service::orgs::OrgSummary;
use crate::service::overview::{Overview, OverviewQuery, PersonPage, Sort};
use crate::service::{GistView, PersonSummary, SyncRunView};

use crate::site::Site;

/// What every page needs besides its content.
pub struct Frame<'a> {
    /// The visitor's CSRF value, carried by every form.
    pub csrf: &'a str,
    /// A session to end (a sign-out button), when sign-in is required.
    pub signed_in: bool,
    /// A line about what just happened (an add, a delete, a sync asked for).
    pub notice: Option<String>,
    /// An error to show above the content.
    pub error: Option<String>,
}

fn layout(title: &str, frame: &Frame<'_>, content: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · gisttrack" }
                link rel="stylesheet" href="/assets/style.css";
            }
            body {
                header.top {
                    a.brand href="/" { "gisttrack" }
                    nav {
                        a href="/" { "People" }
                        a href="/documentation/index.html" { "API" }
                        @if frame.signed_in {
                            form.inline method="post" action="/signout" {
                                (csrf_field(frame.csrf))
                                button.link type="submit" { "Sign out" }
                            }
                        }
                    }
                }
                main {
                    @if let Some(notice) = &frame.notice {
                        p.notice role="status" { (notice) }
                    }
                    @if let Some(error) = &frame.error {
                        p.error role="alert" { (error) }
                    }
                    (content)
                }
            }
        }
    }
}

fn csrf_field(csrf: &str) -> Markup {
    html! { input type="hidden" name="csrf" value=(csrf); }
}

/// `2026-11-29 11:00:35 UTC` in a `<time>`, or "never".
fn time(rfc3339: Option<&str>) -> Markup {
    match rfc3339 {
        Some(at) => html! { time datetime=(at) { (when(Some(at))) } },
        None => html! { span.muted { "never" } },
    }
}

/// What the overview lists: a page of people, the followed organizations, the last passes.
pub struct Listed<'a> {
    pub people: &'a Overview,
    pub orgs: &'a [OrgSummary],
    pub runs: &'a [SyncRunView],
}

/// The overview: add, sync, search and sort, then one row per person.
pub fn overview(
    frame: &Frame<'_>,
    site: &Site,
    query: &OverviewQuery,
    listed: &Listed<'_>,
    can_write: bool,
    add_value: &str,
) -> Markup {
    let (overview, runs, orgs) = (listed.people, listed.runs, listed.orgs);
    let content = html! {
        (actions(frame, can_write, add_value))
        (organizations(site, orgs))
        section {
            form.search method="get" action="/" {
                input type="search" name="q" value=(query.search) placeholder="Filter by login"
                    aria-label="Filter by login";
                input type="hidden" name="sort" value=(sort_name(query.sort));
                @if let Some(owner) = query.owner {
                    input type="hidden" name="owner" value=(owner);
                }
                button type="submit" { "Filter" }
            }
            @if let Some(owner) = query.owner {
                p.owner-filter {
                    "Showing the people Pipedrive user #" (owner) " owns · "
                    a href=(format!("/?sort={}", sort_name(query.sort))) { "show everyone" }
                }
            }
            p.sort {
                "Sort: "
                (sort_link(query, Sort::Name, "by name"))
                " · "
                (sort_link(query, Sort::New, "new gists first"))
            }
            @if overview.rows.is_empty() {
                p.empty {
                    @if query.owner.is_some() { "Nobody tracked here is theirs in Pipedrive." }
                    @else if query.search.is_empty() { "Nobody is tracked yet: add a GitHub login above." }
                    @else { "No tracked login starts with “" (query.search) "”." }
                }
            } @else {
                div.scroll {
                    table.people {
                        thead { tr {
                            th { "Login" } th.wide { "Name" } th.wide { "Pipedrive" }
                            th.wide { "Owner" } th.num { "New" } th.num { "Gists" } th.num.wide { "Pending" }
                            th.num { "Failed" } th.wide { "Last sync" }
                        } }
                        tbody {
                            @for row in &overview.rows {
                                (person_row(site, &row.person, row.new_gists))
                            }
                        }
                    }
                }
                @if let Some(next) = &overview.next {
                    p.pager {
                        a rel="next" href=(page_href(query, next)) { "Next page →" }
                    }
                }
            }
        }
        (recent_runs(runs))
    };
    layout("People", frame, content)
}

/// The add form and the sync button.
fn actions(frame: &Frame<'_>, can_write: bool, add_value: &str) -> Markup {
    html! {
    section.actions {
        form.add method="post" action="/people" {
            (csrf_field(frame.csrf))
            label for="username" { "Track a GitHub user, or follow an organization" }
            div.row {
                select name="kind" aria-label="What the login names" {
                    option value="user" { "User" }
                    option value="org" { "Organization" }
                }
                input #username type="text" name="username" value=(add_value)
                    placeholder="octocat, or org:acme" required autocomplete="off" maxlength="44";
                button type="submit" disabled[!can_write] { "Add" }
            }
        }
        form.sync method="post" action="/sync" {
            (csrf_field(frame.csrf))
            button type="submit" disabled[!can_write] { "Sync now" }
        }
        @if !can_write {
            p.muted { "Adding people and syncing need a Pipedrive token (PIPEDRIVE_TOKEN)." }
        }
    }
    }
}

/// The followed organizations: their Pipedrive organization, members, leavers, and who is
/// left out and why. Logins and names are GitHub's text: maud escapes them.
fn organizations(site: &Site, orgs: &[OrgSummary]) -> Markup {
    html! {
    @if !orgs.is_empty() {
        section.orgs {
            h2 { "Organizations" }
            div.scroll {
                table.orgs {
                    thead { tr {
                        th { "Organization" } th.wide { "Pipedrive" } th.num { "Members" }
                        th.wide { "Left" } th { "Skipped" }
                    } }
                    tbody {
                        @for org in orgs {
                            tr {
                                td {
                                    (org.org)
                                    " "
                                    a.external href=(site.github_profile(&org.org)) title="GitHub organization" { "↗" }
                                }
                                td.wide { @match (org.pipedrive_org_id, site.pipedrive_org(org.pipedrive_org_id)) {
                                    (Some(id), Some(href)) => a href=(href) { (org.name) " #" (id) },
                                    (Some(id), None) => { (org.name) " #" (id) },
                                    (None, _) => span.muted { "not linked yet" },
                                } }
                                td.num { (org.members) }
                                td.wide { @if org.left.is_empty() { span.muted { "none" } } @else { (org.left.join(", ")) } }
                                td { @if org.skipped.is_empty() { span.muted { "none" } } @else {
                                    @for (n, skipped) in org.skipped.iter().enumerate() {
                                        @if n > 0 { ", " }
                                        (skipped.login) " (" (skipped.reason.as_str()) ")"
                                    }
                                } }
                            }
                        }
                    }
                }
            }
        }
    }
    }
}

/// The last sync passes.
fn recent_runs(runs: &[SyncRunView]) -> Markup {
    html! {
    section {
        h2 { "Recent sync passes" }
        @if runs.is_empty() {
            p.muted { "No pass has run yet." }
        } @else {
            div.scroll {
                table.runs {
                    thead { tr {
                        th { "Started" } th.wide { "Trigger" } th.num.wide { "Users" }
                        th.num { "New" } th.num.wide { "Activities" } th.num { "Failed" }
                        th.wide { "Finished" }
                    } }
                    tbody {
                        @for run in runs {
                            tr {
                                td { (time(Some(&run.started_at))) }
                                td.wide { (run.trigger.as_str()) }
                                td.num.wide { (run.counts.users_checked) }
                                td.num { (run.counts.new_gists) }
                                td.num.wide { (run.counts.activities_created) }
                                td.num.failed[run.counts.failed > 0] { (run.counts.failed) }
                                td.wide { @match &run.finished_at {
                                    Some(at) => (time(Some(at))),
                                    None => span.muted { "running" },
                                } }
                            }
                        }
                    }
                }
            }
        }
    }
    }
}

fn sort_name(sort: Sort) -> &'static str {
    match sort {
        Sort::Name => "name",
        Sort::New => "new",
    }
}

/// `&owner=ID` while the overview shows one owner's people, so sorting and paging keep it.
fn owner_param(query: &OverviewQuery) -> String {
    query
        .owner
        .map(|owner| format!("&owner={owner}"))
        .unwrap_or_default()
}

fn sort_link(query: &OverviewQuery, sort: Sort, label: &str) -> Markup {
    let href = format!(
        "/?sort={}&q={}{}",
        sort_name(sort),
        percent_encoding::utf8_percent_encode(&query.search, percent_encoding::NON_ALPHANUMERIC),
        owner_param(query)
    );
    html! {
        @if query.sort == sort { strong { (label) } } @else { a href=(href) { (label) } }
    }
}

fn page_href(query: &OverviewQuery, after: &str) -> String {
    let encode = |text: &str| {
        percent_encoding::utf8_percent_encode(text, percent_encoding::NON_ALPHANUMERIC).to_string()
    };
    format!(
        "/?sort={}&q={}&after={}{}",
        sort_name(query.sort),
        encode(&query.search),
        encode(after),
        owner_param(query)
    )
}

fn person_row(site: &Site, person: &PersonSummary, new_gists: i64) -> Markup {
    let login = &person.github_username;
    html! {
        tr {
            td {
                a.login href={ "/people/" (login) } { (login) }
                " "
                a.external href=(site.github_profile(login)) title="GitHub profile" { "↗" }
            }
            td.wide { (person.name.as_deref().unwrap_or("")) }
            td.wide { (pipedrive_link(site, person)) }
            td.wide { (owner_filter(person)) }
            td.num { span.new.zero[new_gists == 0] { (new_gists) } }
            td.num { (person.gists_known) }
            td.num.wide { (person.deliveries_pending) }
            td.num.failed[person.deliveries_failed > 0] { (person.deliveries_failed) }
            td.wide { (time(person.last_sync.as_deref())) }
        }
    }
}

/// Who owns the user's Pipedrive person: the name where the token may read users, else the id.
fn owner(person: &PersonSummary) -> Markup {
    match (&person.owner_name, person.owner_id) {
        (Some(name), _) => html! { (name) },
        (None, Some(id)) => html! { "user #" (id) },
        (None, None) => html! { span.muted { "not read yet" } },
    }
}

/// The owner, linking to the overview of their people ("my people").
fn owner_filter(person: &PersonSummary) -> Markup {
    match person.owner_id {
        Some(id) => {
            html! { a href={ "/?owner=" (id) } title="Only their people" { (owner(person)) } }
        }
        None => owner(person),
    }
}

fn pipedrive_link(site: &Site, person: &PersonSummary) -> Markup {
    match (
        person.pipedrive_id,
        site.pipedrive_person(person.pipedrive_id),
    ) {
        (Some(id), Some(href)) => html! { a href=(href) { "#" (id) } },
        (Some(id), None) => html! { "#" (id) },
        (None, _) => html! { span.muted { "none" } },
    }
}

/// One person: who, what is new, and every gist.
pub fn person(frame: &Frame<'_>, site: &Site, page: &PersonPage, peek: bool) -> Markup {
    let person = &page.detail.person;
    let login = &person.github_username;
    let content = html! {
        section.person {
            h1 { (login) @if let Some(name) = &person.name { " " span.muted { "(" (name) ")" } } }
            p.links {
                a href=(site.github_profile(login)) { "GitHub profile" }
                " · Pipedrive person " (pipedrive_link(site, person))
                " · owner " (owner(person))
                " · last sync " (time(person.last_sync.as_deref()))
            }
            @if let Some(unlinked_at) = &person.unlinked_at {
                div.unlinked role="alert" {
                    p {
                        strong { "Pipedrive person " (crate::output::or_dash(person.pipedrive_id)) " was deleted" }
                        " (found " (time(Some(unlinked_at))) "), and no person carries "
                        (login) "'s activities. Nothing is sent for " (login) " until they are linked again."
                    }
                    form.inline method="post" action={ "/people/" (login) "/relink" } {
                        (csrf_field(frame.csrf))
                        label { "Link to Pipedrive person " input type="number" name="to" min="1" required; }
                        " " button type="submit" { "Link" }
                    }
                    form.inline method="post" action={ "/people/" (login) "/relink" } {
                        (csrf_field(frame.csrf))
                        input type="hidden" name="create" value="1";
                        button type="submit" { "Create a new person" }
                    }
                }
            }
            p.summary {
                span.new.zero[page.new.is_empty()] { (page.new.len()) } " new "
                @match (&page.since, peek) {
                    (Some(since), _) => { "since the visit of " (time(Some(since))) }
                    (None, _) => { "since tracking began (a first visit)" }
                }
                @if peek { " · peeking: this view records no visit" }
                @else { " · this visit is recorded" }
            }
            div.controls {
                @if peek {
                    form.inline method="post" action={ "/people/" (login) "/seen" } {
                        (csrf_field(frame.csrf))
                        button type="submit" { "Mark as seen" }
                    }
                } @else {
                    a.button href={ "/people/" (login) "?peek=1" } { "Peek (keep the count)" }
                }
                form.inline.danger method="post" action={ "/people/" (login) "/delete" } {
                    (csrf_field(frame.csrf))
                    button type="submit" { "Stop tracking" }
                }
            }
        }
        section {
            h2 { "Gists, newest first" }
            @if page.detail.gists.is_empty() {
                p.muted { "No gists yet: the next sync pass lists them." }
            }
            ol.gists {
                @for gist in &page.detail.gists {
                    (gist_item(gist, page.new.contains(gist.id.as_str())))
                }
            }
        }
    };
    layout(login, frame, content)
}

fn gist_item(gist: &GistView, new: bool) -> Markup {
    html! {
        li.gist.is-new[new] {
            div.head {
                @if new { span.badge { "new" } " " }
                a.gist-link href=(gist.html_url) {
                    @match gist.description.as_deref().filter(|d| !d.trim().is_empty()) {
                        Some(description) => (description),
                        None => span.muted { "(no description) " (gist.id) },
                    }
                }
            }
            ul.files {
                @for file in &gist.files {
                    li {
                        // Links are of GitHub's form (`GithubUrl`), never a script's; a
                        // refused one leaves the name without a link.
                        @if let Some(raw_url) = &file.raw_url { a href=(raw_url) { (file.name) } }
                        @else { (file.name) }
                        @if let Some(language) = &file.language { " " span.lang { (language) } }
                    }
                }
            }
            p.meta {
                "First seen " (time(Some(&gist.discovered_at)))
                " · delivery " span class={ "state " (gist.delivery.as_str()) } { (gist.delivery.as_str()) }
                @if let Some(activity) = gist.activity_id { " · activity #" (activity) }
                @if let Some(next) = &gist.next_attempt_at { " · next try " (time(Some(next))) }
            }
            @if let Some(error) = &gist.last_error {
                p.why { (error) }
            }
        }
    }
}

/// The sign-in form (the API token, once; a session cookie from then on).
pub fn signin(frame: &Frame<'_>, next: &str) -> Markup {
    let content = html! {
        section.signin {
            h1 { "Sign in" }
            p { "This gisttrack asks for its API token (GISTTRACK_API_TOKEN) once; a session then lasts 12 hours." }
            form method="post" action="/signin" {
                (csrf_field(frame.csrf))
                input type="hidden" name="next" value=(next);
                label for="token" { "API token" }
                input #token type="password" name="token" required autocomplete="current-password";
                button type="submit" { "Sign in" }
            }
        }
    };
    layout("Sign in", frame, content)
}

/// A page that only says what went wrong.
pub fn problem(frame: &Frame<'_>, title: &str) -> Markup {
    layout(
        title,
        frame,
        html! { p { a href="/" { "Back to the people" } } },
    )
}

/// The stylesheet, served from the binary.
pub const STYLE: &str = include_str!("style.css");
