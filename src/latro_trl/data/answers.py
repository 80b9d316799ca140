"""Answer extraction: the one copy shared by data preparation, evaluation and the accuracy callback.

Numbers (GSM8K style) come back as exact :class:`fractions.Fraction` values, so ``"18.0"``, ``"18"``, ``"$18"`` and
``"18 apples"`` all compare equal; :func:`format_number` writes the canonical string. Multiple-choice
answers come back as the option's label.

Where the answer is looked for, in order:

1. in the sentence after the LAST answer marker (``"The answer is"``, ``"The final answer is"``, ``"Answer:"``;
   case-insensitive) that names an answer; e.g. ``"... The answer is $1,234.50."`` -> ``1234.5``,
   ``"The answer is 6 * 2 = 12."`` -> ``12``, ``"The answer is 12, because 4 = 4."`` -> ``12``,
   ``"The answer is - 5"`` -> ``-5``;
2. (numbers) inside the last LaTeX ``\\boxed{...}``;
3. (if ``fallback_to_last_number`` / ``fallback``) anywhere: the last number, or the last option mentioned.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from fractions import Fraction

from ..markers import ANSWER_MARKERS

_DIGITS = r"(?:\d{1,3}(?:,\d{3})+(?!\d)|\d+)(?:\.\d+)?|\.\d+"
# A number: optional sign and currency (either order), digits with optional thousands commas and decimals, optional
# "/ denominator". Not glued to a preceding word or decimal point ("x2", "v1.5" are not numbers to us).
_NUMBER_RE = re.compile(
    rf"(?<![\w.])(?P<neg>[-−])?(?:[$€£¥]\s?)?(?P<neg2>[-−])?(?P<num>{_DIGITS})(?:\s?/\s?(?P<den>{_DIGITS}))?"
)
_LATEX_FRAC_RE = re.compile(r"\\[dt]?frac\s*\{([^{}]*)\}\s*\{([^{}]*)\}")
_LATEX_SUBS = ((re.compile(r"\{,\}"), ","), (re.compile(r"\\[,!;: ]"), ""), (re.compile(r"\\([$%])"), r"\1"))

NumberLike = str | Fraction | int | float


def _normalise_latex(text: str) -> str:
    text = _LATEX_FRAC_RE.sub(r"\1/\2", text)
    for pattern, replacement in _LATEX_SUBS:
        text = pattern.sub(replacement, text)
    return text


def _numbers(text: str) -> Iterator[Fraction]:
    for match in _NUMBER_RE.finditer(text):
        value = Fraction(match["num"].replace(",", ""))
        if match["den"] is not None:
            denominator = Fraction(match["den"].replace(",", ""))
            if denominator == 0:
                continue
            value /= denominator
        yield -value if (match["neg"] or match["neg2"]) else value


_SENTENCE_END_RE = re.compile(r"[.!?](?=\s|$)|\n")
# Where the clause that states the answer ends and a justification starts: "12, because 4 = 4", "12; 4 = 4".
# A comma must be followed by a space, so "1,200" is not cut.
_CLAUSE_BREAK_RE = re.compile(r",\s|;|\s(?:because|since|as|given|but|so)\b", flags=re.IGNORECASE)
# A sign with a space before the number ("- 5", "− 5", "- $5"); only read as a sign where an answer starts.
_SPACED_SIGN_RE = re.compile(r"^([-−])\s+(?=[$€£¥]?\s?(?:\d|\.\d))")


def _first_number(segment: str, *, signed_start: bool) -> Fraction | None:
    """The first number of a segment, or, if it holds an equation, the first number after its last ``=``.

    With ``signed_start``, a sign separated from the number by spaces at the segment's start counts ("- 5" -> -5).
    """
    if "=" in segment:
        segment, signed_start = segment[segment.rfind("=") + 1 :], True
    segment = segment.lstrip()
    if signed_start:
        segment = _SPACED_SIGN_RE.sub(r"\1", segment)
    return next(_numbers(segment), None)


def _number_after_marker(rest: str) -> Fraction | None:
    """The number a marker introduces, read from the rest of its sentence.

    The first number of the clause right after the marker, or, if that clause holds an equation, the first number
    after its last ``=`` (``"The answer is 6 * 2 = 12."`` -> 12); a justification after a clause break is not read
    (``"The answer is 12, because 4 = 4."`` -> 12). When that clause has no number, the whole sentence is read the
    same way. A sentence without a number ("The answer is unclear.") gives ``None``. A sign set apart from the number
    counts ("The answer is - 5" -> -5), unless the answer starts on a new line (then "- " is a list bullet).
    """
    stripped = rest.lstrip(" \t\n:*_")
    signed_start = "\n" not in rest[: len(rest) - len(stripped)]
    end = _SENTENCE_END_RE.search(stripped)
    sentence = stripped if end is None else stripped[: end.start()]
    clause = _CLAUSE_BREAK_RE.split(sentence, maxsplit=1)[0]
    value = _first_number(clause, signed_start=signed_start)
    return value if value is not None else _first_number(sentence, signed_start=signed_start)


def _marker_ends(text: str, markers: Sequence[str]) -> list[int]:
    """End offsets of every marker occurrence, last first."""
    if not markers:
        return []
    pattern = "|".join(re.escape(marker) for marker in sorted(markers, key=len, reverse=True))
    return sorted((m.end() for m in re.finditer(pattern, text, flags=re.IGNORECASE)), reverse=True)


def _last_boxed(text: str) -> str | None:
    start = text.rfind("\\boxed{")
    if start < 0:
        return None
    depth, begin = 0, start + len("\\boxed{")
    for i in range(begin, len(text)):
        if text[i] == "{":
            depth += 1
        elif text[i] == "}":
            if depth == 0:
                return text[begin:i]
            depth -= 1
    return None


def parse_number(text: NumberLike | None) -> Fraction | None:
    """Parse the first number in a short string (a gold answer, an extracted answer) into an exact fraction.

    Args:
        text: e.g. ``"1,234"``, ``"$5"``, ``"-3.50"``, ``"3/4"``, ``"12 km"``, ``"\\frac{3}{4}"``; numbers pass through.

    Returns:
        The value, or ``None`` when there is no number.
    """
    if text is None:
        return None
    if isinstance(text, Fraction | int):
        return Fraction(text)
    if isinstance(text, float):
        return Fraction(repr(text))  # 0.1 -> 1/10, not the binary expansion
    return next(_numbers(_normalise_latex(text)), None)


def extract_number(
    text: str,
    *,
    markers: Sequence[str] = ANSWER_MARKERS,
    fallback_to_last_number: bool = True,
) -> Fraction | None:
    """Extract the numeric answer from a model's reply.

    Args:
        text: the generated reply.
        markers: phrases that introduce the answer (case-insensitive). The last marker whose sentence holds a number
            wins; the answer is the first number of the clause after it (a justification after ``", "``, ``";"``,
            "because", "since", ... is not read), or the number after that clause's last ``=``.
        fallback_to_last_number: with no marker followed by a number and no ``\\boxed{}``, use the last number in
            the text. Set to ``False`` to count such replies as unanswered.

    Returns:
        The answer as an exact fraction, or ``None`` when none is found.

    Example:
        >>> extract_number("3 + 5 = 8 apples. The answer is $1,008.")
        Fraction(1008, 1)
    """
    text = _normalise_latex(text)
    for end in _marker_ends(text, markers):
        if (value := _number_after_marker(text[end:])) is not None:
            return value
    boxed = _last_boxed(text)
    if boxed is not None and (value := next(_numbers(boxed), None)) is not None:
        return value
    if fallback_to_last_number:
        *_, last = (None, *_numbers(text))
        return last
    return None


def format_number(value: Fraction | int) -> str:
    """The canonical string of a number: ``"18"``, ``"-2.5"``, ``"1/3"`` (a decimal only when it terminates).

    Args:
        value: an exact number, e.g. from :func:`extract_number`.

    Returns:
        The canonical text; ``format_number(parse_number(s))`` is stable.
    """
    value = Fraction(value)
    if value.denominator == 1:
        return str(value.numerator)
    denominator = value.denominator
    for prime in (2, 5):
        while denominator % prime == 0:
            denominator //= prime
    if denominator != 1:
        return f"{value.numerator}/{value.denominator}"
    digits = 0
    while (value * 10**digits).denominator != 1:
        digits += 1
    return f"{float(value):.{digits}f}" if digits <= 15 else f"{value.numerator}/{value.denominator}"


def numbers_match(pred: NumberLike | None, gold: NumberLike | None) -> bool:
    """Whether two answers are numerically equal (``"18.0" == "18"``, ``"1,000" == "1000"``, ``"0.5" == "1/2"``).

    Args:
        pred: the extracted answer (string, fraction or number); ``None`` never matches.
        gold: the gold answer in any of the same forms.

    Returns:
        ``True`` when both parse and are exactly equal.
    """
    pred_value, gold_value = parse_number(pred), parse_number(gold)
    return pred_value is not None and gold_value is not None and pred_value == gold_value


def gsm8k_gold(answer_field: str) -> str:
    """The canonical gold answer of a GSM8K ``answer`` field (the number after ``####``).

    Args:
        answer_field: e.g. ``"She makes 9 * 2 = $<<9*2=18>>18.\\n#### 1,800"``.

    Returns:
        The canonical number string, e.g. ``"1800"``.

    Raises:
        ValueError: if there is no ``####`` line or no number after it.
    """
    if "####" not in answer_field:
        raise ValueError(f"GSM8K answer field has no '#### <number>' line: {answer_field[-80:]!r}")
    value = parse_number(answer_field.rsplit("####", 1)[1])
    if value is None:
        raise ValueError(f"GSM8K answer field has no number after '####': {answer_field[-80:]!r}")
    return format_number(value)


# ---------------------------------------------------------------------------------------------------------------------
# Multiple choice
# ---------------------------------------------------------------------------------------------------------------------

ChoiceLike = tuple[str, str] | Mapping[str, str]


def _light_text(text: str) -> str:
    """Whitespace collapsed, surrounding quotes/markdown/trailing full stops removed; case and signs kept."""
    return " ".join(text.split()).strip("*_`\"' ").rstrip(".!?;:,")


def _normalise_text(text: str) -> str:
    return " ".join(re.sub(r"[^0-9a-z]+", " ", text.lower()).split())


def normalise_choices(choices: Sequence[ChoiceLike]) -> list[tuple[str, str]]:
    """Turn ``[("A", "red"), ...]`` or ``[{"label": "A", "text": "red"}, ...]`` into ``(label, text)`` pairs.

    Raises:
        ValueError: if a label is empty or repeated.
    """
    pairs = [(str(c["label"]), str(c["text"])) if isinstance(c, Mapping) else (str(c[0]), str(c[1])) for c in choices]
    labels = [label.strip() for label, _ in pairs]
    if any(not label for label in labels) or len({label.upper() for label in labels}) != len(labels):
        raise ValueError(f"choice labels must be non-empty and distinct (ignoring case), got {labels}")
    return [(label.strip(), text) for label, text in pairs]


def _label_alternation(pairs: list[tuple[str, str]]) -> str:
    return "|".join(re.escape(label) for label, _ in sorted(pairs, key=lambda p: len(p[0]), reverse=True))


def _canonical_label(found: str, pairs: list[tuple[str, str]]) -> str:
    return next(label for label, _ in pairs if label.upper() == found.upper())


def _choice_at_start(segment: str, pairs: list[tuple[str, str]]) -> str | None:
    """The option a marker's continuation names: label forms first, then option text (see :func:`extract_choice`)."""
    s = segment.lstrip(" \t\n:*_\"'`>-")
    labels = _label_alternation(pairs)
    explicit = (
        rf"^(?:(?:option|choice)\s*)?[(\[]\s*({labels})\s*[)\]]",  # (B), [B], option (B)
        rf"^(?:option|choice)\s+({labels})(?!\w)",  # Option B
        rf"^({labels})\s*[).:](?!\d)",  # B)  b.  B:
    )
    for pattern in explicit:
        if match := re.match(pattern, s, flags=re.IGNORECASE):
            return _canonical_label(match[1], pairs)

    # Option text: first as written (case and signs matter: "Rr" vs "RR", "+1" vs "-1"), then normalised.
    for normalise in (_light_text, _normalise_text):
        line = normalise(s.split("\n", 1)[0])
        for label, text in sorted(pairs, key=lambda p: len(normalise(p[1])), reverse=True):
            option = normalise(text)
            if option and line.startswith(option) and not line[len(option) : len(option) + 1].isalnum():
                return label

    if match := re.match(rf"^({labels})(?!\w)", s, flags=re.IGNORECASE):
        rest = s[match.end() :]
        # A lower-case bare letter is accepted only when nothing word-like follows ("b" yes, "a bird" no).
        if match[1].isupper() or match[1].isdigit() or re.match(r"^\s*(?:$|[^\w\s])", rest):
            return _canonical_label(match[1], pairs)

    first_line = _normalise_text(s.split("\n", 1)[0])
    contained = [(label, _normalise_text(text)) for label, text in pairs]
    contained = [(label, t) for label, t in contained if t and f" {t} " in f" {first_line} "]
    contained = [(label, t) for label, t in contained if not any(t != u and t in u for _, u in contained)]
    return contained[0][0] if len(contained) == 1 else None


def _last_mention(text: str, pairs: list[tuple[str, str]]) -> str | None:
    """The option mentioned last, as an explicit label form ("(B)", "Option B", "B)") or by its full text."""
    labels = _label_alternation(pairs)
    best: tuple[int, str] | None = None
    pattern = rf"(?<!\w)(?:[(\[]\s*({labels})\s*[)\]]|(?:option|choice)\s+({labels})(?!\w)|({labels})\))"
    for match in re.finditer(pattern, text, flags=re.IGNORECASE):
        found = match[1] or match[2] or match[3]
        best = (match.end(), _canonical_label(found, pairs))
    lowered = text.lower()
    for label, option in pairs:
        option = option.strip().lower()
        if option and (pos := lowered.rfind(option)) >= 0 and (best is None or pos + len(option) > best[0]):
            best = (pos + len(option), label)
    return best[1] if best else None


def extract_choice(
    text: str,
    choices: Sequence[ChoiceLike],
    *,
    markers: Sequence[str] = ANSWER_MARKERS,
    fallback: bool = True,
) -> str | None:
    """Extract a multiple-choice answer from a model's reply.

    After the last answer marker that names an option, accepted forms are (case and punctuation tolerant): a label in
    brackets or with a closing mark (``"(B)"``, ``"b)"``, ``"B."``), ``"Option B"``, the option's text (``"blue"``,
    ``"Blue."``; the longest matching option wins), a bare label (``"B"``; a lower-case bare letter only when no
    word follows it, so ``"a bird"`` is not option A), or a line containing exactly one option's text.

    Args:
        text: the generated reply.
        choices: the options as ``(label, text)`` pairs or ``{"label", "text"}`` dicts; labels like ``"A"``..``"E"``
            or ``"1"``..``"4"``.
        markers: phrases that introduce the answer (case-insensitive).
        fallback: with no marker naming an option, return the option mentioned last anywhere in the text (an
            explicit label form or the option's full text). Noisy; set to ``False`` to count such replies as
            unanswered.

    Returns:
        The label exactly as given in ``choices``, or ``None``.

    Example:
        >>> extract_choice("Blue light scatters more. The answer is (b).", [("A", "red"), ("B", "blue")])
        'B'
    """
    pairs = normalise_choices(choices)
    if not pairs:
        raise ValueError("extract_choice needs at least one choice")
    for end in _marker_ends(text, markers):
        if (label := _choice_at_start(text[end:], pairs)) is not None:
            return label
    return _last_mention(text, pairs) if fallback else None
