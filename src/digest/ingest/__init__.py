"""Getting articles, engagement events and subscribers into plain, validated records.

Parsers here never touch the database. A source is read (`sources`: a file or an http(s) URL through
`fetch`), recognised by its content (`detect`) and parsed: feeds (`feed`), HTML pages (`page`), text page
dumps (`textpage`), exports (`tabular`). Every article is built in one place (`article.build_article`):
cleaned and sanitized (`normalize`), checked, hashed. Feeds and pages give a `Batch` of accepted drafts
and rejected items; an export with a bad row, or a source that cannot be read, is an `InputError`.
"""
