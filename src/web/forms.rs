//! What the dashboard's forms do: sign in and out, add a user or an organization, delete,
//! mark as seen, relink and sync, each through the same service call as the API.

use super::*;

/// What a form asks for.
#[derive(Debug, Clone)]
pub(super) enum Action {
    Add,
    Delete(String),
    Seen(String),
    Relink(String),
    Sync,
    SignIn,
    SignOut,
}

pub(super) async fn post(
    action: Action,
    state: AppState,
    visitor: Visitor,
    body: bytes::Bytes,
) -> Response {
    let fields = form_fields(&body);
    let cookie_csrf = (!visitor.new_csrf).then_some(visitor.csrf.as_str());
    if visitor.cross_site
        || !session::csrf_matches(cookie_csrf, fields.get("csrf").map(String::as_str))
    {
        return visitor.problem(
            &state,
            StatusCode::FORBIDDEN,
            "This form is out of date or did not come from this dashboard; nothing was changed. \
             Reload the page and try again."
                .into(),
        );
    }
    if let Action::SignIn = action {
        return sign_in(&state, &visitor, &fields);
    }
    // Signing out needs no session: one that has just expired must still be able to leave.
    if !visitor.session && !matches!(action, Action::SignOut) {
        return visitor.problem(
            &state,
            StatusCode::UNAUTHORIZED,
            "Sign in first; nothing was changed.".into(),
        );
    }
    match action {
        Action::Add => add(state, visitor, fields).await,
        Action::Delete(login) => delete(state, visitor, login).await,
        Action::Seen(login) => seen(state, visitor, login).await,
        Action::Relink(login) => relink(state, visitor, login, fields).await,
        Action::Sync => sync_now(state, visitor).await,
        Action::SignOut => {
            let mut response = visitor.redirect(if state.api_token.is_some() {
                "/signin"
            } else {
                "/"
            });
            let name = session::cookie_name(session::SESSION_COOKIE, visitor.secure);
            let gone = session::set_cookie(&name, "", Some(0), visitor.secure);
            if let Ok(value) = HeaderValue::from_str(&gone) {
                response.headers_mut().append(header::SET_COOKIE, value);
            }
            response
        }
        Action::SignIn => unreachable!("handled above"),
    }
}

fn sign_in(state: &AppState, visitor: &Visitor, fields: &HashMap<String, String>) -> Response {
    let (Some(token), Some(key)) = (&state.api_token, &state.sessions) else {
        return visitor.redirect("/");
    };
    let next = local_path(fields.get("next").map(String::as_str));
    let presented = fields.get("token").map(String::as_str);
    let refusal = match state.throttle.check(visitor.client, token, presented) {
        Verdict::Accepted => None,
        Verdict::Refused => Some((
            StatusCode::UNAUTHORIZED,
            "That is not this gisttrack's API token.".to_string(),
            None,
        )),
        Verdict::Throttled { retry_after } => Some((
            StatusCode::TOO_MANY_REQUESTS,
            format!(
                "Too many wrong tokens came from your address: try again in {retry_after} \
                 seconds."
            ),
            Some(retry_after),
        )),
    };
    if let Some((status, message, retry_after)) = refusal {
        let mut frame = visitor.frame(state);
        frame.error = Some(message);
        let mut response = visitor.page(status, pages::signin(&frame, &next));
        if let Some(seconds) = retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, seconds.into());
        }
        return response;
    }
    let mut response = visitor.redirect(&next);
    let cookie = session::set_cookie(
        &session::cookie_name(session::SESSION_COOKIE, visitor.secure),
        &session::new_session(key, now_secs()),
        Some(session::SESSION_SECONDS),
        visitor.secure,
    );
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
    response
}

/// What the add form names: a user, or an organization (`kind=org`, or `org:` before it).
fn add_target(fields: &HashMap<String, String>) -> (bool, String) {
    let typed = fields
        .get("username")
        .map(|u| u.trim().to_string())
        .unwrap_or_default();
    match typed.get(..4).filter(|p| p.eq_ignore_ascii_case("org:")) {
        Some(_) => (true, typed[4..].trim().to_string()),
        None => (fields.get("kind").map(String::as_str) == Some("org"), typed),
    }
}

async fn add(state: AppState, visitor: Visitor, fields: HashMap<String, String>) -> Response {
    let username = fields
        .get("username")
        .map(|u| u.trim().to_string())
        .unwrap_or_default();
    let (is_org, login) = add_target(&fields);
    let engine = state.engine.clone();
    let added = blocking(move || match is_org {
        true => service::orgs::add_org(&engine, &login).map(|_| "/?notice=org-added"),
        false => service::add_person(&engine, &login, true).map(|_| "/?notice=added"),
    })
    .await;
    match added {
        Ok(location) => visitor.redirect(location),
        Err(err) => {
            // The same page, the same errors as the API, with what was typed kept.
            let ApiProblem { status, body, .. } = ApiProblem::from(err);
            let message = body.error;
            let mut frame = visitor.frame(&state);
            frame.error = Some(message);
            let query = overview::OverviewQuery {
                limit: PAGE_SIZE,
                ..Default::default()
            };
            render_overview(&state, &visitor, frame, query, status, &username).await
        }
    }
}

