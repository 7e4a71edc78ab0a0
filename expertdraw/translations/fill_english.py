"""Fill the English catalog: every empty (or fuzzy) msgstr becomes its msgid.

The pages' msgids are written in English, so the ``en`` catalog repeats them; keeping it
complete means a missing Chinese string is caught by the catalog test, not hidden by fallback.

    python expertdraw/translations/fill_english.py
"""

from __future__ import annotations

from pathlib import Path

from babel.messages.pofile import read_po, write_po

CATALOG = Path(__file__).resolve().parent / "en" / "LC_MESSAGES" / "messages.po"


def main() -> None:
    """Rewrite ``en/LC_MESSAGES/messages.po`` with msgstr = msgid where it is empty."""
    with CATALOG.open("rb") as handle:
        catalog = read_po(handle, locale="en")
    for message in catalog:
        if not message.id:
            continue
        if message.pluralizable:
            if message.fuzzy or not all(message.string):
                message.string = (message.id[0], message.id[1])
        elif message.fuzzy or not message.string:
            message.string = message.id
        message.flags.discard("fuzzy")
    with CATALOG.open("wb") as handle:
        write_po(handle, catalog, width=100, omit_header=False, no_location=True)


if __name__ == "__main__":
    main()
