"""Every bound on a stored or parsed value, written once. Parse trims to these, storage checks
them, the schema's column sizes come from them, and one test runs each on both databases.

Text limits are in characters (PostgreSQL `VARCHAR(n)` counts characters; SQLite does not
enforce a length, so storage must). A value over a *drop* limit is not stored at all (a URL,
a validator header); a value over a *truncate* limit is cut at the limit (titles, summaries).
"""

from __future__ import annotations

# Column sizes (VARCHAR): a longer value is dropped with a reason, never truncated, because a
# cut URL or guid would point somewhere else.
MAX_URL_CHARS = 2048
MAX_GUID_CHARS = 2048
MAX_ETAG_CHARS = 1024
MAX_LAST_MODIFIED_CHARS = 128
MAX_LANGUAGE_CHARS = 16
MAX_FEED_NAME_CHARS = 512

# Free text (TEXT columns): cut at the limit.
MAX_TITLE_CHARS = 1_000
MAX_SUMMARY_CHARS = 20_000
MAX_AUTHORS_CHARS = 1_000
MAX_ERROR_CHARS = 2_000

# Numbers parsed from headers: anything longer than this many digits is garbage, not a number.
MAX_HEADER_NUMBER_DIGITS = 12
