
use builtin;
use str;

set edit:completion:arg-completer[gisttrack] = {|@words|
    fn spaces {|n|
        builtin:repeat $n ' ' | str:join ''
    }
    fn cand {|text desc|
        edit:complex-candidate $text &display=$text' '(spaces (- 14 (wcswidth $text)))$desc
    }
    var command = 'gisttrack'
    for word $words[1..-1] {
        if (str:has-prefix $word '-') {
            break
        }
        set command = $command';'$word
    }
    var completions = [
        &'gisttrack'= {
            cand --database-url 'Database for the command (as the command''s own --database-url, which wins)'
            cand --log-format 'Log format for the command (as the command''s own --log-format, which wins)'
            cand -o 'Output format for the command (as the command''s own -o, which wins)'
            cand --output 'Output format for the command (as the command''s own -o, which wins)'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
            cand add 'Start tracking GitHub users (checks GitHub, links or creates the Pipedrive person)'
            cand list 'List tracked users with their delivery state'
            cand show 'Show a user and the gists first seen since the previous visit; records this visit'
            cand delete 'Stop tracking a user and remove their rows'
            cand sync 'Run one sync pass: discover new gists, deliver each as one Pipedrive activity'
            cand relink 'Link a user to another Pipedrive person (after theirs was deleted, or to move them)'
            cand org 'Follow GitHub organizations: their public members tracked, under one Pipedrive organization'
            cand serve 'Serve the HTTP API and run the sync loop'
            cand doctor 'Check the database, GitHub, Pipedrive and the configuration in effect'
            cand completions 'Print a shell completion script'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'gisttrack;add'= {
            cand --from-file 'Read the logins from a file (`-` for standard input): one per line, blank lines and `#` comments ignored. Added concurrently; logins already tracked are reported, not refused, so the same file can be run again after an interruption'
            cand --concurrency 'Users worked on at once by this process (1-256). A pass takes about users x round trip / concurrency: raise it for thousands of users. GitHub allows 100 concurrent requests per token; well beyond that, expect its secondary rate limit'
            cand --exclude 'A GitHub login never tracked through an organization (your own engineers); repeatable, or comma separated. Bots are always left out'
            cand --exclude-file 'A file of logins never tracked through an organization: one per line, `#` comments'
            cand --github-api-url 'GitHub REST base URL (GitHub Enterprise: https://HOST/api/v3)'
            cand --pipedrive-api-url 'Pipedrive company URL; requests go to {URL}/api/v2/...'
            cand --github-token 'GitHub token (optional; raises the hourly budget and makes unchanged lists free)'
            cand --pipedrive-token 'Pipedrive API token (sent only in the x-api-token header)'
            cand --person-owner 'The Pipedrive user who owns the persons gisttrack creates (default: Pipedrive''s, the token''s user). Persons found, not created, keep the owner a salesperson gave them'
            cand --rate-limit-max-wait 'Longest rate-limit pause worth waiting for; beyond it the pass stops asking that service'
            cand --http-timeout 'Timeout for one request to GitHub or Pipedrive'
            cand --in-flight-bound 'How long a Pipedrive write that got no answer may still land; until then it is neither looked for nor sent again [default: three HTTP timeouts, at least 60s]'
            cand --database-url 'Database: sqlite://PATH (or a plain path) or mysql://user:password@host:port/db. Default: $XDG_DATA_HOME/gisttrack/gisttrack.db; the seed''s DATABASE_HOST, DATABASE_PORT, DATABASE_NAME, DATABASE_USERNAME, DATABASE_PASSWORD also work'
            cand --log-format 'Log lines as text, or as one JSON object each for log pipelines (RUST_LOG sets the level)'
            cand --lock-wait 'How long a statement waits for a lock that another process or request holds (a SQLite file being written, a MySQL row) before the database counts as busy for now'
            cand -o 'Output format: a table (plain columns when piped) or JSON'
            cand --output 'Output format: a table (plain columns when piped) or JSON'
            cand --only-new 'Only gists created after the user is added become activities (default: every existing gist too)'
            cand --drop-leavers 'Members who leave a followed organization stop being tracked (default: kept, marked as left)'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'gisttrack;list'= {
            cand --database-url 'Database: sqlite://PATH (or a plain path) or mysql://user:password@host:port/db. Default: $XDG_DATA_HOME/gisttrack/gisttrack.db; the seed''s DATABASE_HOST, DATABASE_PORT, DATABASE_NAME, DATABASE_USERNAME, DATABASE_PASSWORD also work'
            cand --log-format 'Log lines as text, or as one JSON object each for log pipelines (RUST_LOG sets the level)'
            cand --lock-wait 'How long a statement waits for a lock that another process or request holds (a SQLite file being written, a MySQL row) before the database counts as busy for now'
            cand -o 'Output format: a table (plain columns when piped) or JSON'
            cand --output 'Output format: a table (plain columns when piped) or JSON'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'gisttrack;show'= {
            cand --database-url 'Database: sqlite://PATH (or a plain path) or mysql://user:password@host:port/db. Default: $XDG_DATA_HOME/gisttrack/gisttrack.db; the seed''s DATABASE_HOST, DATABASE_PORT, DATABASE_NAME, DATABASE_USERNAME, DATABASE_PASSWORD also work'
            cand --log-format 'Log lines as text, or as one JSON object each for log pipelines (RUST_LOG sets the level)'
            cand --lock-wait 'How long a statement waits for a lock that another process or request holds (a SQLite file being written, a MySQL row) before the database counts as busy for now'
            cand -o 'Output format: a table (plain columns when piped) or JSON'
            cand --output 'Output format: a table (plain columns when piped) or JSON'
            cand --all 'List every gist (does not record a visit)'
            cand --peek 'Show the new gists without recording this visit'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'gisttrack;delete'= {
            cand --http-timeout 'Timeout for one request to GitHub or Pipedrive'
            cand --in-flight-bound 'How long a Pipedrive write that got no answer may still land; until then it is neither looked for nor sent again [default: three HTTP timeouts, at least 60s]'
            cand --database-url 'Database: sqlite://PATH (or a plain path) or mysql://user:password@host:port/db. Default: $XDG_DATA_HOME/gisttrack/gisttrack.db; the seed''s DATABASE_HOST, DATABASE_PORT, DATABASE_NAME, DATABASE_USERNAME, DATABASE_PASSWORD also work'
            cand --log-format 'Log lines as text, or as one JSON object each for log pipelines (RUST_LOG sets the level)'
            cand --lock-wait 'How long a statement waits for a lock that another process or request holds (a SQLite file being written, a MySQL row) before the database counts as busy for now'
            cand -o 'Output format: a table (plain columns when piped) or JSON'
            cand --output 'Output format: a table (plain columns when piped) or JSON'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'gisttrack;sync'= {
            cand --github-api-url 'GitHub REST base URL (GitHub Enterprise: https://HOST/api/v3)'
            cand --pipedrive-api-url 'Pipedrive company URL; requests go to {URL}/api/v2/...'
            cand --github-token 'GitHub token (optional; raises the hourly budget and makes unchanged lists free)'
            cand --pipedrive-token 'Pipedrive API token (sent only in the x-api-token header)'
            cand --person-owner 'The Pipedrive user who owns the persons gisttrack creates (default: Pipedrive''s, the token''s user). Persons found, not created, keep the owner a salesperson gave them'
            cand --rate-limit-max-wait 'Longest rate-limit pause worth waiting for; beyond it the pass stops asking that service'
            cand --http-timeout 'Timeout for one request to GitHub or Pipedrive'
            cand --in-flight-bound 'How long a Pipedrive write that got no answer may still land; until then it is neither looked for nor sent again [default: three HTTP timeouts, at least 60s]'
            cand --notify-url 'POST a JSON message (Slack-compatible `text`) here when a pass ends with failures, and once when the next pass is clean'
            cand --digest-url 'POST one JSON message (Slack-compatible `text`) here after each pass that delivered anything: the new gists by person, with owner and Pipedrive link. Nothing otherwise'
            cand --concurrency 'Users worked on at once by this process (1-256). A pass takes about users x round trip / concurrency: raise it for thousands of users. GitHub allows 100 concurrent requests per token; well beyond that, expect its secondary rate limit'
            cand --exclude 'A GitHub login never tracked through an organization (your own engineers); repeatable, or comma separated. Bots are always left out'
            cand --exclude-file 'A file of logins never tracked through an organization: one per line, `#` comments'
            cand --activity-type 'Pipedrive activity type key for new gists (call, meeting, task, deadline, email, lunch, or a custom key)'
            cand --activity-owner 'Whose activities are: `person` (the Pipedrive person''s owner when it is delivered, so the salesperson sees it in their list), `token` (the token''s user), or a Pipedrive user id'
            cand --database-url 'Database: sqlite://PATH (or a plain path) or mysql://user:password@host:port/db. Default: $XDG_DATA_HOME/gisttrack/gisttrack.db; the seed''s DATABASE_HOST, DATABASE_PORT, DATABASE_NAME, DATABASE_USERNAME, DATABASE_PASSWORD also work'
            cand --log-format 'Log lines as text, or as one JSON object each for log pipelines (RUST_LOG sets the level)'
            cand --lock-wait 'How long a statement waits for a lock that another process or request holds (a SQLite file being written, a MySQL row) before the database counts as busy for now'
            cand -o 'Output format: a table (plain columns when piped) or JSON'
            cand --output 'Output format: a table (plain columns when piped) or JSON'
            cand --dry-run 'Ask GitHub and print what would be created; write nothing to the database or Pipedrive'
            cand --retry-failed 'Retry failed deliveries now instead of waiting for their backoff'
            cand --reread-history 'Read the people''s activities in Pipedrive in full at their next look, not only what changed since the last one. Seldom needed: every pass already looks before it writes'
            cand --drop-leavers 'Members who leave a followed organization stop being tracked (default: kept, marked as left)'
            cand --activity-done 'Create activities already marked done'
            cand --link-open-deal 'Link each activity to the person''s open deal when they have exactly one (never a guess between several)'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'gisttrack;relink'= {
            cand --to 'Link to this existing Pipedrive person (default: the person a merge left, found by carrying the user''s activities)'
            cand --github-api-url 'GitHub REST base URL (GitHub Enterprise: https://HOST/api/v3)'
            cand --pipedrive-api-url 'Pipedrive company URL; requests go to {URL}/api/v2/...'
            cand --github-token 'GitHub token (optional; raises the hourly budget and makes unchanged lists free)'
            cand --pipedrive-token 'Pipedrive API token (sent only in the x-api-token header)'
            cand --person-owner 'The Pipedrive user who owns the persons gisttrack creates (default: Pipedrive''s, the token''s user). Persons found, not created, keep the owner a salesperson gave them'
            cand --rate-limit-max-wait 'Longest rate-limit pause worth waiting for; beyond it the pass stops asking that service'
            cand --http-timeout 'Timeout for one request to GitHub or Pipedrive'
            cand --in-flight-bound 'How long a Pipedrive write that got no answer may still land; until then it is neither looked for nor sent again [default: three HTTP timeouts, at least 60s]'
            cand --database-url 'Database: sqlite://PATH (or a plain path) or mysql://user:password@host:port/db. Default: $XDG_DATA_HOME/gisttrack/gisttrack.db; the seed''s DATABASE_HOST, DATABASE_PORT, DATABASE_NAME, DATABASE_USERNAME, DATABASE_PASSWORD also work'
            cand --log-format 'Log lines as text, or as one JSON object each for log pipelines (RUST_LOG sets the level)'
            cand --lock-wait 'How long a statement waits for a lock that another process or request holds (a SQLite file being written, a MySQL row) before the database counts as busy for now'
            cand -o 'Output format: a table (plain columns when piped) or JSON'
            cand --output 'Output format: a table (plain columns when piped) or JSON'
            cand --create 'Link to a new Pipedrive person, created for the user'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'gisttrack;org'= {
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
            cand add 'Follow an organization: one Pipedrive organization, every public member tracked (bots and --exclude left out); each pass picks up new members'
            cand list 'The followed organizations, their members, who left and who is skipped and why'
            cand delete 'Stop following an organization (its members stay tracked unless --members)'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'gisttrack;org;add'= {
            cand --exclude 'A GitHub login never tracked through an organization (your own engineers); repeatable, or comma separated. Bots are always left out'
            cand --exclude-file 'A file of logins never tracked through an organization: one per line, `#` comments'
            cand --github-api-url 'GitHub REST base URL (GitHub Enterprise: https://HOST/api/v3)'
            cand --pipedrive-api-url 'Pipedrive company URL; requests go to {URL}/api/v2/...'
            cand --github-token 'GitHub token (optional; raises the hourly budget and makes unchanged lists free)'
            cand --pipedrive-token 'Pipedrive API token (sent only in the x-api-token header)'
            cand --person-owner 'The Pipedrive user who owns the persons gisttrack creates (default: Pipedrive''s, the token''s user). Persons found, not created, keep the owner a salesperson gave them'
            cand --rate-limit-max-wait 'Longest rate-limit pause worth waiting for; beyond it the pass stops asking that service'
            cand --http-timeout 'Timeout for one request to GitHub or Pipedrive'
            cand --in-flight-bound 'How long a Pipedrive write that got no answer may still land; until then it is neither looked for nor sent again [default: three HTTP timeouts, at least 60s]'
            cand --database-url 'Database: sqlite://PATH (or a plain path) or mysql://user:password@host:port/db. Default: $XDG_DATA_HOME/gisttrack/gisttrack.db; the seed''s DATABASE_HOST, DATABASE_PORT, DATABASE_NAME, DATABASE_USERNAME, DATABASE_PASSWORD also work'
            cand --log-format 'Log lines as text, or as one JSON object each for log pipelines (RUST_LOG sets the level)'
            cand --lock-wait 'How long a statement waits for a lock that another process or request holds (a SQLite file being written, a MySQL row) before the database counts as busy for now'
            cand -o 'Output format: a table (plain columns when piped) or JSON'
            cand --output 'Output format: a table (plain columns when piped) or JSON'
            cand --drop-leavers 'Members who leave a followed organization stop being tracked (default: kept, marked as left)'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'gisttrack;org;list'= {
            cand --database-url 'Database: sqlite://PATH (or a plain path) or mysql://user:password@host:port/db. Default: $XDG_DATA_HOME/gisttrack/gisttrack.db; the seed''s DATABASE_HOST, DATABASE_PORT, DATABASE_NAME, DATABASE_USERNAME, DATABASE_PASSWORD also work'
            cand --log-format 'Log lines as text, or as one JSON object each for log pipelines (RUST_LOG sets the level)'
            cand --lock-wait 'How long a statement waits for a lock that another process or request holds (a SQLite file being written, a MySQL row) before the database counts as busy for now'
            cand -o 'Output format: a table (plain columns when piped) or JSON'
            cand --output 'Output format: a table (plain columns when piped) or JSON'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'gisttrack;org;delete'= {
            cand --http-timeout 'Timeout for one request to GitHub or Pipedrive'
            cand --in-flight-bound 'How long a Pipedrive write that got no answer may still land; until then it is neither looked for nor sent again [default: three HTTP timeouts, at least 60s]'
            cand --database-url 'Database: sqlite://PATH (or a plain path) or mysql://user:password@host:port/db. Default: $XDG_DATA_HOME/gisttrack/gisttrack.db; the seed''s DATABASE_HOST, DATABASE_PORT, DATABASE_NAME, DATABASE_USERNAME, DATABASE_PASSWORD also work'
            cand --log-format 'Log lines as text, or as one JSON object each for log pipelines (RUST_LOG sets the level)'
            cand --lock-wait 'How long a statement waits for a lock that another process or request holds (a SQLite file being written, a MySQL row) before the database counts as busy for now'
            cand -o 'Output format: a table (plain columns when piped) or JSON'
            cand --output 'Output format: a table (plain columns when piped) or JSON'
            cand --members 'Stop tracking the members following it started tracking too (anyone tracked before stays; Pipedrive keeps their persons and activities)'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'gisttrack;org;help'= {
            cand add 'Follow an organization: one Pipedrive organization, every public member tracked (bots and --exclude left out); each pass picks up new members'
            cand list 'The followed organizations, their members, who left and who is skipped and why'
            cand delete 'Stop following an organization (its members stay tracked unless --members)'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'gisttrack;org;help;add'= {
        }
        &'gisttrack;org;help;list'= {
        }
        &'gisttrack;org;help;delete'= {
        }
        &'gisttrack;org;help;help'= {
        }
        &'gisttrack;serve'= {
            cand --listen 'Address to listen on: HOST:PORT, where HOST is an address or a name (localhost)'
            cand --interval 'Time between sync passes (e.g. 3h, 90m, 2s); one pass also runs at start'
            cand --api-token 'Require `Authorization: Bearer <token>` on every /api/v1 route'
            cand --github-api-url 'GitHub REST base URL (GitHub Enterprise: https://HOST/api/v3)'
            cand --pipedrive-api-url 'Pipedrive company URL; requests go to {URL}/api/v2/...'
            cand --github-token 'GitHub token (optional; raises the hourly budget and makes unchanged lists free)'
            cand --pipedrive-token 'Pipedrive API token (sent only in the x-api-token header)'
            cand --person-owner 'The Pipedrive user who owns the persons gisttrack creates (default: Pipedrive''s, the token''s user). Persons found, not created, keep the owner a salesperson gave them'
            cand --rate-limit-max-wait 'Longest rate-limit pause worth waiting for; beyond it the pass stops asking that service'
            cand --http-timeout 'Timeout for one request to GitHub or Pipedrive'
            cand --in-flight-bound 'How long a Pipedrive write that got no answer may still land; until then it is neither looked for nor sent again [default: three HTTP timeouts, at least 60s]'
            cand --notify-url 'POST a JSON message (Slack-compatible `text`) here when a pass ends with failures, and once when the next pass is clean'
            cand --digest-url 'POST one JSON message (Slack-compatible `text`) here after each pass that delivered anything: the new gists by person, with owner and Pipedrive link. Nothing otherwise'
            cand --concurrency 'Users worked on at once by this process (1-256). A pass takes about users x round trip / concurrency: raise it for thousands of users. GitHub allows 100 concurrent requests per token; well beyond that, expect its secondary rate limit'
            cand --exclude 'A GitHub login never tracked through an organization (your own engineers); repeatable, or comma separated. Bots are always left out'
            cand --exclude-file 'A file of logins never tracked through an organization: one per line, `#` comments'
            cand --activity-type 'Pipedrive activity type key for new gists (call, meeting, task, deadline, email, lunch, or a custom key)'
            cand --activity-owner 'Whose activities are: `person` (the Pipedrive person''s owner when it is delivered, so the salesperson sees it in their list), `token` (the token''s user), or a Pipedrive user id'
            cand --database-url 'Database: sqlite://PATH (or a plain path) or mysql://user:password@host:port/db. Default: $XDG_DATA_HOME/gisttrack/gisttrack.db; the seed''s DATABASE_HOST, DATABASE_PORT, DATABASE_NAME, DATABASE_USERNAME, DATABASE_PASSWORD also work'
            cand --log-format 'Log lines as text, or as one JSON object each for log pipelines (RUST_LOG sets the level)'
            cand --lock-wait 'How long a statement waits for a lock that another process or request holds (a SQLite file being written, a MySQL row) before the database counts as busy for now'
            cand --no-sync 'Serve without the periodic sync loop (POST /api/v1/sync still runs a pass)'
            cand --drop-leavers 'Members who leave a followed organization stop being tracked (default: kept, marked as left)'
            cand --activity-done 'Create activities already marked done'
            cand --link-open-deal 'Link each activity to the person''s open deal when they have exactly one (never a guess between several)'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'gisttrack;doctor'= {
            cand --github-api-url 'GitHub REST base URL (GitHub Enterprise: https://HOST/api/v3)'
            cand --pipedrive-api-url 'Pipedrive company URL; requests go to {URL}/api/v2/...'
            cand --github-token 'GitHub token (optional; raises the hourly budget and makes unchanged lists free)'
            cand --pipedrive-token 'Pipedrive API token (sent only in the x-api-token header)'
            cand --person-owner 'The Pipedrive user who owns the persons gisttrack creates (default: Pipedrive''s, the token''s user). Persons found, not created, keep the owner a salesperson gave them'
            cand --rate-limit-max-wait 'Longest rate-limit pause worth waiting for; beyond it the pass stops asking that service'
            cand --http-timeout 'Timeout for one request to GitHub or Pipedrive'
            cand --in-flight-bound 'How long a Pipedrive write that got no answer may still land; until then it is neither looked for nor sent again [default: three HTTP timeouts, at least 60s]'
            cand --notify-url 'POST a JSON message (Slack-compatible `text`) here when a pass ends with failures, and once when the next pass is clean'
            cand --digest-url 'POST one JSON message (Slack-compatible `text`) here after each pass that delivered anything: the new gists by person, with owner and Pipedrive link. Nothing otherwise'
            cand --concurrency 'Users worked on at once by this process (1-256). A pass takes about users x round trip / concurrency: raise it for thousands of users. GitHub allows 100 concurrent requests per token; well beyond that, expect its secondary rate limit'
            cand --exclude 'A GitHub login never tracked through an organization (your own engineers); repeatable, or comma separated. Bots are always left out'
            cand --exclude-file 'A file of logins never tracked through an organization: one per line, `#` comments'
            cand --activity-type 'Pipedrive activity type key for new gists (call, meeting, task, deadline, email, lunch, or a custom key)'
            cand --activity-owner 'Whose activities are: `person` (the Pipedrive person''s owner when it is delivered, so the salesperson sees it in their list), `token` (the token''s user), or a Pipedrive user id'
            cand --api-token 'Require `Authorization: Bearer <token>` on every /api/v1 route'
            cand --database-url 'Database: sqlite://PATH (or a plain path) or mysql://user:password@host:port/db. Default: $XDG_DATA_HOME/gisttrack/gisttrack.db; the seed''s DATABASE_HOST, DATABASE_PORT, DATABASE_NAME, DATABASE_USERNAME, DATABASE_PASSWORD also work'
            cand --log-format 'Log lines as text, or as one JSON object each for log pipelines (RUST_LOG sets the level)'
            cand --lock-wait 'How long a statement waits for a lock that another process or request holds (a SQLite file being written, a MySQL row) before the database counts as busy for now'
            cand -o 'Output format: a table (plain columns when piped) or JSON'
            cand --output 'Output format: a table (plain columns when piped) or JSON'
            cand --drop-leavers 'Members who leave a followed organization stop being tracked (default: kept, marked as left)'
            cand --activity-done 'Create activities already marked done'
            cand --link-open-deal 'Link each activity to the person''s open deal when they have exactly one (never a guess between several)'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'gisttrack;completions'= {
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'gisttrack;help'= {
            cand add 'Start tracking GitHub users (checks GitHub, links or creates the Pipedrive person)'
            cand list 'List tracked users with their delivery state'
            cand show 'Show a user and the gists first seen since the previous visit; records this visit'
            cand delete 'Stop tracking a user and remove their rows'
            cand sync 'Run one sync pass: discover new gists, deliver each as one Pipedrive activity'
            cand relink 'Link a user to another Pipedrive person (after theirs was deleted, or to move them)'
            cand org 'Follow GitHub organizations: their public members tracked, under one Pipedrive organization'
            cand serve 'Serve the HTTP API and run the sync loop'
            cand doctor 'Check the database, GitHub, Pipedrive and the configuration in effect'
            cand completions 'Print a shell completion script'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'gisttrack;help;add'= {
        }
        &'gisttrack;help;list'= {
        }
        &'gisttrack;help;show'= {
        }
        &'gisttrack;help;delete'= {
        }
        &'gisttrack;help;sync'= {
        }
        &'gisttrack;help;relink'= {
        }
        &'gisttrack;help;org'= {
            cand add 'Follow an organization: one Pipedrive organization, every public member tracked (bots and --exclude left out); each pass picks up new members'
            cand list 'The followed organizations, their members, who left and who is skipped and why'
            cand delete 'Stop following an organization (its members stay tracked unless --members)'
        }
        &'gisttrack;help;org;add'= {
        }
        &'gisttrack;help;org;list'= {
        }
        &'gisttrack;help;org;delete'= {
        }
        &'gisttrack;help;serve'= {
        }
        &'gisttrack;help;doctor'= {
        }
        &'gisttrack;help;completions'= {
        }
        &'gisttrack;help;help'= {
        }
    ]
    $completions[$command]
}
