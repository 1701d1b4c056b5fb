"""HTTP GET for feeds and pages: conditional, bounded in time and size, with a descriptive User-Agent.

httpx rather than urllib: it streams the *decoded* body (so `max_bytes` also stops gzip bombs), has one
exception hierarchy that maps to clear messages (connect, timeout, too many redirects), and treats 304 as a
status, not an error. One `Client` is reused across a polling run (connection keep-alive).

Every failure is an `InputError` whose message is one line naming the URL.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from digest.config import FeedsSettings
from digest.errors import InputError

MAX_REDIRECTS = 5
ACCEPT = ("application/rss+xml, application/atom+xml, application/rdf+xml;q=0.9, application/xml;q=0.9, "
          "text/xml;q=0.9, text/html;q=0.8, text/csv;q=0.7, application/json;q=0.7, text/plain;q=0.6, */*;q=0.5")


@dataclass(frozen=True, slots=True)
class Fetched:
    url: str  # after redirects
    status: int  # 200 or 304
    body: bytes = b""
    content_type: str = ""
    etag: str | None = None
    last_modified: str | None = None

    @property
    def not_modified(self) -> bool:
        return self.status == 304


def open_client(settings: FeedsSettings):
    import httpx

    for name in ("httpx", "httpcore"):  # one INFO line per request is noise in the daemon's log
        logging.getLogger(name).setLevel(logging.WARNING)
    return httpx.Client(timeout=settings.timeout, follow_redirects=True, max_redirects=MAX_REDIRECTS,
                        headers={"User-Agent": settings.user_agent, "Accept": ACCEPT})


def fetch(url: str, settings: FeedsSettings, *, etag: str | None = None, last_modified: str | None = None,
          client=None) -> Fetched:
    """GET `url` (304 when the validators still match), or InputError in one line."""
    import httpx

    if not url.lower().startswith(("http://", "https://")):
        raise InputError(f"{url}: not an http(s) URL")
    headers = {k: v for k, v in (("If-None-Match", etag), ("If-Modified-Since", last_modified)) if v}
    own = client is None
    client = client or open_client(settings)
    try:
        return _get(client, url, headers, settings)
    except httpx.TimeoutException:
        raise InputError(f"{url}: timed out after {settings.timeout:g} s") from None
    except httpx.TooManyRedirects:
        raise InputError(f"{url}: more than {MAX_REDIRECTS} redirects") from None
    except httpx.ConnectError as exc:
        raise InputError(f"{url}: cannot connect: {_reason(exc)}") from None
    except (httpx.HTTPError, httpx.InvalidURL, httpx.StreamError) as exc:
        raise InputError(f"{url}: {type(exc).__name__}: {_reason(exc)}") from None
    finally:
        if own:
            client.close()


def _get(client, url: str, headers: dict[str, str], settings: FeedsSettings) -> Fetched:
    started = time.monotonic()
    with client.stream("GET", url, headers=headers) as response:
        final = str(response.url)
        if response.status_code == 304:
            return Fetched(final, 304, etag=response.headers.get("etag"),
                           last_modified=response.headers.get("last-modified"))
        if not 200 <= response.status_code < 300:
            phrase = response.reason_phrase or ""
            raise InputError(f"{url}: HTTP {response.status_code} {phrase}".rstrip())
        body = _read_bounded(response, url, settings, started)
        return Fetched(final, response.status_code, body, response.headers.get("content-type", ""),
                       response.headers.get("etag"), response.headers.get("last-modified"))


def _read_bounded(response, url: str, settings: FeedsSettings, started: float) -> bytes:
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > settings.max_bytes:
        raise InputError(f"{url}: too large ({int(declared)} bytes; the limit is {settings.max_bytes})")
    chunks, size = [], 0
    for chunk in response.iter_bytes():
        size += len(chunk)
        if size > settings.max_bytes:
            raise InputError(f"{url}: too large (more than {settings.max_bytes} bytes)")
        if time.monotonic() - started > settings.timeout:
            raise InputError(f"{url}: timed out after {settings.timeout:g} s")
        chunks.append(chunk)
    return b"".join(chunks)


def _reason(exc: Exception) -> str:
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return text[:200]
