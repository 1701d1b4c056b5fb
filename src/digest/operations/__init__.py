"""The use cases: one function per operator or reader action, called by the CLI, the daemon, the demo and the web.

Each takes its dependencies explicitly (the settings; an engine, else it opens `[store] url` in the mode the
action needs; a clock or `now`; a mailer factory where it sends) and returns a result dataclass:

    sending      send_day -> DaySend, dry_run -> DryRun
    status       day_status -> DayStatus (EditionSummary per edition)
    subscribers  add / import (ImportReport) / list / remove / erase
    content      import_articles -> IngestReport, import_events -> EventsReport, list_articles
    feeds        add_feed, list_feeds, remove_feed, poll_feeds -> [FeedPoll]
    bounces      import_bounce_file -> BounceSummary
    retention    prune_editions -> PruneReport
    deliveries   requeue -> [RequeueReport]
    database     upgrade -> Upgrade, current_revision
    stories      list_stories -> StoryList
    preview      preview -> PreviewResult
    reader       the reader's pages: unsubscribe, preferences, clicks, events (web)
    signup       sign_up, confirm, send_confirmations; archive: a reader's past edition
    backends     backend_for: the one reader of `[workers] engine`; run_worker (`digest worker`)
    admin        the console's accounts (add_user, set_password, remove_user, list_users, authenticate) and
                 its overview (day_status per date of the last 30 days -> Overview)

Modules are imported one by one (`from digest.operations.status import day_status`): this package imports none.
"""
