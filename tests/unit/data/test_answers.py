"""Answer extraction: table-driven cases for numbers, gold parsing and multiple choice."""

from fractions import Fraction

import pytest

from latro_trl.data.answers import (
    extract_choice,
    extract_number,
    format_number,
    gsm8k_gold,
    normalise_choices,
    numbers_match,
    parse_number,
)

NUMBER_CASES = [
    # plain marker forms
    ("The answer is 18.", "18"),
    ("the answer is 18", "18"),
    ("THE ANSWER IS 18", "18"),
    ("The final answer is 42.", "42"),
    ("Answer: 7", "7"),
    ("answer:7", "7"),
    ("The answer is: 12", "12"),
    ("The answer is **15**.", "15"),
    # commas, currency, units
    ("The answer is 1,234.", "1234"),
    ("The answer is 1,234,567 people.", "1234567"),
    ("The answer is $5.", "5"),
    ("The answer is $1,234.50.", "1234.5"),
    ("The answer is €20", "20"),
    ("The answer is £3.75", "3.75"),
    ("The answer is 5 apples.", "5"),
    ("The answer is 12 km.", "12"),
    ("The answer is 12km", "12"),
    ("The answer is 50%.", "50"),
    ("The answer is 5 dollars and 3 cents.", "5"),
    # decimals, negatives, fractions
    ("The answer is 0.5", "0.5"),
    ("The answer is .5", "0.5"),
    ("The answer is 18.0.", "18"),
    ("The answer is 2.50", "2.5"),
    ("The answer is -5.", "-5"),
    ("The answer is −5", "-5"),
    ("The answer is -$4.", "-4"),
    ("The answer is $-4.", "-4"),
    ("The answer is 3/4.", "0.75"),
    ("The answer is 1/3", "1/3"),
    ("The answer is 10 / 4", "2.5"),
    ("The answer is -2/3", "-2/3"),
    # a sign set apart from the number (issue #13); a "- " that starts a new line is a list bullet
    ("The answer is - 5", "-5"),
    ("The answer is - 5.", "-5"),
    ("The answer is − 5", "-5"),
    ("The answer is - $5.", "-5"),
    ("The answer is -5, since 3 - 8 = -5.", "-5"),
    ("The answer is 3 - 8 = - 5.", "-5"),
    ("The answer is 10 - 3 = 7", "7"),
    ("The answer is:\n- 5 apples", "5"),
    # LaTeX
    ("The answer is \\boxed{18}.", "18"),
    ("So we get \\boxed{\\frac{3}{4}}", "0.75"),
    ("Thus \\boxed{1{,}000}", "1000"),
    ("\\boxed{\\$12}", "12"),
    ("\\boxed{18} is it, not 19", "18"),
    # the last marker that has a number wins; later markers without numbers are skipped
    ("The answer is 18. Wait, the answer is 20.", "20"),
    ("First, 3 + 5 = 8. The answer is 8. Answer:", "8"),
    ("The answer is 4. The final answer is 5.", "5"),
    ("The answer is 6 * 2 = 12.", "12"),
    # a justification after the answer is not read (issue #13)
    ("The answer is 12, because 4 = 4.", "12"),
    ("The answer is 12 because 4 = 4.", "12"),
    ("The answer is 12; 4 = 4.", "12"),
    ("The answer is 12 since 2 * 6 = 12 and 3 = 3.", "12"),
    ("The answer is $1,200, since 12 * 100 = 1,200.", "1200"),
    ("The answer is $1,200, since 10 * 100 = 1,000 and 2 * 100 = 200.", "1200"),
    ("The answer is 1,200, so he saves 1,200 - 200 = 1,000 later.", "1200"),
    ("The answer is 6 * 2 = 12, because 6 = 6.", "12"),
    ("The answer is 3 + 5 = 8, so Tom has 8 apples.", "8"),
    ("The answer is, since 3 * 4 = 12, 12.", "12"),
    ("The answer is:\n\n18", "18"),
    ("The answer is nothing. 7", "7"),
    # fallback to the last number without a marker
    ("3 + 5 = 8", "8"),
    ("He has 5 apples and 7 pears, so 12 fruits.", "12"),
    ("10 - 3 = 7", "7"),
    ("5-3=2", "2"),
    ("Total: 1,000 dollars", "1000"),
    ("The answer is unclear, but 6 * 2 = 12", "12"),
    # things that are not numbers
    ("There is no number here.", None),
    ("", None),
    ("The answer is", None),
    ("The answer is x2", None),
    ("1/0", None),
    # comma-separated lists and glued words
    ("1,2,3", "3"),
    ("Step 2 gives 9. Version v1.5", "9"),
]


@pytest.mark.parametrize(("text", "expected"), NUMBER_CASES)
def test_extract_number(text, expected):
    value = extract_number(text)
    assert (None if value is None else format_number(value)) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("3 + 5 = 8", None),
        ("The answer is 8 apples; 9 pears", "8"),
        ("So \\boxed{4}", "4"),
        ("The answer is nothing. 7", None),
        ("The answer is 12, because 4 = 4.", "12"),
        ("The answer is - 5", "-5"),
    ],
)
def test_extract_number_without_fallback(text, expected):
    value = extract_number(text, fallback_to_last_number=False)
    assert (None if value is None else format_number(value)) == expected


