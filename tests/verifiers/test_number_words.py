"""Numbers written in words: the whole phrase is the number, or it is no number at all."""

import pytest

from cotforge.verifiers.math_text import number_from_words


@pytest.mark.parametrize("text,value", [
    ("three", "3"), ("Three.", "3"), ("negative three", "-3"), ("minus seven", "-7"), ("zero", "0"),
    ("twenty-five", "25"), ("twenty five", "25"), ("ninety-nine", "99"), ("three hundred twelve", "312"),
    ("one hundred and five apples", "105"), ("two thousand twenty-four", "2024"), ("ten thousand", "10000"),
    ("one million two hundred thousand", "1200000"), ("three apples", "3"),
])
def test_a_number_phrase_is_its_value(text, value):
    assert number_from_words(text) == value


@pytest.mark.parametrize("text", [
    "the one with the largest area",  # a word, not the answer
    "three of the five",  # more than the things counted after it
    "twelve dozen eggs", "seventy hundred", "five percent", "two point five", "three and a half",  # the value changes
    "twenty twenty", "one one", "nineteen ninety", "a hundred", "three 4", "x = three", "",
])
def test_anything_else_is_no_number(text):
    assert number_from_words(text) is None
