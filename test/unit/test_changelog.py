"""
CHANGELOG.rst and FORMULA agree. The rule (docs/contributing.rst): each
version has a heading ``<version> - <YYYY-MM-DD>``, newest first; only the
first may say ``Unreleased``; FORMULA's ``version`` is the version of the
first heading.
"""

import datetime
import re

import yaml
from support.sandbox import REPO_ROOT

CHANGELOG = (REPO_ROOT / "CHANGELOG.rst").read_text()
FORMULA = yaml.safe_load((REPO_ROOT / "FORMULA").read_text())
SEMVER = r"(?P<major>0|[1-9]\d*)\.(?P<minor>0|[1-9]\d*)\.(?P<patch>0|[1-9]\d*)"
#: A version heading: the version, then its date or "Unreleased", underlined.
VERSION_HEADING = re.compile(rf"^(?P<version>{SEMVER}) - (?P<when>\S+)\n(?P<underline>=+)$", re.M)


def version_headings():
    """(version, when) of each version heading, in the order of the file."""
    headings = []
    for match in VERSION_HEADING.finditer(CHANGELOG):
        assert len(match["underline"]) >= len(match.group(0).splitlines()[0]), match.group(0)
        key = (int(match["major"]), int(match["minor"]), int(match["patch"]))
        headings.append((match["version"], key, match["when"]))
    return headings


def test_formula_version_is_the_first_heading():
    headings = version_headings()
    assert headings
    assert str(FORMULA["version"]) == headings[0][0]


def test_versions_go_down_and_each_release_has_a_date():
    headings = version_headings()
    keys = [key for _version, key, _when in headings]
    assert keys == sorted(keys, reverse=True)
    assert len(set(keys)) == len(keys)
    dates = []
    for position, (version, _key, when) in enumerate(headings):
        if when == "Unreleased":
            assert position == 0, f"{version}: only the first heading may be Unreleased"
            continue
        dates.append(datetime.date.fromisoformat(when))
    assert dates == sorted(dates, reverse=True)


def test_every_version_like_heading_follows_the_rule():
    """A heading that names a version but breaks the pattern would be skipped by the tests above."""
    lines = CHANGELOG.splitlines()
    titles = [title for title, under in zip(lines, lines[1:]) if re.fullmatch(r"=+", under) and title.strip()]
    version_titles = [title for title in titles if re.match(r"\[?v?\d+\.\d+", title)]
    assert [title for title in version_titles if not VERSION_HEADING.search(f"{title}\n{'=' * len(title)}")] == []


def test_readme_spm_example_names_the_formula_version():
    assert f"ciphermail_split-{FORMULA['version']}-{FORMULA['release']}.spm" in (REPO_ROOT / "README.rst").read_text()