def test_extract_number_custom_markers():
    assert extract_number("Result => 9 and 4", markers=("Result =>",), fallback_to_last_number=False) == 9
    assert extract_number("The answer is 9", markers=(), fallback_to_last_number=False) is None


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (Fraction(18), "18"),
        (Fraction(-7), "-7"),
        (Fraction(1, 2), "0.5"),
        (Fraction(-5, 2), "-2.5"),
        (Fraction(1, 3), "1/3"),
        (Fraction(1, 8), "0.125"),
        (Fraction(0), "0"),
        (3, "3"),
    ],
)
def test_format_number(value, expected):
    assert format_number(value) == expected
    assert parse_number(format_number(value)) == Fraction(value)


@pytest.mark.parametrize(
    ("pred", "gold", "expected"),
    [
        ("18.0", "18", True),
        ("18", "18.00", True),
        ("1,000", "1000", True),
        ("$1,000", "1000", True),
        ("0.5", "1/2", True),
        (Fraction(1, 2), "0.5", True),
        (18, "18", True),
        (0.1, "0.1", True),
        ("-3", "3", False),
        ("17", "18", False),
        (None, "18", False),
        ("no number", "18", False),
        ("18", None, False),
    ],
)
def test_numbers_match(pred, gold, expected):
    assert numbers_match(pred, gold) is expected


@pytest.mark.parametrize(
    ("field", "expected"),
    [
        ("Janet sells 16 - 3 - 4 = <<16-3-4=9>>9 duck eggs.\n#### 18", "18"),
        ("...\n#### 1,200", "1200"),
        ("...\n#### -7", "-7"),
        ("...\n####  42 ", "42"),
        ("...\n#### 2.5", "2.5"),
    ],
)
def test_gsm8k_gold(field, expected):
    assert gsm8k_gold(field) == expected


@pytest.mark.parametrize("field", ["no marker here 18", "#### none"])
def test_gsm8k_gold_errors(field):
    with pytest.raises(ValueError, match="####"):
        gsm8k_gold(field)


COLOURS = [("A", "red"), ("B", "blue"), ("C", "light blue"), ("D", "a bird")]
NUMERIC = [
    ("1", "Planetary density will decrease."),
    ("2", "Days get shorter."),
    ("3", "Years get longer."),
    ("4", "Gravity gets stronger."),
]
GENOTYPES = [("A", "R"), ("B", "rr"), ("C", "Rr"), ("D", "RR")]
SIGNS = [("A", "-1"), ("B", "+1"), ("C", "-2"), ("D", "+2")]
FIVE = [("A", "iron"), ("B", "copper"), ("C", "wood"), ("D", "glass"), ("E", "salt")]

CHOICE_CASES = [
    # label forms
    ("The answer is B.", COLOURS, "B"),
    ("The answer is B", COLOURS, "B"),
    ("The answer is (B).", COLOURS, "B"),
    ("The answer is (b)", COLOURS, "B"),
    ("The answer is b)", COLOURS, "B"),
    ("The answer is b", COLOURS, "B"),
    ("The answer is [C]", COLOURS, "C"),
    ("The answer is Option B.", COLOURS, "B"),
    ("the answer is option c", COLOURS, "C"),
    ("The answer is choice (A)", COLOURS, "A"),
    ("The answer is: **C**", COLOURS, "C"),
    ("Answer: A", COLOURS, "A"),
    ("The final answer is D) a bird", COLOURS, "D"),
    ("The answer is C because red is warm", COLOURS, "C"),
    ("The answer is E.", FIVE, "E"),
    # option text, case and punctuation tolerant; longest option wins
    ("The answer is blue.", COLOURS, "B"),
    ("The answer is Light Blue!", COLOURS, "C"),
    ("The answer is a bird", COLOURS, "D"),
    ("The answer is that the sky is red", COLOURS, "A"),
    ("The answer is salt", FIVE, "E"),
    # option text as written decides when case or signs tell options apart
    ("The answer is Rr.", GENOTYPES, "C"),
    ("The answer is RR", GENOTYPES, "D"),
    ("The answer is +1.", SIGNS, "B"),
    ("The answer is -2", SIGNS, "C"),
    # numeric labels
    ("The answer is 2.", NUMERIC, "2"),
    ("The answer is (3)", NUMERIC, "3"),
    ("The answer is days get shorter", NUMERIC, "2"),
    # fallback: the option mentioned last
    ("I think (B) is right.", COLOURS, "B"),
    ("Red is warm, so option A fits.", COLOURS, "A"),
    ("A) red B) blue ... so it must be blue", COLOURS, "B"),
    # no answer
    ("I do not know.", COLOURS, None),
    ("", COLOURS, None),
    ("The answer is unclear.", FIVE, None),
]


@pytest.mark.parametrize(("text", "choices", "expected"), CHOICE_CASES)
def test_extract_choice(text, choices, expected):
    assert extract_choice(text, choices) == expected


def test_extract_choice_accepts_dicts_and_keeps_label_case():
    choices = [{"label": "A", "text": "red"}, {"label": "B", "text": "blue"}]
    assert extract_choice("the answer is b", choices) == "B"


def test_extract_choice_without_fallback():
    assert extract_choice("I think (B) is right.", COLOURS, fallback=False) is None
    assert extract_choice("The answer is (B).", COLOURS, fallback=False) == "B"


@pytest.mark.parametrize("choices", [[("A", "x"), ("a", "y")], [("", "x")], []])
def test_bad_choices(choices):
    with pytest.raises(ValueError):
        extract_choice("The answer is A", choices)


def test_normalise_choices():
    assert normalise_choices([{"label": " A ", "text": "x"}, ("B", "y")]) == [("A", "x"), ("B", "y")]
