//! Where links out go: GitHub profiles, and Pipedrive persons when the configured Pipedrive
//! URL is a company's own.

use crate::ids::PipedrivePersonId;

/// Where the dashboard links out to: GitHub profiles, and Pipedrive persons when the
/// configured Pipedrive URL is a company's own (`https://acme.pipedrive.com`).
#[derive(Debug, Clone)]
pub struct Site {
    github_web: String,
    pipedrive_web: Option<String>,
}

impl Default for Site {
    fn default() -> Site {
        Site {
            github_web: "https://github.com".into(),
            pipedrive_web: None,
        }
    }
}

impl Site {
    /// From the API URLs gisttrack talks to: `https://api.github.com` links to github.com, a
    /// GitHub Enterprise `https://HOST/api/v3` to `https://HOST`; a company Pipedrive URL
    /// links persons into it (the generic `api.pipedrive.com` cannot).
    pub fn from_api_urls(github_api: &str, pipedrive_api: &str) -> Site {
        let github_api = github_api.trim_end_matches('/');
        let github_web = match github_api.strip_suffix("/api/v3") {
            Some(enterprise) => enterprise.to_string(),
            None if github_api.ends_with("://api.github.com") => "https://github.com".into(),
            None => github_api.to_string(),
        };
        let pipedrive_api = pipedrive_api.trim_end_matches('/');
        let host = pipedrive_api.split("://").nth(1).unwrap_or("");
        let pipedrive_web = (host.ends_with(".pipedrive.com") && host != "api.pipedrive.com")
            .then(|| pipedrive_api.to_string());
        Site {
            github_web,
            pipedrive_web,
        }
    }

    pub fn github_profile(&self, login: &str) -> String {
        format!("{}/{login}", self.github_web)
    }

    pub fn pipedrive_person(&self, id: Option<PipedrivePersonId>) -> Option<String> {
        Some(format!("{}/person/{}", self.pipedrive_web.as_ref()?, id?))
    }

    pub fn pipedrive_org(&self, id: Option<crate::ids::PipedriveOrgId>) -> Option<String> {
        Some(format!(
            "{}/organization/{}",
            self.pipedrive_web.as_ref()?,
            id?
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_go_where_the_configured_services_live() {
        let public = Site::from_api_urls("https://api.github.com", "https://api.pipedrive.com");
        assert_eq!(
            public.github_profile("octocat"),
            "https://github.com/octocat"
        );
        assert_eq!(public.pipedrive_person(Some(PipedrivePersonId(7))), None);
        let company = Site::from_api_urls(
            "https://ghe.example.com/api/v3/",
            "https://acme.pipedrive.com",
        );
        assert_eq!(
            company.github_profile("hubot"),
            "https://ghe.example.com/hubot"
        );
        assert_eq!(
            company
                .pipedrive_person(Some(PipedrivePersonId(7)))
                .as_deref(),
            Some("https://acme.pipedrive.com/person/7")
        );
        assert_eq!(company.pipedrive_person(None), None);
    }
}
