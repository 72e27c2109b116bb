"""``--include``/``--exclude`` rules: first match wins, names vs paths, directories, ``**`` (a table)."""

from __future__ import annotations

import pytest

from mputui.jobs.filerules import Rule, exclude, include, selected

TREE = [
    "index.html",
    "page1.html",
    "page10.html",
    "big.bin",
    "docs/guide.md",
    "docs/api/ref.md",
    "docs/api/ref.html",
    "docs/page1/notes.txt",
    "src/.git/config",
    "src/main.py",
    "src/main.tmp",
    "build/out.o",
    "lib/build/x.o",
    "TODO",
    "docs/TODO",
    "Upper.HTML",
]


def taken(*rules: Rule) -> list[str]:
    return [rel for rel in TREE if selected(rel, rules)]


@pytest.mark.parametrize(
    ("rules", "expected"),
    [
        ((), TREE),
        # The case that surprised a user: an include leaves out every file that matches no include.
        (
            (include("*.html"), exclude("page1*")),
            ["index.html", "page1.html", "page10.html", "docs/api/ref.html"],
        ),
        ((exclude("page1*"), include("*.html")), ["index.html", "docs/api/ref.html"]),
        # Only excludes: everything else is taken.
        (
            (exclude("*.tmp"), exclude(".git")),
            [r for r in TREE if r not in ("src/main.tmp", "src/.git/config")],
        ),
        # A name pattern matches directories on the path too: page1* leaves out docs/page1/.
        (
            (exclude("page1*"),),
            [r for r in TREE if r not in ("page1.html", "page10.html", "docs/page1/notes.txt")],
        ),
        # Path patterns are anchored at LOCAL_PATH; * does not cross /, ** does.
        ((include("docs/*.md"),), ["docs/guide.md"]),
        ((include("docs/**/*.md"),), ["docs/guide.md", "docs/api/ref.md"]),
        ((include("**/*.md"),), ["docs/guide.md", "docs/api/ref.md"]),
        ((include("docs/**"),), [r for r in TREE if r.startswith("docs/")]),
        ((include("docs/api"),), ["docs/api/ref.md", "docs/api/ref.html"]),
        # A leading / anchors a name at the top; a trailing / matches directories only.
        ((exclude("/TODO"),), [r for r in TREE if r != "TODO"]),
        ((exclude("TODO"),), [r for r in TREE if r not in ("TODO", "docs/TODO")]),
        ((exclude("build/"),), [r for r in TREE if r not in ("build/out.o", "lib/build/x.o")]),
        ((exclude("/build/"),), [r for r in TREE if r != "build/out.o"]),
        ((exclude("big.bin/"),), TREE),  # a file is not a directory
        # First match wins, whatever the kinds.
        (
            (include("page1.html"), exclude("*.html"), include("*")),
            [r for r in TREE if not r.endswith(".html") or r == "page1.html"],
        ),
        ((exclude("*"), include("*.html")), []),
        ((include("nothing*"),), []),
        # Character classes and ?, case-sensitive.
        ((include("page?.html"),), ["page1.html"]),
        ((include("page[0-9]*.html"),), ["page1.html", "page10.html"]),
        ((include("[!ip]*.html"),), ["docs/api/ref.html"]),
        ((include("[^ip]*.html"),), ["docs/api/ref.html"]),
        ((include("*.HTML"),), ["Upper.HTML"]),
        ((include("docs?guide.md"),), []),  # ? never matches /
    ],
)
def test_rules_table(rules: tuple[Rule, ...], expected: list[str]) -> None:
    assert taken(*rules) == expected


@pytest.mark.parametrize("pattern", ["", "/", "//", "[z-a]"])
def test_bad_patterns_are_refused(pattern: str) -> None:
    with pytest.raises(ValueError, match="pattern"):
        include(pattern)


def test_literal_brackets_and_dots() -> None:
    assert (
        selected(
            "a[1].txt",
            (include("a[[]1].txt"),),
        )
        is True
    )
    assert selected("a[.txt", (include("a[.txt"),)) is True  # an unclosed [ is literal
    assert selected("aX.txt", (include("a..txt"),)) is False  # . is literal
