"""Dates as callers say them: found in a sentence, and said again for another date in the same
form (``harness.spoken.dates``, used by the loader's entity check and ``harness vary``)."""

from __future__ import annotations

from datetime import date

import pytest

from harness.spoken.dates import said_dates, says_date

NEW = date(2004, 11, 22)


@pytest.mark.parametrize(("sentence", "said", "when", "again"), [
    ("Born March fourteenth, nineteen eighty-five.", "March fourteenth, nineteen eighty-five",
     (1985, 3, 14), "Born November twenty-second, twenty oh four."),
    ("That's the fourteenth of March, yes.", "the fourteenth of March", (None, 3, 14),
     "That's the twenty second of November, yes."),
    ("The fourth of March, nineteen eighty five", "The fourth of March, nineteen eighty five",
     (1985, 3, 4), "The twenty second of November, twenty oh four"),
    ("March the 21st, two thousand and three.", "March the 21st, two thousand and three",
     (2003, 3, 21), "November the 22nd, two thousand and four."),
    ("on 14 MARCH 1985", "14 MARCH 1985", (1985, 3, 14), "on 22 NOVEMBER 2004"),
    ("card says 03/14/1985.", "03/14/1985", (1985, 3, 14), "card says 11/22/2004."),
    ("card says 14/03/85.", "14/03/85", (1985, 3, 14), "card says 22/11/04."),
    ("it is 1985-03-14", "1985-03-14", (1985, 3, 14), "it is 2004-11-22"),
])
def test_a_said_date_is_read_and_said_again_in_its_form(
        sentence: str, said: str, when: tuple[int | None, int, int], again: str) -> None:
    [found] = said_dates(sentence)
    assert sentence[found.start:found.end] == said
    assert (found.year, found.month, found.day) == when
    assert sentence[:found.start] + found.render(sentence, NEW) + sentence[found.end:] == again


def test_what_is_not_a_date_is_not_read_as_one() -> None:
    assert said_dates("In March 2019 we ordered 2 items, order eight three five.") == []
    assert said_dates("the thirty-second of March") == []
    # a numeric date that reads both ways is offered both ways over one span
    assert [(d.month, d.day) for d in said_dates("04/03/1985")] == [(4, 3), (3, 4)]


def test_says_date_needs_the_labelled_day_month_and_year() -> None:
    text = "My date of birth is March fourteenth, nineteen eighty-five."
    assert says_date(text, "1985-03-14")
    assert not says_date(text, "1985-03-15") and not says_date(text, "1986-03-14")
    assert not says_date("the fourteenth of March", "1985-03-14")  # no year said
    assert not says_date(text, "14 March 1985")  # a label is ISO