async fn delete(state: AppState, visitor: Visitor, login: String) -> Response {
    let engine = state.engine.clone();
    match blocking(move || service::delete_person(&engine.store, &engine.settings, &login)).await {
        Ok(_) => visitor.redirect("/?notice=deleted"),
        Err(err) => visitor.failure(&state, err),
    }
}

async fn seen(state: AppState, visitor: Visitor, login: String) -> Response {
    let store = state.store().clone();
    let read = blocking(move || {
        service::view_person(&store, &login, service::ViewMode::NewSinceLastVisit)
    })
    .await;
    match read {
        Ok(detail) => {
            let login = detail.person.github_username;
            visitor.redirect(&format!("/people/{login}?peek=1&notice=seen"))
        }
        Err(err) => visitor.failure(&state, err),
    }
}

/// The relink form: `to` an existing person, or `create` a new one.
async fn relink(
    state: AppState,
    visitor: Visitor,
    login: String,
    fields: HashMap<String, String>,
) -> Response {
    let to = match (
        fields.get("to").map(|v| v.trim()),
        fields.contains_key("create"),
    ) {
        (Some(to), false) if !to.is_empty() => match to.parse::<i64>() {
            Ok(id) if id > 0 => RelinkTo::Person(crate::ids::PipedrivePersonId(id)),
            _ => {
                return visitor.problem(
                    &state,
                    StatusCode::BAD_REQUEST,
                    "A Pipedrive person id is a whole number; nothing was changed.".into(),
                )
            }
        },
        (_, true) => RelinkTo::Create,
        _ => RelinkTo::Survivor,
    };
    let engine = state.engine.clone();
    match blocking(move || service::relink::relink_person(&engine, &login, to)).await {
        Ok(relinked) => visitor.redirect(&format!(
            "/people/{}?peek=1&notice={}",
            relinked.login,
            if relinked.changed {
                "relinked"
            } else {
                "already-linked"
            }
        )),
        Err(err) => visitor.failure(&state, err),
    }
}

async fn sync_now(state: AppState, visitor: Visitor) -> Response {
    let Some(scheduler) = state.scheduler.clone() else {
        return visitor.failure(&state, Error::MissingPipedriveToken);
    };
    match scheduler.request_pass().await {
        Ok(_) => visitor.redirect("/?notice=sync"),
        Err(err) => visitor.failure(&state, err),
    }
}

/// A form's fields; an unreadable form has none (its CSRF check then refuses it).
pub(super) fn form_fields(body: &[u8]) -> HashMap<String, String> {
    crate::http::body::form_fields(body).unwrap_or_default()
}

/// A local path to return to after signing in. Only a path of this site, in the characters
/// its own links use: anything else (another site, `//host`, a backslash, a tab or newline
/// a browser would drop to make `/\t/host` into `//host`) is `/`.
pub(super) fn local_path(next: Option<&str>) -> String {
    let safe = |b: u8| b.is_ascii_alphanumeric() || b"/-_.~?=&%:+*".contains(&b);
    match next {
        Some(path)
            if path.starts_with('/') && !path.starts_with("//") && path.bytes().all(safe) =>
        {
            path.to_string()
        }
        _ => "/".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_add_form_names_a_user_or_an_organization() {
        let fields = |pairs: &[(&str, &str)]| -> HashMap<String, String> {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        assert_eq!(
            add_target(&fields(&[("username", " octocat ")])),
            (false, "octocat".into())
        );
        assert_eq!(
            add_target(&fields(&[("username", "acme"), ("kind", "org")])),
            (true, "acme".into())
        );
        assert_eq!(
            add_target(&fields(&[("username", "ORG: acme"), ("kind", "user")])),
            (true, "acme".into())
        );
        assert_eq!(add_target(&fields(&[])), (false, String::new()));
    }

    #[test]
    fn only_local_paths_are_returned_to() {
        assert_eq!(local_path(Some("/people/octocat")), "/people/octocat");
        assert_eq!(local_path(Some("/?sort=new&q=al")), "/?sort=new&q=al");
        for elsewhere in [
            None,
            Some("https://evil.example"),
            Some("//evil.example"),
            Some("/\\evil"),
            Some("/\t/evil.example"),
            Some("/\n/evil.example"),
            Some("/ /evil.example"),
        ] {
            assert_eq!(local_path(elsewhere), "/", "{elsewhere:?}");
        }
    }
}
