"""A corpus of hostile object keys: markup, terminal escapes, control and bidi characters, long keys, prefixes."""

from __future__ import annotations

MARKUP = [
    "[b]bold[/b]",
    "[bold red]alarm[/bold red]",
    "[link=http://evil.example]click me[/link]",
    "[/]",
    "[/b]unbalanced",
    "\\[escaped]",
    "[@click=app.quit]quit[/]",
    "[reverse]inverse",
    "<b>html</b>",
    "<script>alert(1)</script>",
    "&lt;entity&gt;",
    "*markdown* _under_ `code`",
    "{braces} {0} %s %d",
    "$(whoami)",
    "`backticks`",
    "'; DROP TABLE uploads; --",
]
ESCAPES = [
    "\x1b[2Jclear-screen",
    "\x1b[31mred\x1b[0m",
    "\x1b]8;;http://evil.example\x1b\\osc-link\x1b]8;;\x1b\\",
    "\x1b]0;title\x07",
    "\x1b[1;1Hhome",
    "\x1bcreset",
    "\x9b31mC1-CSI",
    "\x1b[?1049hscreen-swap",
]
CONTROL = [f"ctl-{c:02x}-{chr(c)}-end" for c in range(1, 32)] + [
    "del-\x7f-end",
    "new\nline",
    "carriage\rreturn",
    "tab\tinside",
    "crlf\r\nend",
    "form\x0cfeed",
    "bell\x07",
    "backspace\x08\x08xx",
]
C1 = [f"c1-{c:02x}-{chr(c)}-end" for c in range(0x80, 0xA0)]
BIDI = [
    "rtl\u202eexe.txt",
    "lre\u202aleft\u202c",
    "rle\u202bright\u202c",
    "lri\u2066x\u2069",
    "rli\u2067x\u2069",
    "fsi\u2068x\u2069",
    "lrm\u200emark",
    "rlm\u200fmark",
    "alm\u061cmark",
    "zero\u200bwidth",
    "zwj\u200dzwnj\u200c",
    "bom\ufeffinside",
    "word\u2060joiner",
    "שלום/עולם",
    "مرحبا.txt",
    "mixed עב english",
]
UNICODE = [
    "ünïcödé",
    "日本語/ファイル.bin",
    "emoji/🚀🔥💾",
    "combining/e\u0301e\u0301",
    "fullwidth/ＡＢＣ",
    "nbsp\u00a0space",
    "ideographic\u3000space",
    "line\u2028separator",
    "para\u2029separator",
    "surrogate-pair/𝕏𝕐",
    "math/∑∫√",
    "box/┌─┐│└┘",
    "wide/한국어",
]
SHAPES = [
    "a",
    "a/",
    "a/b",
    "a/b/",
    "a//b",
    "/leading-slash",
    "trailing-space ",
    " leading-space",
    "dot/./segment",
    "dots/../up",
    "...",
    "-dash",
    "percent%2Fencoded",
    "percent%",
    "plus+and space",
    "q?x=1&y=2#frag",
    "semi;colon,comma",
    'quote"double',
    "quote'single",
    "back\\slash",
    "k" * 1024,
    "d/" * 300 + "deep",
    "same-prefix",
    "same-prefix-longer",
    "same-prefix/child",
]


def corpus() -> list[str]:
    """Every hostile key, unique, each at most 1,024 bytes of UTF-8."""
    keys: list[str] = []
    for key in MARKUP + ESCAPES + CONTROL + C1 + BIDI + UNICODE + SHAPES:
        if key not in keys and len(key.encode("utf-8", "surrogatepass")) <= 1024:
            keys.append(key)
    return keys
