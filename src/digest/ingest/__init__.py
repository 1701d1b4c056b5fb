"""Getting articles, engagement events and subscribers into plain, validated records.

Parsers here never touch the database: they return records or raise `InputError` naming the file and
line, so a bad file stores nothing.
"""
