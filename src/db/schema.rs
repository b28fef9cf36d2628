//! The shared Diesel schema, kept by hand in the column types both backends support.

diesel::table! {
    people (id) {
        id -> BigInt,
        github_login -> Text,
        github_login_key -> Text,
        github_id -> Nullable<BigInt>,
        name -> Nullable<Text>,
        email -> Nullable<Text>,
        pipedrive_person_id -> Nullable<BigInt>,
        backfill -> Bool,
        added_at -> BigInt,
        last_synced_at -> Nullable<BigInt>,
        last_visited_at -> Nullable<BigInt>,
        previous_visited_at -> Nullable<BigInt>,
        gists_etag -> Nullable<Text>,
        lease_owner -> Nullable<Text>,
        lease_expires_at -> Nullable<BigInt>,
        pipedrive_owner_id -> Nullable<BigInt>,
        pipedrive_owner_name -> Nullable<Text>,
        pipedrive_org_id -> Nullable<BigInt>,
        activities_looked_at -> Nullable<BigInt>,
        unlinked_at -> Nullable<BigInt>,
        new_count -> BigInt,
    }
}

diesel::table! {
    gists (id) {
        id -> BigInt,
        person_id -> BigInt,
        github_gist_id -> Text,
        description -> Nullable<Text>,
        html_url -> Text,
        pull_url -> Text,
        github_created_at -> BigInt,
        github_updated_at -> BigInt,
        first_seen_at -> BigInt,
        delivery_state -> Text,
        activity_id -> Nullable<BigInt>,
        attempts -> Integer,
        last_error -> Nullable<Text>,
        next_attempt_at -> Nullable<BigInt>,
        attempt_started_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    gist_files (id) {
        id -> BigInt,
        gist_id -> BigInt,
        name -> Text,
        raw_url -> Nullable<Text>,
        language -> Nullable<Text>,
        size -> BigInt,
    }
}

diesel::table! {
    sync_runs (id) {
        id -> BigInt,
        trigger_kind -> Text,
        owner -> Text,
        started_at -> BigInt,
        finished_at -> Nullable<BigInt>,
        users_checked -> Integer,
        users_unchanged -> Integer,
        new_gists -> Integer,
        activities_created -> Integer,
        failed -> Integer,
        error_summary -> Nullable<Text>,
        users_skipped -> Integer,
        activities_reconciled -> Integer,
        deliveries_waiting -> Integer,
        users_relinked -> Integer,
        users_unlinked -> Integer,
    }
}

diesel::table! {
    departed_people (github_id) {
        github_id -> BigInt,
        pipedrive_person_id -> Nullable<BigInt>,
        settles_at -> Nullable<BigInt>,
        departed_at -> BigInt,
    }
}

diesel::table! {
    person_creations (github_login_key) {
        github_login_key -> Text,
        name -> Text,
        email -> Nullable<Text>,
        started_at -> BigInt,
        github_id -> Nullable<BigInt>,
    }
}

diesel::table! {
    account_claims (github_id) {
        github_id -> BigInt,
        purpose -> Text,
        owner -> Text,
        token -> BigInt,
        claimed_at -> BigInt,
        expires_at -> BigInt,
    }
}

diesel::table! {
    link_history (id) {
        id -> BigInt,
        github_id -> Nullable<BigInt>,
        github_login -> Text,
        from_pipedrive_id -> Nullable<BigInt>,
        to_pipedrive_id -> Nullable<BigInt>,
        reason -> Text,
        at -> BigInt,
    }
}

diesel::table! {
    followed_orgs (github_id) {
        github_id -> BigInt,
        login -> Text,
        login_key -> Text,
        name -> Text,
        pipedrive_org_id -> Nullable<BigInt>,
        members_etag -> Nullable<Text>,
        org_creation_started_at -> Nullable<BigInt>,
        followed_at -> BigInt,
        members_listed_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    org_members (org_github_id, github_id) {
        org_github_id -> BigInt,
        github_id -> BigInt,
        login -> Text,
        skipped -> Nullable<Text>,
        joined_at -> BigInt,
        left_at -> Nullable<BigInt>,
        added_by_org -> Bool,
    }
}

diesel::joinable!(gists -> people (person_id));
diesel::joinable!(gist_files -> gists (gist_id));
diesel::allow_tables_to_appear_in_same_query!(
    people,
    gists,
    gist_files,
    sync_runs,
    person_creations,
    account_claims,
    link_history,
    followed_orgs,
    org_members
);
