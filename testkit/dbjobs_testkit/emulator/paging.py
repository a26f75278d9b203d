"""Page tokens and the 2.2 inner-array pagination of job settings (spec §1.6, §3.2, §3.12).

Tokens are opaque to clients (base64 of a small JSON object, like the real ones look). The rule
that matters most: callers omit ``next_page_token`` on the last page, never send ``""``.
"""

from __future__ import annotations

import base64
import binascii
import copy
import json
from typing import Any

from dbjobs_testkit.emulator.errors import invalid

Settings = dict[str, Any]

#: Arrays of JobSettings that 2.2 returns at most :data:`INNER_PAGE_SIZE` at a time (§3.2).
PAGED_JOB_ARRAYS = ("tasks", "job_clusters", "parameters", "environments")
INNER_PAGE_SIZE = 100


def encode_token(kind: str, value: int) -> str:
    """An opaque token for position ``value`` in a listing of ``kind`` ("job_page", "jobs", "runs")."""
    raw = json.dumps({"k": kind, "v": value}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode()


def decode_token(token: str, kind: str) -> int:
    """The position inside ``token``; 400 ``INVALID_PARAMETER_VALUE`` naming ``page_token`` if it is not ours."""
    try:
        data = json.loads(base64.urlsafe_b64decode(token.encode()))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        data = None
    if not isinstance(data, dict) or data.get("k") != kind or not isinstance(data.get("v"), int):
        raise invalid(f"page_token: invalid page token {token!r}.")
    value: int = data["v"]
    return value


def settings_page(settings: Settings, page: int, size: int = INNER_PAGE_SIZE) -> tuple[Settings, bool]:
    """Page ``page`` (0-based) of ``settings`` for 2.2 ``jobs/get``; returns (page settings, more pages?).

    Page 0 carries every field, with each paged array cut to its first ``size`` entries. Later
    pages carry only the next slice of the arrays that still have entries; exhausted arrays are
    absent.
    """
    start, end = page * size, (page + 1) * size
    out = copy.deepcopy(settings) if page == 0 else {}
    for field in PAGED_JOB_ARRAYS:
        values = settings.get(field)
        if not isinstance(values, list):
            continue
        chunk = copy.deepcopy(values[start:end])
        if page == 0 or chunk:
            out[field] = chunk
    more = any(isinstance(settings.get(f), list) and len(settings[f]) > end for f in PAGED_JOB_ARRAYS)
    return out, more


def cap_arrays(settings: Settings, size: int = INNER_PAGE_SIZE) -> tuple[Settings, bool]:
    """``settings`` with each paged array cut to ``size`` entries (2.2 ``jobs/list?expand_tasks``);
    the flag is True when anything was cut, i.e. the element-level ``has_more``."""
    page, more = settings_page(settings, 0, size)
    return page, more
