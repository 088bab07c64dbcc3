"""Adds up the JUnit reports of every pytest stage into one closing line.

    python scripts/test_summary.py var/test-reports

Each stage prints its own pytest summary; this line is the total across stages, so the last
thing a run prints counts every test it executed, not just the last stage's.
"""

import sys
import xml.etree.ElementTree as ET  # noqa: S405 - our own pytest's reports, not untrusted input
from pathlib import Path


def totals(reports: list[Path]) -> dict[str, int]:
    counts = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    for report in reports:
        root = ET.parse(report).getroot()  # noqa: S314
        suites = [root] if root.tag == "testsuite" else root.findall("testsuite")
        for suite in suites:
            for key in counts:
                counts[key] += int(suite.get(key, 0))
    return counts


def main(argv: list[str]) -> int:
    report_dir = Path(argv[1] if len(argv) > 1 else "var/test-reports")
    reports = sorted(report_dir.glob("*.xml"))
    if not reports:
        return 0  # no pytest stage ran (e.g. STAGES=lint)
    counts = totals(reports)
    failed = counts["failures"] + counts["errors"]
    passed = counts["tests"] - failed - counts["skipped"]
    print(f"total: {passed} passed, {failed} failed, {counts['skipped']} skipped")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
