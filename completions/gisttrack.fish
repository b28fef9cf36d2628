# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_gisttrack_global_optspecs
    string join \n database-url= log-format= o/output= h/help V/version
end

function __fish_gisttrack_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_gisttrack_global_optspecs) -- $cmd 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_gisttrack_using_subcommand
    set -l cmd (__fish_gisttrack_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c gisttrack -n "__fish_gisttrack_needs_command" -l database-url -d 'Database for the command (as the command\'s own --database-url, which wins)' -r
complete -c gisttrack -n "__fish_gisttrack_needs_command" -l log-format -d 'Log format for the command (as the command\'s own --log-format, which wins)' -r -f -a "text\t'`[time LEVEL] message`'
json\t'`{"time", "level", "target", "message", ...fields}` per line'"
complete -c gisttrack -n "__fish_gisttrack_needs_command" -s o -l output -d 'Output format for the command (as the command\'s own -o, which wins)' -r -f -a "table\t''
json\t''"
complete -c gisttrack -n "__fish_gisttrack_needs_command" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c gisttrack -n "__fish_gisttrack_needs_command" -s V -l version -d 'Print version'
complete -c gisttrack -n "__fish_gisttrack_needs_command" -f -a "add" -d 'Start tracking GitHub users (checks GitHub, links or creates the Pipedrive person)'
complete -c gisttrack -n "__fish_gisttrack_needs_command" -f -a "list" -d 'List tracked users with their delivery state'
complete -c gisttrack -n "__fish_gisttrack_needs_command" -f -a "show" -d 'Show a user and the gists first seen since the previous visit; records this visit'
complete -c gisttrack -n "__fish_gisttrack_needs_command" -f -a "delete" -d 'Stop tracking a user and remove their rows'
complete -c gisttrack -n "__fish_gisttrack_needs_command" -f -a "sync" -d 'Run one sync pass: discover new gists, deliver each as one Pipedrive activity'
complete -c gisttrack -n "__fish_gisttrack_needs_command" -f -a "relink" -d 'Link a user to another Pipedrive person (after theirs was deleted, or to move them)'
complete -c gisttrack -n "__fish_gisttrack_needs_command" -f -a "org" -d 'Follow GitHub organizations: their public members tracked, under one Pipedrive organization'
complete -c gisttrack -n "__fish_gisttrack_needs_command" -f -a "serve" -d 'Serve the HTTP API and run the sync loop'
complete -c gisttrack -n "__fish_gisttrack_needs_command" -f -a "doctor" -d 'Check the database, GitHub, Pipedrive and the configuration in effect'
complete -c gisttrack -n "__fish_gisttrack_needs_command" -f -a "completions" -d 'Print a shell completion script'
complete -c gisttrack -n "__fish_gisttrack_needs_command" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c gisttrack -n "__fish_gisttrack_using_subcommand add" -l from-file -d 'Read the logins from a file (`-` for standard input): one per line, blank lines and `#` comments ignored. Added concurrently; logins already tracked are reported, not refused, so the same file can be run again after an interruption' -r -F
complete -c gisttrack -n "__fish_gisttrack_using_subcommand add" -l concurrency -d 'Users worked on at once by this process (1-256). A pass takes about users x round trip / concurrency: raise it for thousands of users. GitHub allows 100 concurrent requests per token; well beyond that, expect its secondary rate limit' -r
complete -c gisttrack -n "__fish_gisttrack_using_subcommand add" -l exclude -d 'A GitHub login never tracked through an organization (your own engineers); repeatable, or comma separated. Bots are always left out' -r
complete -c gisttrack -n "__fish_gisttrack_using_subcommand add" -l exclude-file -d 'A file of logins never tracked through an organization: one per line, `#` comments' -r -F
complete -c gisttrack -n "__fish_gisttrack_using_subcommand add" -l github-api-url -d 'GitHub REST base URL (GitHub Enterprise: https://HOST/api/v3)' -r
complete -c gisttrack -n "__fish_gisttrack_using_subcommand add" -l pipedrive-api-url -d 'Pipedrive company URL; requests go to {URL}/api/v2/...' -r
complete -c gisttrack -n "__fish_gisttrack_using_subcommand add" -l github-token -d 'GitHub token (optional; raises the hourly budget and makes unchanged lists free)' -r
complete -c gisttrack -n "__fish_gisttrack_using_subcommand add" -l pipedrive-token -d 'Pipedrive API token (sent only in the x-api-token header)' -r
complete -c gisttrack -n "__fish_gisttrack_using_subcommand add" -l person-owner -d 'The Pipedrive user who owns the persons gisttrack creates (default: Pipedrive\'s, the token\'s user). Persons found, not created, keep the owner a salesperson gave them' -r
complete -c gisttrack -n "__fish_gisttrack_using_subcommand add" -l rate-limit-max-wait -d 'Longest rate-limit pause worth waiting for; beyond it the pass stops asking that service' -r
complete -c gisttrack -n "__fish_gisttrack_using_subcommand add" -l http-timeout -d 'Timeout for one request to GitHub or Pipedrive' -r
complete -c gisttrack -n "__fish_gisttrack_using_subcommand add" -l in-flight-bound -d 'How long a Pipedrive write that got no answer may still land; until then it is neither looked for nor sent again [default: three HTTP timeouts, at least 60s]' -r
complete -c gisttrack -n "__fish_gisttrack_using_subcommand add" -l database-url -d 'Database: sqlite://PATH (or a plain path) or mysql://user:password@host:port/db. Default: $XDG_DATA_HOME/gisttrack/gisttrack.db; the seed\'s DATABASE_HOST, DATABASE_PORT, DATABASE_NAME, DATABASE_USERNAME, DATABASE_PASSWORD also work' -r
complete -c gisttrack -n "__fish_gisttrack_using_subcommand add" -l log-format -d 'Log lines as text, or as one JSON object each for log pipelines (RUST_LOG sets the level)' -r -f -a "text\t'`[time LEVEL] message`'
json\t'`{"time", "level", "target", "message", ...fields}` per line'"
complete -c gisttrack -n "__fish_gisttrack_using_subcommand add" -l lock-wait -d 'How long a statement waits for a lock that another process or request holds (a SQLite file being written, a MySQL row) before the database counts as busy for now' -r
complete -c gisttrack -n "__fish_gisttrack_using_subcommand add" -s o -l output -d 'Output format: a table (plain columns when piped) or JSON' -r -f -a "table\t''
json\t''"
complete -c gisttrack -n "__fish_gisttrack_using_subcommand add" -l only-new -d 'Only gists created after the user is added become activities (default: every existing gist too)'
complete -c gisttrack -n "__fish_gisttrack_using_subcommand add" -l drop-leavers -d 'Members who leave a followed organization stop being tracked (default: kept, marked as left)'
complete -c gisttrack -n "__fish_gisttrack_using_subcommand add" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c gisttrack -n "__fish_gisttrack_using_subcommand add" -s V -l version -d 'Print version'
complete -c gisttrack -n "__fish_gisttrack_using_subcommand list" -l database-url -d 'Database: sqlite://PATH (or a plain path) or mysql://user:password@host:port/db. Default: $XDG_DATA_HOME/gisttrack/gisttrack.db; the seed\'s DATABASE_HOST, DATABASE_PORT, DATABASE_NAME, DATABASE_USERNAME, DATABASE_PASSWORD also work' -r
complete -c gisttrack -n "__fish_gisttrack_using_subcommand list" -l log-format -d 'Log lines as text, or as one JSON object each for log pipelines (RUST_LOG sets the level)' -r -f -a "text\t'`[time LEVEL] message`'
json\t'`{"time", "level", "target", "message", ...fields}` per line'"
complete -c gisttrack -n "__fish_gisttrack_using_subcommand list" -l lock-wait -d 'How long a statement waits for a lock that another process or request holds (a SQLite file being written, a MySQL row) before the database counts as busy for now' -r
complete -c gisttrack -n "__fish_gisttrack_using_subcommand list" -s o -l output -d 'Output format: a table (plain columns when piped) or JSON' -r -f -a "table\t''
json\t''"
complete -c gisttrack -n "__fish_gisttrack_using_subcommand list" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c gisttrack -n "__fish_gisttrack_using_subcommand list" -s V -l version -d 'Print version'
complete -c gisttrack -n "__fish_gisttrack_using_subcommand show" -l database-url -d 'Database: sqlite://PATH (or a plain path) or mysql://user:password@host:port/db. Default: $XDG_DATA_HOME/gisttrack/gisttrack.db; the seed\'s DATABASE_HOST, DATABASE_PORT, DATABASE_NAME, DATABASE_USERNAME, DATABASE_PASSWORD also work' -r
complete -c gisttrack -n "__fish_gisttrack_using_subcommand show" -l log-format -d 'Log lines as text, or as one JSON object each for log pipelines (RUST_LOG sets the level)' -r -f -a "text\t'`[time LEVEL] message`'
json\t'`{"time", "level", "target", "message", ...fields}` per line'"
complete -c gisttrack -n "__fish_gisttrack_using_subcommand show" -l lock-wait -d 'How long a statement waits for a lock that another process or request holds (a SQLite file being written, a MySQL row) before the database counts as busy for now' -r
complete -c gisttrack -n "__fish_gisttrack_using_subcommand show" -s o -l output -d 'Output format: a table (plain columns when piped) or JSON' -r -f -a "table\t''
json\t''"
complete -c gisttrack -n "__fish_gisttrack_using_subcommand show" -l all -d 'List every gist (does not record a visit)'
complete -c gisttrack -n "__fish_gisttrack_using_subcommand show" -l peek -d 'Show the new gists without recording this visit'
complete -c gisttrack -n "__fish_gisttrack_using_subcommand show" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c gisttrack -n "__fish_gisttrack_using_subcommand show" -s V -l version -d 'Print version'
complete -c gisttrack -n "__fish_gisttrack_using_subcommand delete" -l http-timeout -d 'Timeout for one request to GitHub or Pipedrive' -r
complete -c gisttrack -n "__fish_gisttrack_using_subcommand delete" -l in-flight-bound -d 'How long a Pipedrive write that got no answer may still land; until then it is neither looked for nor sent again [default: three HTTP timeouts, at least 60s]' -r
complete -c gisttrack -n "__fish_gisttrack_using_subcommand delete" -l database-url -d 'Database: sqlite://PATH (or a plain path) or mysql://user:password@host:port/db. Default: $XDG_DATA_HOME/gisttrack/gisttrack.db; the seed\'s DATABASE_HOST, DATABASE_PORT, DATABASE_NAME, DATABASE_USERNAME, DATABASE_PASSWORD also work' -r
complete -c gisttrack -n "__fish_gisttrack_using_subcommand delete" -l log-format -d 'Log lines as text, or as one JSON object each for log pipelines (RUST_LOG sets the level)' -r -f -a "text\t'`[time LEVEL] message`'
json\t'`{"time", "level", "target", "message", ...fields}` per line'"
complete -c gisttrack -n "__fish_gisttrack_using_subcommand delete" -l lock-wait -d 'How long a statement waits for a lock that another process or request holds (a SQLite file being written, a MySQL row) before the database counts as busy for now' -r
complete -c gisttrack -n "__fish_gisttrack_using_subcommand delete" -s o -l output -d 'Output format: a table (plain columns when piped) or JSON' -r -f -a "table\t''
json\t''"
complete -c gisttrack -n "__fish_gisttrack_using_subcommand delete" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c gisttrack -n "__fish_gisttrack_using_subcommand delete" -s V -l version -d 'Print version'
complete -c gisttrack -n "__fish_gisttrack_using_subcommand sync" -l github-api-url -d 'GitHub REST base URL (GitHub Enterprise: https://HOST/api/v3)' -r
complete -c gisttrack -n "__fish_gisttrack_using_subcommand sync" -l pipedrive-api-url -d 'Pipedrive company URL; requests go to {URL}/api/v2/...' -r
complete -c gisttrack -n "__fish_gisttrack_using_subcommand sync" -l github-token -d 'GitHub token (optional; raises the hourly budget and makes unchanged lists free)' -r
complete -c gisttrack -n "__fish_gisttrack_using_subcommand sync" -l pipedrive-token -d 'Pipedrive API token (sent only in the x-api-token header)' -r
complete -c gisttrack -n "__fish_gisttrack_using_subcommand sync" -l person-owner -d 'The Pipedrive user who owns the persons gisttrack creates (default: Pipedrive\'s, the token\'s user). Persons found, not created, keep the owner a salesperson gave them' -r
complete -c gisttrack -n "__fish_gisttrack_using_subcommand sync" -l rate-limit-max-wait -d 'Longest rate-limit pause worth waiting for; beyond it the pass stops asking that service' -r
complete -c gisttrack -n "__fish_gisttrack_using_subcommand sync" -l http-timeout -d 'Timeout for one request to GitHub or Pipedrive' -r
complete -c gisttrack -n "__fish_gisttrack_using_subcommand sync" -l in-flight-bound -d 'How long a Pipedrive write that got no answer may still land; until then it is neither looked for nor sent again [default: three HTTP timeouts, at least 60s]' -r
complete -c gisttrack -n "__fish_gisttrack_using_subcommand sync" -l notify-url -d 'POST a JSON message (Slack-compatible `text`) here when a pass ends with failures, and once when the next pass is clean' -r
complete -c gisttrack -n "__fish_gisttrack_using_subcommand sync" -l digest-url -d 'POST one JSON message (Slack-compatible `text`) here after each pass that delivered anything: the new gists by person, with owner and Pipedrive link. Nothing otherwise' -r
complete -c gisttrack -n "__fish_gisttrack_using_subcommand sync" -l concurrency -d 'Users worked on at once by this process (1-256). A pass takes about users x round trip / concurrency: raise it for thousands of users. GitHub allows 100 concurrent requests per token; well beyond that, expect its secondary rate limit' -r
complete -c gisttrack -n "__fish_gisttrack_using_subcommand sync" -l exclude -d 'A GitHub login never tracked through an organization (your own engineers); repeatable, or comma separated. Bots are always left out' -r
complete -c gisttrack -n "__fish_gisttrack_using_subcommand sync" -l exclude-file -d 'A file of logins never tracked through an organization: one per line, `#` comments' -r -F
complete -c gisttrack -n "__fish_gisttrack_using_subcommand sync" -l activity-type -d 'Pipedrive activity type key for new gists (call, meeting, task, deadline, email, lunch, or a custom key)' -r
complete -c gisttrack -n "__fish_gisttrack_using_subcommand sync" -l activity-owner -d 'Whose activities are: `person` (the Pipedrive person\'s owner when it is delivered, so the salesperson sees it in their list), `token` (the token\'s user), or a Pipedrive user id' -r
complete -c gisttrack -n "__fish_gisttrack_using_subcommand sync" -l database-url -d 'Database: sqlite://PATH (or a plain path) or mysql://user:password@host:port/db. Default: $XDG_DATA_HOME/gisttrack/gisttrack.db; the seed\'s DATABASE_HOST, DATABASE_PORT, DATABASE_NAME, DATABASE_USERNAME, DATABASE_PASSWORD also work' -r
complete -c gisttrack -n "__fish_gisttrack_using_subcommand sync" -l log-format -d 'Log lines as text, or as one JSON object each for log pipelines (RUST_LOG sets the level)' -r -f -a "text\t'`[time LEVEL] message`'
json\t'`{"time", "level", "target", "message", ...fields}` per line'"
complete -c gisttrack -n "__fish_gisttrack_using_subcommand sync" -l lock-wait -d 'How long a statement waits for a lock that another process or request holds (a SQLite file being written, a MySQL row) before the database counts as busy for now' -r
complete -c gisttrack -n "__fish_gisttrack_using_subcommand sync" -s o -l output -d 'Output format: a table (plain columns when piped) or JSON' -r -f -a "table\t''
json\t''"
complete -c gisttrack -n "__fish_gisttrack_using_subcommand sync" -l dry-run -d 'Ask GitHub and print what would be created; write nothing to the database or Pipedrive'
complete -c gisttrack -n "__fish_gisttrack_using_subcommand sync" -l retry-failed -d 'Retry failed deliveries now instead of waiting for their backoff'
complete -c gisttrack -n "__fish_gisttrack_using_subcommand sync" -l reread-history -d 'Read the people\'s activities in Pipedrive in full at their next look, not only what changed since the last one. Seldom needed: every pass already looks before it writes'
complete -c gisttrack -n "__fish_gisttrack_using_subcommand sync" -l drop-leavers -d 'Members who leave a followed organization stop being tracked (default: kept, marked as left)'
complete -c gisttrack -n "__fish_gisttrack_using_subcommand sync" -l activity-done -d 'Create activities already marked done'
complete -c gisttrack -n "__fish_gisttrack_using_subcommand sync" -l link-open-deal -d 'Link each activity to the person\'s open deal when they have exactly one (never a guess between several)'
complete -c gisttrack -n "__fish_gisttrack_using_subcommand sync" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c gisttrack -n "__fish_gisttrack_using_subcommand sync" -s V -l version -d 'Print version'
complete -c gisttrack -n "__fish_gisttrack_using_subcommand relink" -l to -d 'Link to this existing Pipedrive person (default: the person a merge left, found by carrying the user\'s activities)' -r
complete -c gisttrack -n "__fish_gisttrack_using_subcommand relink" -l github-api-url -d 'GitHub REST base URL (GitHub Enterprise: https://HOST/api/v3)' -r
complete -c gisttrack -n "__fish_gisttrack_using_subcommand relink" -l pipedrive-api-url -d 'Pipedrive company URL; requests go to {URL}/api/v2/...' -r
complete -c gisttrack -n "__fish_gisttrack_using_subcommand relink" -l github-token -d 'GitHub token (optional; raises the hourly budget and makes unchanged lists free)' -r
complete -c gisttrack -n "__fish_gisttrack_using_subcommand relink" -l pipedrive-token -d 'Pipedrive API token (sent only in the x-api-token header)' -r
complete -c gisttrack -n "__fish_gisttrack_using_subcommand relink" -l person-owner -d 'The Pipedrive user who owns the persons gisttrack creates (default: Pipedrive\'s, the token\'s user). Persons found, not created, keep the owner a salesperson gave them' -r
complete -c gisttrack -n "__fish_gisttrack_using_subcommand relink" -l rate-limit-max-wait -d 'Longest rate-limit pause worth waiting for; beyond it the pass stops asking that service' -r
complete -c gisttrack -n "__fish_gisttrack_using_subcommand relink" -l http-timeout -d 'Timeout for one request to GitHub or Pipedrive' -r
complete -c gisttrack -n "__fish_gisttrack_using_subcommand relink" -l in-flight-bound -d 'How long a Pipedrive write that got no answer may still land; until then it is neither looked for nor sent again [default: three HTTP timeouts, at least 60s]' -r
complete -c gisttrack -n "__fish_gisttrack_using_subcommand relink" -l database-url -d 'Database: sqlite://PATH (or a plain path) or mysql://user:password@host:port/db. Default: $XDG_DATA_HOME/gisttrack/gisttrack.db; the seed\'s DATABASE_HOST, DATABASE_PORT, DATABASE_NAME, DATABASE_USERNAME, DATABASE_PASSWORD also work' -r
complete -c gisttrack -n "__fish_gisttrack_using_subcommand relink" -l log-format -d 'Log lines as text, or as one JSON object each for log pipelines (RUST_LOG sets the level)' -r -f -a "text\t'`[time LEVEL] message`'
json\t'`{"time", "level", "target", "message", ...fields}` per line'"
complete -c gisttrack -n "__fish_gisttrack_using_subcommand relink" -l lock-wait -d 'How long a statement waits for a lock that another process or request holds (a SQLite file being written, a MySQL row) before the database counts as busy for now' -r
complete -c gisttrack -n "__fish_gisttrack_using_subcommand relink" -s o -l output -d 'Output format: a table (plain columns when piped) or JSON' -r -f -a "table\t''
json\t''"
complete -c gisttrack -n "__fish_gisttrack_using_subcommand relink" -l create -d 'Link to a new Pipedrive person, created for the user'
complete -c gisttrack -n "__fish_gisttrack_using_subcommand relink" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c gisttrack -n "__fish_gisttrack_using_subcommand relink" -s V -l version -d 'Print version'
complete -c gisttrack -n "__fish_gisttrack_using_subcommand org; and not __fish_seen_subcommand_from add list delete help" -s h -l help -d 'Print help'
complete -c gisttrack -n "__fish_gisttrack_using_subcommand org; and not __fish_seen_subcommand_from add list delete help" -s V -l version -d 'Print version'
complete -c gisttrack -n "__fish_gisttrack_using_subcommand org; and not __fish_seen_subcommand_from add list delete help" -f -a "add" -d 'Follow an organization: one Pipedrive organization, every public member tracked (bots and --exclude left out); each pass picks up new members'
complete -c gisttrack -n "__fish_gisttrack_using_subcommand org; and not __fish_seen_subcommand_from add list delete help" -f -a "list" -d 'The followed organizations, their members, who left and who is skipped and why'
complete -c gisttrack -n "__fish_gisttrack_using_subcommand org; and not __fish_seen_subcommand_from add list delete help" -f -a "delete" -d 'Stop following an organization (its members stay tracked unless --members)'
complete -c gisttrack -n "__fish_gisttrack_using_subcommand org; and not __fish_seen_subcommand_from add list delete help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c gisttrack -n "__fish_gisttrack_using_subcommand org; and __fish_seen_subcommand_from add" -l exclude -d 'A GitHub login never tracked through an organization (your own engineers); repeatable, or comma separated. Bots are always left out' -r
complete -c gisttrack -n "__fish_gisttrack_using_subcommand org; and __fish_seen_subcommand_from add" -l exclude-file -d 'A file of logins never tracked through an organization: one per line, `#` comments' -r -F
complete -c gisttrack -n "__fish_gisttrack_using_subcommand org; and __fish_seen_subcommand_from add" -l github-api-url -d 'GitHub REST base URL (GitHub Enterprise: https://HOST/api/v3)' -r
complete -c gisttrack -n "__fish_gisttrack_using_subcommand org; and __fish_seen_subcommand_from add" -l pipedrive-api-url -d 'Pipedrive company URL; requests go to {URL}/api/v2/...' -r
complete -c gisttrack -n "__fish_gisttrack_using_subcommand org; and __fish_seen_subcommand_from add" -l github-token -d 'GitHub token (optional; raises the hourly budget and makes unchanged lists free)' -r
complete -c gisttrack -n "__fish_gisttrack_using_subcommand org; and __fish_seen_subcommand_from add" -l pipedrive-token -d 'Pipedrive API token (sent only in the x-api-token header)' -r
complete -c gisttrack -n "__fish_gisttrack_using_subcommand org; and __fish_seen_subcommand_from add" -l person-owner -d 'The Pipedrive user who owns the persons gisttrack creates (default: Pipedrive\'s, the token\'s user). Persons found, not created, keep the owner a salesperson gave them' -r
complete -c gisttrack -n "__fish_gisttrack_using_subcommand org; and __fish_seen_subcommand_from add" -l rate-limit-max-wait -d 'Longest rate-limit pause worth waiting for; beyond it the pass stops asking that service' -r
complete -c gisttrack -n "__fish_gisttrack_using_subcommand org; and __fish_seen_subcommand_from add" -l http-timeout -d 'Timeout for one request to GitHub or Pipedrive' -r
complete -c gisttrack -n "__fish_gisttrack_using_subcommand org; and __fish_seen_subcommand_from add" -l in-flight-bound -d 'How long a Pipedrive write that got no answer may still land; until then it is neither looked for nor sent again [default: three HTTP timeouts, at least 60s]' -r
complete -c gisttrack -n "__fish_gisttrack_using_subcommand org; and __fish_seen_subcommand_from add" -l database-url -d 'Database: sqlite://PATH (or a plain path) or mysql://user:password@host:port/db. Default: $XDG_DATA_HOME/gisttrack/gisttrack.db; the seed\'s DATABASE_HOST, DATABASE_PORT, DATABASE_NAME, DATABASE_USERNAME, DATABASE_PASSWORD also work' -r
complete -c gisttrack -n "__fish_gisttrack_using_subcommand org; and __fish_seen_subcommand_from add" -l log-format -d 'Log lines as text, or as one JSON object each for log pipelines (RUST_LOG sets the level)' -r -f -a "text\t'`[time LEVEL] message`'
json\t'`{"time", "level", "target", "message", ...fields}` per line'"
complete -c gisttrack -n "__fish_gisttrack_using_subcommand org; and __fish_seen_subcommand_from add" -l lock-wait -d 'How long a statement waits for a lock that another process or request holds (a SQLite file being written, a MySQL row) before the database counts as busy for now' -r
complete -c gisttrack -n "__fish_gisttrack_using_subcommand org; and __fish_seen_subcommand_from add" -s o -l output -d 'Output format: a table (plain columns when piped) or JSON' -r -f -a "table\t''
json\t''"
complete -c gisttrack -n "__fish_gisttrack_using_subcommand org; and __fish_seen_subcommand_from add" -l drop-leavers -d 'Members who leave a followed organization stop being tracked (default: kept, marked as left)'
complete -c gisttrack -n "__fish_gisttrack_using_subcommand org; and __fish_seen_subcommand_from add" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c gisttrack -n "__fish_gisttrack_using_subcommand org; and __fish_seen_subcommand_from add" -s V -l version -d 'Print version'
complete -c gisttrack -n "__fish_gisttrack_using_subcommand org; and __fish_seen_subcommand_from list" -l database-url -d 'Database: sqlite://PATH (or a plain path) or mysql://user:password@host:port/db. Default: $XDG_DATA_HOME/gisttrack/gisttrack.db; the seed\'s DATABASE_HOST, DATABASE_PORT, DATABASE_NAME, DATABASE_USERNAME, DATABASE_PASSWORD also work' -r
complete -c gisttrack -n "__fish_gisttrack_using_subcommand org; and __fish_seen_subcommand_from list" -l log-format -d 'Log lines as text, or as one JSON object each for log pipelines (RUST_LOG sets the level)' -r -f -a "text\t'`[time LEVEL] message`'
json\t'`{"time", "level", "target", "message", ...fields}` per line'"
complete -c gisttrack -n "__fish_gisttrack_using_subcommand org; and __fish_seen_subcommand_from list" -l lock-wait -d 'How long a statement waits for a lock that another process or request holds (a SQLite file being written, a MySQL row) before the database counts as busy for now' -r
complete -c gisttrack -n "__fish_gisttrack_using_subcommand org; and __fish_seen_subcommand_from list" -s o -l output -d 'Output format: a table (plain columns when piped) or JSON' -r -f -a "table\t''
json\t''"
complete -c gisttrack -n "__fish_gisttrack_using_subcommand org; and __fish_seen_subcommand_from list" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c gisttrack -n "__fish_gisttrack_using_subcommand org; and __fish_seen_subcommand_from list" -s V -l version -d 'Print version'
complete -c gisttrack -n "__fish_gisttrack_using_subcommand org; and __fish_seen_subcommand_from delete" -l http-timeout -d 'Timeout for one request to GitHub or Pipedrive' -r
complete -c gisttrack -n "__fish_gisttrack_using_subcommand org; and __fish_seen_subcommand_from delete" -l in-flight-bound -d 'How long a Pipedrive write that got no answer may still land; until then it is neither looked for nor sent again [default: three HTTP timeouts, at least 60s]' -r
complete -c gisttrack -n "__fish_gisttrack_using_subcommand org; and __fish_seen_subcommand_from delete" -l database-url -d 'Database: sqlite://PATH (or a plain path) or mysql://user:password@host:port/db. Default: $XDG_DATA_HOME/gisttrack/gisttrack.db; the seed\'s DATABASE_HOST, DATABASE_PORT, DATABASE_NAME, DATABASE_USERNAME, DATABASE_PASSWORD also work' -r
complete -c gisttrack -n "__fish_gisttrack_using_subcommand org; and __fish_seen_subcommand_from delete" -l log-format -d 'Log lines as text, or as one JSON object each for log pipelines (RUST_LOG sets the level)' -r -f -a "text\t'`[time LEVEL] message`'
json\t'`{"time", "level", "target", "message", ...fields}` per line'"
complete -c gisttrack -n "__fish_gisttrack_using_subcommand org; and __fish_seen_subcommand_from delete" -l lock-wait -d 'How long a statement waits for a lock that another process or request holds (a SQLite file being written, a MySQL row) before the database counts as busy for now' -r
complete -c gisttrack -n "__fish_gisttrack_using_subcommand org; and __fish_seen_subcommand_from delete" -s o -l output -d 'Output format: a table (plain columns when piped) or JSON' -r -f -a "table\t''
json\t''"
complete -c gisttrack -n "__fish_gisttrack_using_subcommand org; and __fish_seen_subcommand_from delete" -l members -d 'Stop tracking the members following it started tracking too (anyone tracked before stays; Pipedrive keeps their persons and activities)'
complete -c gisttrack -n "__fish_gisttrack_using_subcommand org; and __fish_seen_subcommand_from delete" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c gisttrack -n "__fish_gisttrack_using_subcommand org; and __fish_seen_subcommand_from delete" -s V -l version -d 'Print version'
complete -c gisttrack -n "__fish_gisttrack_using_subcommand org; and __fish_seen_subcommand_from help" -f -a "add" -d 'Follow an organization: one Pipedrive organization, every public member tracked (bots and --exclude left out); each pass picks up new members'
complete -c gisttrack -n "__fish_gisttrack_using_subcommand org; and __fish_seen_subcommand_from help" -f -a "list" -d 'The followed organizations, their members, who left and who is skipped and why'
complete -c gisttrack -n "__fish_gisttrack_using_subcommand org; and __fish_seen_subcommand_from help" -f -a "delete" -d 'Stop following an organization (its members stay tracked unless --members)'
complete -c gisttrack -n "__fish_gisttrack_using_subcommand org; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c gisttrack -n "__fish_gisttrack_using_subcommand serve" -l listen -d 'Address to listen on: HOST:PORT, where HOST is an address or a name (localhost)' -r
complete -c gisttrack -n "__fish_gisttrack_using_subcommand serve" -l interval -d 'Time between sync passes (e.g. 3h, 90m, 2s); one pass also runs at start' -r
complete -c gisttrack -n "__fish_gisttrack_using_subcommand serve" -l api-token -d 'Require `Authorization: Bearer <token>` on every /api/v1 route' -r
complete -c gisttrack -n "__fish_gisttrack_using_subcommand serve" -l github-api-url -d 'GitHub REST base URL (GitHub Enterprise: https://HOST/api/v3)' -r
complete -c gisttrack -n "__fish_gisttrack_using_subcommand serve" -l pipedrive-api-url -d 'Pipedrive company URL; requests go to {URL}/api/v2/...' -r
complete -c gisttrack -n "__fish_gisttrack_using_subcommand serve" -l github-token -d 'GitHub token (optional; raises the hourly budget and makes unchanged lists free)' -r
complete -c gisttrack -n "__fish_gisttrack_using_subcommand serve" -l pipedrive-token -d 'Pipedrive API token (sent only in the x-api-token header)' -r
complete -c gisttrack -n "__fish_gisttrack_using_subcommand serve" -l person-owner -d 'The Pipedrive user who owns the persons gisttrack creates (default: Pipedrive\'s, the token\'s user). Persons found, not created, keep the owner a salesperson gave them' -r
complete -c gisttrack -n "__fish_gisttrack_using_subcommand serve" -l rate-limit-max-wait -d 'Longest rate-limit pause worth waiting for; beyond it the pass stops asking that service' -r
complete -c gisttrack -n "__fish_gisttrack_using_subcommand serve" -l http-timeout -d 'Timeout for one request to GitHub or Pipedrive' -r
complete -c gisttrack -n "__fish_gisttrack_using_subcommand serve" -l in-flight-bound -d 'How long a Pipedrive write that got no answer may still land; until then it is neither looked for nor sent again [default: three HTTP timeouts, at least 60s]' -r
complete -c gisttrack -n "__fish_gisttrack_using_subcommand serve" -l notify-url -d 'POST a JSON message (Slack-compatible `text`) here when a pass ends with failures, and once when the next pass is clean' -r
complete -c gisttrack -n "__fish_gisttrack_using_subcommand serve" -l digest-url -d 'POST one JSON message (Slack-compatible `text`) here after each pass that delivered anything: the new gists by person, with owner and Pipedrive link. Nothing otherwise' -r
complete -c gisttrack -n "__fish_gisttrack_using_subcommand serve" -l concurrency -d 'Users worked on at once by this process (1-256). A pass takes about users x round trip / concurrency: raise it for thousands of users. GitHub allows 100 concurrent requests per token; well beyond that, expect its secondary rate limit' -r
complete -c gisttrack -n "__fish_gisttrack_using_subcommand serve" -l exclude -d 'A GitHub login never tracked through an organization (your own engineers); repeatable, or comma separated. Bots are always left out' -r
complete -c gisttrack -n "__fish_gisttrack_using_subcommand serve" -l exclude-file -d 'A file of logins never tracked through an organization: one per line, `#` comments' -r -F
complete -c gisttrack -n "__fish_gisttrack_using_subcommand serve" -l activity-type -d 'Pipedrive activity type key for new gists (call, meeting, task, deadline, email, lunch, or a custom key)' -r
complete -c gisttrack -n "__fish_gisttrack_using_subcommand serve" -l activity-owner -d 'Whose activities are: `person` (the Pipedrive person\'s owner when it is delivered, so the salesperson sees it in their list), `token` (the token\'s user), or a Pipedrive user id' -r
complete -c gisttrack -n "__fish_gisttrack_using_subcommand serve" -l database-url -d 'Database: sqlite://PATH (or a plain path) or mysql://user:password@host:port/db. Default: $XDG_DATA_HOME/gisttrack/gisttrack.db; the seed\'s DATABASE_HOST, DATABASE_PORT, DATABASE_NAME, DATABASE_USERNAME, DATABASE_PASSWORD also work' -r
complete -c gisttrack -n "__fish_gisttrack_using_subcommand serve" -l log-format -d 'Log lines as text, or as one JSON object each for log pipelines (RUST_LOG sets the level)' -r -f -a "text\t'`[time LEVEL] message`'
json\t'`{"time", "level", "target", "message", ...fields}` per line'"
complete -c gisttrack -n "__fish_gisttrack_using_subcommand serve" -l lock-wait -d 'How long a statement waits for a lock that another process or request holds (a SQLite file being written, a MySQL row) before the database counts as busy for now' -r
complete -c gisttrack -n "__fish_gisttrack_using_subcommand serve" -l no-sync -d 'Serve without the periodic sync loop (POST /api/v1/sync still runs a pass)'
complete -c gisttrack -n "__fish_gisttrack_using_subcommand serve" -l drop-leavers -d 'Members who leave a followed organization stop being tracked (default: kept, marked as left)'
complete -c gisttrack -n "__fish_gisttrack_using_subcommand serve" -l activity-done -d 'Create activities already marked done'
complete -c gisttrack -n "__fish_gisttrack_using_subcommand serve" -l link-open-deal -d 'Link each activity to the person\'s open deal when they have exactly one (never a guess between several)'
complete -c gisttrack -n "__fish_gisttrack_using_subcommand serve" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c gisttrack -n "__fish_gisttrack_using_subcommand serve" -s V -l version -d 'Print version'
complete -c gisttrack -n "__fish_gisttrack_using_subcommand doctor" -l github-api-url -d 'GitHub REST base URL (GitHub Enterprise: https://HOST/api/v3)' -r
complete -c gisttrack -n "__fish_gisttrack_using_subcommand doctor" -l pipedrive-api-url -d 'Pipedrive company URL; requests go to {URL}/api/v2/...' -r
complete -c gisttrack -n "__fish_gisttrack_using_subcommand doctor" -l github-token -d 'GitHub token (optional; raises the hourly budget and makes unchanged lists free)' -r
complete -c gisttrack -n "__fish_gisttrack_using_subcommand doctor" -l pipedrive-token -d 'Pipedrive API token (sent only in the x-api-token header)' -r
complete -c gisttrack -n "__fish_gisttrack_using_subcommand doctor" -l person-owner -d 'The Pipedrive user who owns the persons gisttrack creates (default: Pipedrive\'s, the token\'s user). Persons found, not created, keep the owner a salesperson gave them' -r
complete -c gisttrack -n "__fish_gisttrack_using_subcommand doctor" -l rate-limit-max-wait -d 'Longest rate-limit pause worth waiting for; beyond it the pass stops asking that service' -r
complete -c gisttrack -n "__fish_gisttrack_using_subcommand doctor" -l http-timeout -d 'Timeout for one request to GitHub or Pipedrive' -r
complete -c gisttrack -n "__fish_gisttrack_using_subcommand doctor" -l in-flight-bound -d 'How long a Pipedrive write that got no answer may still land; until then it is neither looked for nor sent again [default: three HTTP timeouts, at least 60s]' -r
complete -c gisttrack -n "__fish_gisttrack_using_subcommand doctor" -l notify-url -d 'POST a JSON message (Slack-compatible `text`) here when a pass ends with failures, and once when the next pass is clean' -r
complete -c gisttrack -n "__fish_gisttrack_using_subcommand doctor" -l digest-url -d 'POST one JSON message (Slack-compatible `text`) here after each pass that delivered anything: the new gists by person, with owner and Pipedrive link. Nothing otherwise' -r
complete -c gisttrack -n "__fish_gisttrack_using_subcommand doctor" -l concurrency -d 'Users worked on at once by this process (1-256). A pass takes about users x round trip / concurrency: raise it for thousands of users. GitHub allows 100 concurrent requests per token; well beyond that, expect its secondary rate limit' -r
complete -c gisttrack -n "__fish_gisttrack_using_subcommand doctor" -l exclude -d 'A GitHub login never tracked through an organization (your own engineers); repeatable, or comma separated. Bots are always left out' -r
complete -c gisttrack -n "__fish_gisttrack_using_subcommand doctor" -l exclude-file -d 'A file of logins never tracked through an organization: one per line, `#` comments' -r -F
complete -c gisttrack -n "__fish_gisttrack_using_subcommand doctor" -l activity-type -d 'Pipedrive activity type key for new gists (call, meeting, task, deadline, email, lunch, or a custom key)' -r
complete -c gisttrack -n "__fish_gisttrack_using_subcommand doctor" -l activity-owner -d 'Whose activities are: `person` (the Pipedrive person\'s owner when it is delivered, so the salesperson sees it in their list), `token` (the token\'s user), or a Pipedrive user id' -r
complete -c gisttrack -n "__fish_gisttrack_using_subcommand doctor" -l api-token -d 'Require `Authorization: Bearer <token>` on every /api/v1 route' -r
complete -c gisttrack -n "__fish_gisttrack_using_subcommand doctor" -l database-url -d 'Database: sqlite://PATH (or a plain path) or mysql://user:password@host:port/db. Default: $XDG_DATA_HOME/gisttrack/gisttrack.db; the seed\'s DATABASE_HOST, DATABASE_PORT, DATABASE_NAME, DATABASE_USERNAME, DATABASE_PASSWORD also work' -r
complete -c gisttrack -n "__fish_gisttrack_using_subcommand doctor" -l log-format -d 'Log lines as text, or as one JSON object each for log pipelines (RUST_LOG sets the level)' -r -f -a "text\t'`[time LEVEL] message`'
json\t'`{"time", "level", "target", "message", ...fields}` per line'"
complete -c gisttrack -n "__fish_gisttrack_using_subcommand doctor" -l lock-wait -d 'How long a statement waits for a lock that another process or request holds (a SQLite file being written, a MySQL row) before the database counts as busy for now' -r
complete -c gisttrack -n "__fish_gisttrack_using_subcommand doctor" -s o -l output -d 'Output format: a table (plain columns when piped) or JSON' -r -f -a "table\t''
json\t''"
complete -c gisttrack -n "__fish_gisttrack_using_subcommand doctor" -l drop-leavers -d 'Members who leave a followed organization stop being tracked (default: kept, marked as left)'
complete -c gisttrack -n "__fish_gisttrack_using_subcommand doctor" -l activity-done -d 'Create activities already marked done'
complete -c gisttrack -n "__fish_gisttrack_using_subcommand doctor" -l link-open-deal -d 'Link each activity to the person\'s open deal when they have exactly one (never a guess between several)'
complete -c gisttrack -n "__fish_gisttrack_using_subcommand doctor" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c gisttrack -n "__fish_gisttrack_using_subcommand doctor" -s V -l version -d 'Print version'
complete -c gisttrack -n "__fish_gisttrack_using_subcommand completions" -s h -l help -d 'Print help'
complete -c gisttrack -n "__fish_gisttrack_using_subcommand completions" -s V -l version -d 'Print version'
complete -c gisttrack -n "__fish_gisttrack_using_subcommand help; and not __fish_seen_subcommand_from add list show delete sync relink org serve doctor completions help" -f -a "add" -d 'Start tracking GitHub users (checks GitHub, links or creates the Pipedrive person)'
complete -c gisttrack -n "__fish_gisttrack_using_subcommand help; and not __fish_seen_subcommand_from add list show delete sync relink org serve doctor completions help" -f -a "list" -d 'List tracked users with their delivery state'
complete -c gisttrack -n "__fish_gisttrack_using_subcommand help; and not __fish_seen_subcommand_from add list show delete sync relink org serve doctor completions help" -f -a "show" -d 'Show a user and the gists first seen since the previous visit; records this visit'
complete -c gisttrack -n "__fish_gisttrack_using_subcommand help; and not __fish_seen_subcommand_from add list show delete sync relink org serve doctor completions help" -f -a "delete" -d 'Stop tracking a user and remove their rows'
complete -c gisttrack -n "__fish_gisttrack_using_subcommand help; and not __fish_seen_subcommand_from add list show delete sync relink org serve doctor completions help" -f -a "sync" -d 'Run one sync pass: discover new gists, deliver each as one Pipedrive activity'
complete -c gisttrack -n "__fish_gisttrack_using_subcommand help; and not __fish_seen_subcommand_from add list show delete sync relink org serve doctor completions help" -f -a "relink" -d 'Link a user to another Pipedrive person (after theirs was deleted, or to move them)'
complete -c gisttrack -n "__fish_gisttrack_using_subcommand help; and not __fish_seen_subcommand_from add list show delete sync relink org serve doctor completions help" -f -a "org" -d 'Follow GitHub organizations: their public members tracked, under one Pipedrive organization'
complete -c gisttrack -n "__fish_gisttrack_using_subcommand help; and not __fish_seen_subcommand_from add list show delete sync relink org serve doctor completions help" -f -a "serve" -d 'Serve the HTTP API and run the sync loop'
complete -c gisttrack -n "__fish_gisttrack_using_subcommand help; and not __fish_seen_subcommand_from add list show delete sync relink org serve doctor completions help" -f -a "doctor" -d 'Check the database, GitHub, Pipedrive and the configuration in effect'
complete -c gisttrack -n "__fish_gisttrack_using_subcommand help; and not __fish_seen_subcommand_from add list show delete sync relink org serve doctor completions help" -f -a "completions" -d 'Print a shell completion script'
complete -c gisttrack -n "__fish_gisttrack_using_subcommand help; and not __fish_seen_subcommand_from add list show delete sync relink org serve doctor completions help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c gisttrack -n "__fish_gisttrack_using_subcommand help; and __fish_seen_subcommand_from org" -f -a "add" -d 'Follow an organization: one Pipedrive organization, every public member tracked (bots and --exclude left out); each pass picks up new members'
complete -c gisttrack -n "__fish_gisttrack_using_subcommand help; and __fish_seen_subcommand_from org" -f -a "list" -d 'The followed organizations, their members, who left and who is skipped and why'
complete -c gisttrack -n "__fish_gisttrack_using_subcommand help; and __fish_seen_subcommand_from org" -f -a "delete" -d 'Stop following an organization (its members stay tracked unless --members)'
