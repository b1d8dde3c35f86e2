"""Safe names for downloaded files (``Content-Disposition``), shared by the API and dashboard.

A stored upload keeps the name its client sent (metadata, verbatim); whatever leaves the
service as a download name is reduced to a plain base name: no directory part (``../../etc/x``
→ ``x``), no control characters, no leading dots, at most 150 characters.
"""

from __future__ import annotations

import re
import unicodedata
from urllib.parse import quote

_UNSAFE = re.compile(r'[\x00-\x1f\x7f"\\;:*?<>|]')


def safe_filename(name: str | None, default: str = "download") -> str:
    """A base name safe to offer as a download name.

    >>> safe_filename("../../../etc/passwd.csv")
    'passwd.csv'
    >>> safe_filename("..\\\\windows\\\\win.ini")
    'win.ini'
    >>> safe_filename("...")
    'download'
    """
    text = unicodedata.normalize("NFC", str(name or ""))
    base = re.split(r"[\\/]", text)[-1]
    base = _UNSAFE.sub("_", base).strip().lstrip(".").strip()
    return base[:150] or default


def content_disposition(filename: str | None, default: str = "download") -> str:
    """``attachment`` header for :func:`safe_filename` of ``filename``: an ASCII fallback plus the
    RFC 6266/5987 ``filename*`` in UTF-8 (non-Latin-1 names would otherwise break the header).
    """
    name = safe_filename(filename, default)
    ascii_name = "".join(c if 32 <= ord(c) < 127 else "_" for c in name) or default
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(name, safe='')}"
