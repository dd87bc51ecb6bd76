"""Extract message ids from lms/ and write the zh_Hans .po from scripts/i18n/zh_Hans.py.

Usage: .venv/bin/python scripts/i18n/build.py   (then `make translations` compiles the .mo)
Prints the ids that have no translation yet and exits 1 if there are any.
"""

from __future__ import annotations

import io
import sys
from datetime import UTC, datetime
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import write_po

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(Path(__file__).resolve().parent))
from zh_Hans import ZH_HANS  # noqa: E402

KEYWORDS = {"_": None, "gettext": None, "ngettext": (1, 2), "lazy_gettext": None, "_l": None, "N_": None}
METHOD_MAP = [("lms/**.py", "python"), ("lms/templates/**.html", "jinja2")]
OPTIONS = {"lms/templates/**.html": {"extensions": "jinja2.ext.do"}}
PO_PATH = ROOT / "lms/translations/zh_Hans/LC_MESSAGES/messages.po"


def extract_ids() -> list[str]:
    ids: set[str] = set()
    for _filename, _lineno, message, _comments, _context in extract_from_dir(
        str(ROOT), METHOD_MAP, OPTIONS, KEYWORDS
    ):
        ids.add(message if isinstance(message, str) else message[0])
    return sorted(i for i in ids if i)


def main() -> int:
    ids = extract_ids()
    # A fixed creation date keeps the .po unchanged when no string changed.
    catalog = Catalog(
        locale="zh_Hans", project="lms", charset="utf-8", creation_date=datetime(2026, 11, 21, tzinfo=UTC)
    )
    missing = []
    for message_id in ids:
        if message_id not in ZH_HANS:
            missing.append(message_id)
        catalog.add(message_id, ZH_HANS.get(message_id, ""))
    buffer = io.BytesIO()
    write_po(buffer, catalog, omit_header=False, no_location=True, width=0)
    PO_PATH.parent.mkdir(parents=True, exist_ok=True)
    PO_PATH.write_bytes(buffer.getvalue())
    unused = sorted(set(ZH_HANS) - set(ids))
    for message_id in missing:
        print(f"missing translation: {message_id!r}")
    for message_id in unused:
        print(f"unused translation: {message_id!r}")
    where = PO_PATH.relative_to(ROOT)
    print(f"{len(ids)} message ids, {len(missing)} missing, {len(unused)} unused -> {where}")
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main())
