"""Merge new translations into scripts/i18n/zh_Hans.py.

Usage: python scripts/i18n/add.py NEW.json   (a JSON object {"English msgid": "中文", ...})

Existing msgids are left alone. The file is locked while it is rewritten, so several people (or agents)
adding translations at once do not overwrite each other. Then run `python scripts/i18n/build.py` and
`make translations`.
"""

import fcntl
import json
import sys
from pathlib import Path

TABLE = Path(__file__).with_name("zh_Hans.py")


def main(source: str) -> None:
    new = json.loads(Path(source).read_text(encoding="utf-8"))
    with open(TABLE, "r+", encoding="utf-8") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        text = handle.read()
        end = text.rstrip().rindex("}")
        head = text[:end]
        lines = []
        for english, chinese in new.items():
            key = json.dumps(english, ensure_ascii=False)
            if f"{key}:" in head or any(line.startswith(f"    {key}:") for line in lines):
                continue
            lines.append(f"    {key}: {json.dumps(chinese, ensure_ascii=False)},\n")
        handle.seek(0)
        handle.write(head + "".join(lines) + text[end:])
        handle.truncate()
    print(f"added {len(lines)}")


if __name__ == "__main__":
    main(sys.argv[1])
