
using namespace System.Management.Automation
using namespace System.Management.Automation.Language

Register-ArgumentCompleter -Native -CommandName 'gisttrack' -ScriptBlock {
    param($wordToComplete, $commandAst, $cursorPosition)

    $commandElements = $commandAst.CommandElements
    $command = @(
        'gisttrack'
        for ($i = 1; $i -lt $commandElements.Count; $i++) {
            $element = $commandElements[$i]
            if ($element -isnot [StringConstantExpressionAst] -or
                $element.StringConstantType -ne [StringConstantType]::BareWord -or
                $element.Value.StartsWith('-') -or
                $element.Value -eq $wordToComplete) {
                break
        }
        $element.Value
    }) -join ';'

    $completions = @(switch ($command) {
        'gisttrack' {
            [CompletionResult]::new('--database-url', '--database-url', [CompletionResultType]::ParameterName, 'Database for the command (as the command''s own --database-url, which wins)')
            [CompletionResult]::new('--log-format', '--log-format', [CompletionResultType]::ParameterName, 'Log format for the command (as the command''s own --log-format, which wins)')
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'Output format for the command (as the command''s own -o, which wins)')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Output format for the command (as the command''s own -o, which wins)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('add', 'add', [CompletionResultType]::ParameterValue, 'Start tracking GitHub users (checks GitHub, links or creates the Pipedrive person)')
            [CompletionResult]::new('list', 'list', [CompletionResultType]::ParameterValue, 'List tracked users with their delivery state')
            [CompletionResult]::new('show', 'show', [CompletionResultType]::ParameterValue, 'Show a user and the gists first seen since the previous visit; records this visit')
            [CompletionResult]::new('delete', 'delete', [CompletionResultType]::ParameterValue, 'Stop tracking a user and remove their rows')
            [CompletionResult]::new('sync', 'sync', [CompletionResultType]::ParameterValue, 'Run one sync pass: discover new gists, deliver each as one Pipedrive activity')
            [CompletionResult]::new('relink', 'relink', [CompletionResultType]::ParameterValue, 'Link a user to another Pipedrive person (after theirs was deleted, or to move them)')
            [CompletionResult]::new('org', 'org', [CompletionResultType]::ParameterValue, 'Follow GitHub organizations: their public members tracked, under one Pipedrive organization')
            [CompletionResult]::new('serve', 'serve', [CompletionResultType]::ParameterValue, 'Serve the HTTP API and run the sync loop')
            [CompletionResult]::new('doctor', 'doctor', [CompletionResultType]::ParameterValue, 'Check the database, GitHub, Pipedrive and the configuration in effect')
            [CompletionResult]::new('completions', 'completions', [CompletionResultType]::ParameterValue, 'Print a shell completion script')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'gisttrack;add' {
            [CompletionResult]::new('--from-file', '--from-file', [CompletionResultType]::ParameterName, 'Read the logins from a file (`-` for standard input): one per line, blank lines and `#` comments ignored. Added concurrently; logins already tracked are reported, not refused, so the same file can be run again after an interruption')
            [CompletionResult]::new('--concurrency', '--concurrency', [CompletionResultType]::ParameterName, 'Users worked on at once by this process (1-256). A pass takes about users x round trip / concurrency: raise it for thousands of users. GitHub allows 100 concurrent requests per token; well beyond that, expect its secondary rate limit')
            [CompletionResult]::new('--exclude', '--exclude', [CompletionResultType]::ParameterName, 'A GitHub login never tracked through an organization (your own engineers); repeatable, or comma separated. Bots are always left out')
            [CompletionResult]::new('--exclude-file', '--exclude-file', [CompletionResultType]::ParameterName, 'A file of logins never tracked through an organization: one per line, `#` comments')
            [CompletionResult]::new('--github-api-url', '--github-api-url', [CompletionResultType]::ParameterName, 'GitHub REST base URL (GitHub Enterprise: https://HOST/api/v3)')
            [CompletionResult]::new('--pipedrive-api-url', '--pipedrive-api-url', [CompletionResultType]::ParameterName, 'Pipedrive company URL; requests go to {URL}/api/v2/...')
            [CompletionResult]::new('--github-token', '--github-token', [CompletionResultType]::ParameterName, 'GitHub token (optional; raises the hourly budget and makes unchanged lists free)')
            [CompletionResult]::new('--pipedrive-token', '--pipedrive-token', [CompletionResultType]::ParameterName, 'Pipedrive API token (sent only in the x-api-token header)')
            [CompletionResult]::new('--person-owner', '--person-owner', [CompletionResultType]::ParameterName, 'The Pipedrive user who owns the persons gisttrack creates (default: Pipedrive''s, the token''s user). Persons found, not created, keep the owner a salesperson gave them')
            [CompletionResult]::new('--rate-limit-max-wait', '--rate-limit-max-wait', [CompletionResultType]::ParameterName, 'Longest rate-limit pause worth waiting for; beyond it the pass stops asking that service')
            [CompletionResult]::new('--http-timeout', '--http-timeout', [CompletionResultType]::ParameterName, 'Timeout for one request to GitHub or Pipedrive')
            [CompletionResult]::new('--in-flight-bound', '--in-flight-bound', [CompletionResultType]::ParameterName, 'How long a Pipedrive write that got no answer may still land; until then it is neither looked for nor sent again [default: three HTTP timeouts, at least 60s]')
            [CompletionResult]::new('--database-url', '--database-url', [CompletionResultType]::ParameterName, 'Database: sqlite://PATH (or a plain path) or mysql://user:password@host:port/db. Default: $XDG_DATA_HOME/gisttrack/gisttrack.db; the seed''s DATABASE_HOST, DATABASE_PORT, DATABASE_NAME, DATABASE_USERNAME, DATABASE_PASSWORD also work')
            [CompletionResult]::new('--log-format', '--log-format', [CompletionResultType]::ParameterName, 'Log lines as text, or as one JSON object each for log pipelines (RUST_LOG sets the level)')
            [CompletionResult]::new('--lock-wait', '--lock-wait', [CompletionResultType]::ParameterName, 'How long a statement waits for a lock that another process or request holds (a SQLite file being written, a MySQL row) before the database counts as busy for now')
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'Output format: a table (plain columns when piped) or JSON')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Output format: a table (plain columns when piped) or JSON')
            [CompletionResult]::new('--only-new', '--only-new', [CompletionResultType]::ParameterName, 'Only gists created after the user is added become activities (default: every existing gist too)')
            [CompletionResult]::new('--drop-leavers', '--drop-leavers', [CompletionResultType]::ParameterName, 'Members who leave a followed organization stop being tracked (default: kept, marked as left)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'gisttrack;list' {
            [CompletionResult]::new('--database-url', '--database-url', [CompletionResultType]::ParameterName, 'Database: sqlite://PATH (or a plain path) or mysql://user:password@host:port/db. Default: $XDG_DATA_HOME/gisttrack/gisttrack.db; the seed''s DATABASE_HOST, DATABASE_PORT, DATABASE_NAME, DATABASE_USERNAME, DATABASE_PASSWORD also work')
            [CompletionResult]::new('--log-format', '--log-format', [CompletionResultType]::ParameterName, 'Log lines as text, or as one JSON object each for log pipelines (RUST_LOG sets the level)')
            [CompletionResult]::new('--lock-wait', '--lock-wait', [CompletionResultType]::ParameterName, 'How long a statement waits for a lock that another process or request holds (a SQLite file being written, a MySQL row) before the database counts as busy for now')
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'Output format: a table (plain columns when piped) or JSON')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Output format: a table (plain columns when piped) or JSON')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'gisttrack;show' {
            [CompletionResult]::new('--database-url', '--database-url', [CompletionResultType]::ParameterName, 'Database: sqlite://PATH (or a plain path) or mysql://user:password@host:port/db. Default: $XDG_DATA_HOME/gisttrack/gisttrack.db; the seed''s DATABASE_HOST, DATABASE_PORT, DATABASE_NAME, DATABASE_USERNAME, DATABASE_PASSWORD also work')
            [CompletionResult]::new('--log-format', '--log-format', [CompletionResultType]::ParameterName, 'Log lines as text, or as one JSON object each for log pipelines (RUST_LOG sets the level)')
            [CompletionResult]::new('--lock-wait', '--lock-wait', [CompletionResultType]::ParameterName, 'How long a statement waits for a lock that another process or request holds (a SQLite file being written, a MySQL row) before the database counts as busy for now')
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'Output format: a table (plain columns when piped) or JSON')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Output format: a table (plain columns when piped) or JSON')
            [CompletionResult]::new('--all', '--all', [CompletionResultType]::ParameterName, 'List every gist (does not record a visit)')
            [CompletionResult]::new('--peek', '--peek', [CompletionResultType]::ParameterName, 'Show the new gists without recording this visit')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'gisttrack;delete' {
            [CompletionResult]::new('--http-timeout', '--http-timeout', [CompletionResultType]::ParameterName, 'Timeout for one request to GitHub or Pipedrive')
            [CompletionResult]::new('--in-flight-bound', '--in-flight-bound', [CompletionResultType]::ParameterName, 'How long a Pipedrive write that got no answer may still land; until then it is neither looked for nor sent again [default: three HTTP timeouts, at least 60s]')
            [CompletionResult]::new('--database-url', '--database-url', [CompletionResultType]::ParameterName, 'Database: sqlite://PATH (or a plain path) or mysql://user:password@host:port/db. Default: $XDG_DATA_HOME/gisttrack/gisttrack.db; the seed''s DATABASE_HOST, DATABASE_PORT, DATABASE_NAME, DATABASE_USERNAME, DATABASE_PASSWORD also work')
            [CompletionResult]::new('--log-format', '--log-format', [CompletionResultType]::ParameterName, 'Log lines as text, or as one JSON object each for log pipelines (RUST_LOG sets the level)')
            [CompletionResult]::new('--lock-wait', '--lock-wait', [CompletionResultType]::ParameterName, 'How long a statement waits for a lock that another process or request holds (a SQLite file being written, a MySQL row) before the database counts as busy for now')
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'Output format: a table (plain columns when piped) or JSON')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Output format: a table (plain columns when piped) or JSON')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'gisttrack;sync' {
            [CompletionResult]::new('--github-api-url', '--github-api-url', [CompletionResultType]::ParameterName, 'GitHub REST base URL (GitHub Enterprise: https://HOST/api/v3)')
            [CompletionResult]::new('--pipedrive-api-url', '--pipedrive-api-url', [CompletionResultType]::ParameterName, 'Pipedrive company URL; requests go to {URL}/api/v2/...')
            [CompletionResult]::new('--github-token', '--github-token', [CompletionResultType]::ParameterName, 'GitHub token (optional; raises the hourly budget and makes unchanged lists free)')
            [CompletionResult]::new('--pipedrive-token', '--pipedrive-token', [CompletionResultType]::ParameterName, 'Pipedrive API token (sent only in the x-api-token header)')
            [CompletionResult]::new('--person-owner', '--person-owner', [CompletionResultType]::ParameterName, 'The Pipedrive user who owns the persons gisttrack creates (default: Pipedrive''s, the token''s user). Persons found, not created, keep the owner a salesperson gave them')
            [CompletionResult]::new('--rate-limit-max-wait', '--rate-limit-max-wait', [CompletionResultType]::ParameterName, 'Longest rate-limit pause worth waiting for; beyond it the pass stops asking that service')
            [CompletionResult]::new('--http-timeout', '--http-timeout', [CompletionResultType]::ParameterName, 'Timeout for one request to GitHub or Pipedrive')
            [CompletionResult]::new('--in-flight-bound', '--in-flight-bound', [CompletionResultType]::ParameterName, 'How long a Pipedrive write that got no answer may still land; until then it is neither looked for nor sent again [default: three HTTP timeouts, at least 60s]')
            [CompletionResult]::new('--notify-url', '--notify-url', [CompletionResultType]::ParameterName, 'POST a JSON message (Slack-compatible `text`) here when a pass ends with failures, and once when the next pass is clean')
            [CompletionResult]::new('--digest-url', '--digest-url', [CompletionResultType]::ParameterName, 'POST one JSON message (Slack-compatible `text`) here after each pass that delivered anything: the new gists by person, with owner and Pipedrive link. Nothing otherwise')
            [CompletionResult]::new('--concurrency', '--concurrency', [CompletionResultType]::ParameterName, 'Users worked on at once by this process (1-256). A pass takes about users x round trip / concurrency: raise it for thousands of users. GitHub allows 100 concurrent requests per token; well beyond that, expect its secondary rate limit')
            [CompletionResult]::new('--exclude', '--exclude', [CompletionResultType]::ParameterName, 'A GitHub login never tracked through an organization (your own engineers); repeatable, or comma separated. Bots are always left out')
            [CompletionResult]::new('--exclude-file', '--exclude-file', [CompletionResultType]::ParameterName, 'A file of logins never tracked through an organization: one per line, `#` comments')
            [CompletionResult]::new('--activity-type', '--activity-type', [CompletionResultType]::ParameterName, 'Pipedrive activity type key for new gists (call, meeting, task, deadline, email, lunch, or a custom key)')
            [CompletionResult]::new('--activity-owner', '--activity-owner', [CompletionResultType]::ParameterName, 'Whose activities are: `person` (the Pipedrive person''s owner when it is delivered, so the salesperson sees it in their list), `token` (the token''s user), or a Pipedrive user id')
            [CompletionResult]::new('--database-url', '--database-url', [CompletionResultType]::ParameterName, 'Database: sqlite://PATH (or a plain path) or mysql://user:password@host:port/db. Default: $XDG_DATA_HOME/gisttrack/gisttrack.db; the seed''s DATABASE_HOST, DATABASE_PORT, DATABASE_NAME, DATABASE_USERNAME, DATABASE_PASSWORD also work')
            [CompletionResult]::new('--log-format', '--log-format', [CompletionResultType]::ParameterName, 'Log lines as text, or as one JSON object each for log pipelines (RUST_LOG sets the level)')
            [CompletionResult]::new('--lock-wait', '--lock-wait', [CompletionResultType]::ParameterName, 'How long a statement waits for a lock that another process or request holds (a SQLite file being written, a MySQL row) before the database counts as busy for now')
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'Output format: a table (plain columns when piped) or JSON')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Output format: a table (plain columns when piped) or JSON')
            [CompletionResult]::new('--dry-run', '--dry-run', [CompletionResultType]::ParameterName, 'Ask GitHub and print what would be created; write nothing to the database or Pipedrive')
            [CompletionResult]::new('--retry-failed', '--retry-failed', [CompletionResultType]::ParameterName, 'Retry failed deliveries now instead of waiting for their backoff')
            [CompletionResult]::new('--reread-history', '--reread-history', [CompletionResultType]::ParameterName, 'Read the people''s activities in Pipedrive in full at their next look, not only what changed since the last one. Seldom needed: every pass already looks before it writes')
            [CompletionResult]::new('--drop-leavers', '--drop-leavers', [CompletionResultType]::ParameterName, 'Members who leave a followed organization stop being tracked (default: kept, marked as left)')
            [CompletionResult]::new('--activity-done', '--activity-done', [CompletionResultType]::ParameterName, 'Create activities already marked done')
            [CompletionResult]::new('--link-open-deal', '--link-open-deal', [CompletionResultType]::ParameterName, 'Link each activity to the person''s open deal when they have exactly one (never a guess between several)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'gisttrack;relink' {
            [CompletionResult]::new('--to', '--to', [CompletionResultType]::ParameterName, 'Link to this existing Pipedrive person (default: the person a merge left, found by carrying the user''s activities)')
            [CompletionResult]::new('--github-api-url', '--github-api-url', [CompletionResultType]::ParameterName, 'GitHub REST base URL (GitHub Enterprise: https://HOST/api/v3)')
            [CompletionResult]::new('--pipedrive-api-url', '--pipedrive-api-url', [CompletionResultType]::ParameterName, 'Pipedrive company URL; requests go to {URL}/api/v2/...')
            [CompletionResult]::new('--github-token', '--github-token', [CompletionResultType]::ParameterName, 'GitHub token (optional; raises the hourly budget and makes unchanged lists free)')
            [CompletionResult]::new('--pipedrive-token', '--pipedrive-token', [CompletionResultType]::ParameterName, 'Pipedrive API token (sent only in the x-api-token header)')
            [CompletionResult]::new('--person-owner', '--person-owner', [CompletionResultType]::ParameterName, 'The Pipedrive user who owns the persons gisttrack creates (default: Pipedrive''s, the token''s user). Persons found, not created, keep the owner a salesperson gave them')
            [CompletionResult]::new('--rate-limit-max-wait', '--rate-limit-max-wait', [CompletionResultType]::ParameterName, 'Longest rate-limit pause worth waiting for; beyond it the pass stops asking that service')
            [CompletionResult]::new('--http-timeout', '--http-timeout', [CompletionResultType]::ParameterName, 'Timeout for one request to GitHub or Pipedrive')
            [CompletionResult]::new('--in-flight-bound', '--in-flight-bound', [CompletionResultType]::ParameterName, 'How long a Pipedrive write that got no answer may still land; until then it is neither looked for nor sent again [default: three HTTP timeouts, at least 60s]')
            [CompletionResult]::new('--database-url', '--database-url', [CompletionResultType]::ParameterName, 'Database: sqlite://PATH (or a plain path) or mysql://user:password@host:port/db. Default: $XDG_DATA_HOME/gisttrack/gisttrack.db; the seed''s DATABASE_HOST, DATABASE_PORT, DATABASE_NAME, DATABASE_USERNAME, DATABASE_PASSWORD also work')
            [CompletionResult]::new('--log-format', '--log-format', [CompletionResultType]::ParameterName, 'Log lines as text, or as one JSON object each for log pipelines (RUST_LOG sets the level)')
            [CompletionResult]::new('--lock-wait', '--lock-wait', [CompletionResultType]::ParameterName, 'How long a statement waits for a lock that another process or request holds (a SQLite file being written, a MySQL row) before the database counts as busy for now')
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'Output format: a table (plain columns when piped) or JSON')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Output format: a table (plain columns when piped) or JSON')
            [CompletionResult]::new('--create', '--create', [CompletionResultType]::ParameterName, 'Link to a new Pipedrive person, created for the user')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'gisttrack;org' {
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('add', 'add', [CompletionResultType]::ParameterValue, 'Follow an organization: one Pipedrive organization, every public member tracked (bots and --exclude left out); each pass picks up new members')
            [CompletionResult]::new('list', 'list', [CompletionResultType]::ParameterValue, 'The followed organizations, their members, who left and who is skipped and why')
            [CompletionResult]::new('delete', 'delete', [CompletionResultType]::ParameterValue, 'Stop following an organization (its members stay tracked unless --members)')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'gisttrack;org;add' {
            [CompletionResult]::new('--exclude', '--exclude', [CompletionResultType]::ParameterName, 'A GitHub login never tracked through an organization (your own engineers); repeatable, or comma separated. Bots are always left out')
            [CompletionResult]::new('--exclude-file', '--exclude-file', [CompletionResultType]::ParameterName, 'A file of logins never tracked through an organization: one per line, `#` comments')
            [CompletionResult]::new('--github-api-url', '--github-api-url', [CompletionResultType]::ParameterName, 'GitHub REST base URL (GitHub Enterprise: https://HOST/api/v3)')
            [CompletionResult]::new('--pipedrive-api-url', '--pipedrive-api-url', [CompletionResultType]::ParameterName, 'Pipedrive company URL; requests go to {URL}/api/v2/...')
            [CompletionResult]::new('--github-token', '--github-token', [CompletionResultType]::ParameterName, 'GitHub token (optional; raises the hourly budget and makes unchanged lists free)')
            [CompletionResult]::new('--pipedrive-token', '--pipedrive-token', [CompletionResultType]::ParameterName, 'Pipedrive API token (sent only in the x-api-token header)')
            [CompletionResult]::new('--person-owner', '--person-owner', [CompletionResultType]::ParameterName, 'The Pipedrive user who owns the persons gisttrack creates (default: Pipedrive''s, the token''s user). Persons found, not created, keep the owner a salesperson gave them')
            [CompletionResult]::new('--rate-limit-max-wait', '--rate-limit-max-wait', [CompletionResultType]::ParameterName, 'Longest rate-limit pause worth waiting for; beyond it the pass stops asking that service')
            [CompletionResult]::new('--http-timeout', '--http-timeout', [CompletionResultType]::ParameterName, 'Timeout for one request to GitHub or Pipedrive')
            [CompletionResult]::new('--in-flight-bound', '--in-flight-bound', [CompletionResultType]::ParameterName, 'How long a Pipedrive write that got no answer may still land; until then it is neither looked for nor sent again [default: three HTTP timeouts, at least 60s]')
            [CompletionResult]::new('--database-url', '--database-url', [CompletionResultType]::ParameterName, 'Database: sqlite://PATH (or a plain path) or mysql://user:password@host:port/db. Default: $XDG_DATA_HOME/gisttrack/gisttrack.db; the seed''s DATABASE_HOST, DATABASE_PORT, DATABASE_NAME, DATABASE_USERNAME, DATABASE_PASSWORD also work')
            [CompletionResult]::new('--log-format', '--log-format', [CompletionResultType]::ParameterName, 'Log lines as text, or as one JSON object each for log pipelines (RUST_LOG sets the level)')
            [CompletionResult]::new('--lock-wait', '--lock-wait', [CompletionResultType]::ParameterName, 'How long a statement waits for a lock that another process or request holds (a SQLite file being written, a MySQL row) before the database counts as busy for now')
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'Output format: a table (plain columns when piped) or JSON')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Output format: a table (plain columns when piped) or JSON')
            [CompletionResult]::new('--drop-leavers', '--drop-leavers', [CompletionResultType]::ParameterName, 'Members who leave a followed organization stop being tracked (default: kept, marked as left)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'gisttrack;org;list' {
            [CompletionResult]::new('--database-url', '--database-url', [CompletionResultType]::ParameterName, 'Database: sqlite://PATH (or a plain path) or mysql://user:password@host:port/db. Default: $XDG_DATA_HOME/gisttrack/gisttrack.db; the seed''s DATABASE_HOST, DATABASE_PORT, DATABASE_NAME, DATABASE_USERNAME, DATABASE_PASSWORD also work')
            [CompletionResult]::new('--log-format', '--log-format', [CompletionResultType]::ParameterName, 'Log lines as text, or as one JSON object each for log pipelines (RUST_LOG sets the level)')
            [CompletionResult]::new('--lock-wait', '--lock-wait', [CompletionResultType]::ParameterName, 'How long a statement waits for a lock that another process or request holds (a SQLite file being written, a MySQL row) before the database counts as busy for now')
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'Output format: a table (plain columns when piped) or JSON')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Output format: a table (plain columns when piped) or JSON')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'gisttrack;org;delete' {
            [CompletionResult]::new('--http-timeout', '--http-timeout', [CompletionResultType]::ParameterName, 'Timeout for one request to GitHub or Pipedrive')
            [CompletionResult]::new('--in-flight-bound', '--in-flight-bound', [CompletionResultType]::ParameterName, 'How long a Pipedrive write that got no answer may still land; until then it is neither looked for nor sent again [default: three HTTP timeouts, at least 60s]')
            [CompletionResult]::new('--database-url', '--database-url', [CompletionResultType]::ParameterName, 'Database: sqlite://PATH (or a plain path) or mysql://user:password@host:port/db. Default: $XDG_DATA_HOME/gisttrack/gisttrack.db; the seed''s DATABASE_HOST, DATABASE_PORT, DATABASE_NAME, DATABASE_USERNAME, DATABASE_PASSWORD also work')
            [CompletionResult]::new('--log-format', '--log-format', [CompletionResultType]::ParameterName, 'Log lines as text, or as one JSON object each for log pipelines (RUST_LOG sets the level)')
            [CompletionResult]::new('--lock-wait', '--lock-wait', [CompletionResultType]::ParameterName, 'How long a statement waits for a lock that another process or request holds (a SQLite file being written, a MySQL row) before the database counts as busy for now')
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'Output format: a table (plain columns when piped) or JSON')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Output format: a table (plain columns when piped) or JSON')
            [CompletionResult]::new('--members', '--members', [CompletionResultType]::ParameterName, 'Stop tracking the members following it started tracking too (anyone tracked before stays; Pipedrive keeps their persons and activities)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'gisttrack;org;help' {
            [CompletionResult]::new('add', 'add', [CompletionResultType]::ParameterValue, 'Follow an organization: one Pipedrive organization, every public member tracked (bots and --exclude left out); each pass picks up new members')
            [CompletionResult]::new('list', 'list', [CompletionResultType]::ParameterValue, 'The followed organizations, their members, who left and who is skipped and why')
            [CompletionResult]::new('delete', 'delete', [CompletionResultType]::ParameterValue, 'Stop following an organization (its members stay tracked unless --members)')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'gisttrack;org;help;add' {
            break
        }
        'gisttrack;org;help;list' {
            break
        }
        'gisttrack;org;help;delete' {
            break
        }
        'gisttrack;org;help;help' {
            break
        }
        'gisttrack;serve' {
            [CompletionResult]::new('--listen', '--listen', [CompletionResultType]::ParameterName, 'Address to listen on: HOST:PORT, where HOST is an address or a name (localhost)')
            [CompletionResult]::new('--interval', '--interval', [CompletionResultType]::ParameterName, 'Time between sync passes (e.g. 3h, 90m, 2s); one pass also runs at start')
            [CompletionResult]::new('--api-token', '--api-token', [CompletionResultType]::ParameterName, 'Require `Authorization: Bearer <token>` on every /api/v1 route')
            [CompletionResult]::new('--github-api-url', '--github-api-url', [CompletionResultType]::ParameterName, 'GitHub REST base URL (GitHub Enterprise: https://HOST/api/v3)')
            [CompletionResult]::new('--pipedrive-api-url', '--pipedrive-api-url', [CompletionResultType]::ParameterName, 'Pipedrive company URL; requests go to {URL}/api/v2/...')
            [CompletionResult]::new('--github-token', '--github-token', [CompletionResultType]::ParameterName, 'GitHub token (optional; raises the hourly budget and makes unchanged lists free)')
            [CompletionResult]::new('--pipedrive-token', '--pipedrive-token', [CompletionResultType]::ParameterName, 'Pipedrive API token (sent only in the x-api-token header)')
            [CompletionResult]::new('--person-owner', '--person-owner', [CompletionResultType]::ParameterName, 'The Pipedrive user who owns the persons gisttrack creates (default: Pipedrive''s, the token''s user). Persons found, not created, keep the owner a salesperson gave them')
            [CompletionResult]::new('--rate-limit-max-wait', '--rate-limit-max-wait', [CompletionResultType]::ParameterName, 'Longest rate-limit pause worth waiting for; beyond it the pass stops asking that service')
            [CompletionResult]::new('--http-timeout', '--http-timeout', [CompletionResultType]::ParameterName, 'Timeout for one request to GitHub or Pipedrive')
            [CompletionResult]::new('--in-flight-bound', '--in-flight-bound', [CompletionResultType]::ParameterName, 'How long a Pipedrive write that got no answer may still land; until then it is neither looked for nor sent again [default: three HTTP timeouts, at least 60s]')
            [CompletionResult]::new('--notify-url', '--notify-url', [CompletionResultType]::ParameterName, 'POST a JSON message (Slack-compatible `text`) here when a pass ends with failures, and once when the next pass is clean')
            [CompletionResult]::new('--digest-url', '--digest-url', [CompletionResultType]::ParameterName, 'POST one JSON message (Slack-compatible `text`) here after each pass that delivered anything: the new gists by person, with owner and Pipedrive link. Nothing otherwise')
            [CompletionResult]::new('--concurrency', '--concurrency', [CompletionResultType]::ParameterName, 'Users worked on at once by this process (1-256). A pass takes about users x round trip / concurrency: raise it for thousands of users. GitHub allows 100 concurrent requests per token; well beyond that, expect its secondary rate limit')
            [CompletionResult]::new('--exclude', '--exclude', [CompletionResultType]::ParameterName, 'A GitHub login never tracked through an organization (your own engineers); repeatable, or comma separated. Bots are always left out')
            [CompletionResult]::new('--exclude-file', '--exclude-file', [CompletionResultType]::ParameterName, 'A file of logins never tracked through an organization: one per line, `#` comments')
            [CompletionResult]::new('--activity-type', '--activity-type', [CompletionResultType]::ParameterName, 'Pipedrive activity type key for new gists (call, meeting, task, deadline, email, lunch, or a custom key)')
            [CompletionResult]::new('--activity-owner', '--activity-owner', [CompletionResultType]::ParameterName, 'Whose activities are: `person` (the Pipedrive person''s owner when it is delivered, so the salesperson sees it in their list), `token` (the token''s user), or a Pipedrive user id')
            [CompletionResult]::new('--database-url', '--database-url', [CompletionResultType]::ParameterName, 'Database: sqlite://PATH (or a plain path) or mysql://user:password@host:port/db. Default: $XDG_DATA_HOME/gisttrack/gisttrack.db; the seed''s DATABASE_HOST, DATABASE_PORT, DATABASE_NAME, DATABASE_USERNAME, DATABASE_PASSWORD also work')
            [CompletionResult]::new('--log-format', '--log-format', [CompletionResultType]::ParameterName, 'Log lines as text, or as one JSON object each for log pipelines (RUST_LOG sets the level)')
            [CompletionResult]::new('--lock-wait', '--lock-wait', [CompletionResultType]::ParameterName, 'How long a statement waits for a lock that another process or request holds (a SQLite file being written, a MySQL row) before the database counts as busy for now')
            [CompletionResult]::new('--no-sync', '--no-sync', [CompletionResultType]::ParameterName, 'Serve without the periodic sync loop (POST /api/v1/sync still runs a pass)')
            [CompletionResult]::new('--drop-leavers', '--drop-leavers', [CompletionResultType]::ParameterName, 'Members who leave a followed organization stop being tracked (default: kept, marked as left)')
            [CompletionResult]::new('--activity-done', '--activity-done', [CompletionResultType]::ParameterName, 'Create activities already marked done')
            [CompletionResult]::new('--link-open-deal', '--link-open-deal', [CompletionResultType]::ParameterName, 'Link each activity to the person''s open deal when they have exactly one (never a guess between several)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'gisttrack;doctor' {
            [CompletionResult]::new('--github-api-url', '--github-api-url', [CompletionResultType]::ParameterName, 'GitHub REST base URL (GitHub Enterprise: https://HOST/api/v3)')
            [CompletionResult]::new('--pipedrive-api-url', '--pipedrive-api-url', [CompletionResultType]::ParameterName, 'Pipedrive company URL; requests go to {URL}/api/v2/...')
            [CompletionResult]::new('--github-token', '--github-token', [CompletionResultType]::ParameterName, 'GitHub token (optional; raises the hourly budget and makes unchanged lists free)')
            [CompletionResult]::new('--pipedrive-token', '--pipedrive-token', [CompletionResultType]::ParameterName, 'Pipedrive API token (sent only in the x-api-token header)')
            [CompletionResult]::new('--person-owner', '--person-owner', [CompletionResultType]::ParameterName, 'The Pipedrive user who owns the persons gisttrack creates (default: Pipedrive''s, the token''s user). Persons found, not created, keep the owner a salesperson gave them')
            [CompletionResult]::new('--rate-limit-max-wait', '--rate-limit-max-wait', [CompletionResultType]::ParameterName, 'Longest rate-limit pause worth waiting for; beyond it the pass stops asking that service')
            [CompletionResult]::new('--http-timeout', '--http-timeout', [CompletionResultType]::ParameterName, 'Timeout for one request to GitHub or Pipedrive')
            [CompletionResult]::new('--in-flight-bound', '--in-flight-bound', [CompletionResultType]::ParameterName, 'How long a Pipedrive write that got no answer may still land; until then it is neither looked for nor sent again [default: three HTTP timeouts, at least 60s]')
            [CompletionResult]::new('--notify-url', '--notify-url', [CompletionResultType]::ParameterName, 'POST a JSON message (Slack-compatible `text`) here when a pass ends with failures, and once when the next pass is clean')
            [CompletionResult]::new('--digest-url', '--digest-url', [CompletionResultType]::ParameterName, 'POST one JSON message (Slack-compatible `text`) here after each pass that delivered anything: the new gists by person, with owner and Pipedrive link. Nothing otherwise')
            [CompletionResult]::new('--concurrency', '--concurrency', [CompletionResultType]::ParameterName, 'Users worked on at once by this process (1-256). A pass takes about users x round trip / concurrency: raise it for thousands of users. GitHub allows 100 concurrent requests per token; well beyond that, expect its secondary rate limit')
            [CompletionResult]::new('--exclude', '--exclude', [CompletionResultType]::ParameterName, 'A GitHub login never tracked through an organization (your own engineers); repeatable, or comma separated. Bots are always left out')
            [CompletionResult]::new('--exclude-file', '--exclude-file', [CompletionResultType]::ParameterName, 'A file of logins never tracked through an organization: one per line, `#` comments')
            [CompletionResult]::new('--activity-type', '--activity-type', [CompletionResultType]::ParameterName, 'Pipedrive activity type key for new gists (call, meeting, task, deadline, email, lunch, or a custom key)')
            [CompletionResult]::new('--activity-owner', '--activity-owner', [CompletionResultType]::ParameterName, 'Whose activities are: `person` (the Pipedrive person''s owner when it is delivered, so the salesperson sees it in their list), `token` (the token''s user), or a Pipedrive user id')
            [CompletionResult]::new('--api-token', '--api-token', [CompletionResultType]::ParameterName, 'Require `Authorization: Bearer <token>` on every /api/v1 route')
            [CompletionResult]::new('--database-url', '--database-url', [CompletionResultType]::ParameterName, 'Database: sqlite://PATH (or a plain path) or mysql://user:password@host:port/db. Default: $XDG_DATA_HOME/gisttrack/gisttrack.db; the seed''s DATABASE_HOST, DATABASE_PORT, DATABASE_NAME, DATABASE_USERNAME, DATABASE_PASSWORD also work')
            [CompletionResult]::new('--log-format', '--log-format', [CompletionResultType]::ParameterName, 'Log lines as text, or as one JSON object each for log pipelines (RUST_LOG sets the level)')
            [CompletionResult]::new('--lock-wait', '--lock-wait', [CompletionResultType]::ParameterName, 'How long a statement waits for a lock that another process or request holds (a SQLite file being written, a MySQL row) before the database counts as busy for now')
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'Output format: a table (plain columns when piped) or JSON')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Output format: a table (plain columns when piped) or JSON')
            [CompletionResult]::new('--drop-leavers', '--drop-leavers', [CompletionResultType]::ParameterName, 'Members who leave a followed organization stop being tracked (default: kept, marked as left)')
            [CompletionResult]::new('--activity-done', '--activity-done', [CompletionResultType]::ParameterName, 'Create activities already marked done')
            [CompletionResult]::new('--link-open-deal', '--link-open-deal', [CompletionResultType]::ParameterName, 'Link each activity to the person''s open deal when they have exactly one (never a guess between several)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'gisttrack;completions' {
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'gisttrack;help' {
            [CompletionResult]::new('add', 'add', [CompletionResultType]::ParameterValue, 'Start tracking GitHub users (checks GitHub, links or creates the Pipedrive person)')
            [CompletionResult]::new('list', 'list', [CompletionResultType]::ParameterValue, 'List tracked users with their delivery state')
            [CompletionResult]::new('show', 'show', [CompletionResultType]::ParameterValue, 'Show a user and the gists first seen since the previous visit; records this visit')
            [CompletionResult]::new('delete', 'delete', [CompletionResultType]::ParameterValue, 'Stop tracking a user and remove their rows')
            [CompletionResult]::new('sync', 'sync', [CompletionResultType]::ParameterValue, 'Run one sync pass: discover new gists, deliver each as one Pipedrive activity')
            [CompletionResult]::new('relink', 'relink', [CompletionResultType]::ParameterValue, 'Link a user to another Pipedrive person (after theirs was deleted, or to move them)')
            [CompletionResult]::new('org', 'org', [CompletionResultType]::ParameterValue, 'Follow GitHub organizations: their public members tracked, under one Pipedrive organization')
            [CompletionResult]::new('serve', 'serve', [CompletionResultType]::ParameterValue, 'Serve the HTTP API and run the sync loop')
            [CompletionResult]::new('doctor', 'doctor', [CompletionResultType]::ParameterValue, 'Check the database, GitHub, Pipedrive and the configuration in effect')
            [CompletionResult]::new('completions', 'completions', [CompletionResultType]::ParameterValue, 'Print a shell completion script')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'gisttrack;help;add' {
            break
        }
        'gisttrack;help;list' {
            break
        }
        'gisttrack;help;show' {
            break
        }
        'gisttrack;help;delete' {
            break
        }
        'gisttrack;help;sync' {
            break
        }
        'gisttrack;help;relink' {
            break
        }
        'gisttrack;help;org' {
            [CompletionResult]::new('add', 'add', [CompletionResultType]::ParameterValue, 'Follow an organization: one Pipedrive organization, every public member tracked (bots and --exclude left out); each pass picks up new members')
            [CompletionResult]::new('list', 'list', [CompletionResultType]::ParameterValue, 'The followed organizations, their members, who left and who is skipped and why')
            [CompletionResult]::new('delete', 'delete', [CompletionResultType]::ParameterValue, 'Stop following an organization (its members stay tracked unless --members)')
            break
        }
        'gisttrack;help;org;add' {
            break
        }
        'gisttrack;help;org;list' {
            break
        }
        'gisttrack;help;org;delete' {
            break
        }
        'gisttrack;help;serve' {
            break
        }
        'gisttrack;help;doctor' {
            break
        }
        'gisttrack;help;completions' {
            break
        }
        'gisttrack;help;help' {
            break
        }
    })

    $completions.Where{ $_.CompletionText -like "$wordToComplete*" } |
        Sort-Object -Property ListItemText
}
