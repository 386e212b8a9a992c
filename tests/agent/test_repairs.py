"""The local agent's recogniser repairs: homophones a small recogniser writes for digits are
read as digits where the neighbours spell a value, and stay words elsewhere. They live with the
agent; the scorers' strict reading never sees them (tests/test_spoken.py)."""

from __future__ import annotations

import pytest

from harness import spoken
from harness.agent.repairs import find_readbacks, spoken_to_compact, values_equal


@pytest.mark.parametrize(("text", "compact"), [
    ("eight three five to one", "83521"),
    ("eight three five for one", "83541"),
])
def test_homophones_between_digits_are_digits(text: str, compact: str) -> None:
    assert spoken_to_compact(text) == compact
    assert spoken.spoken_to_compact(text) != compact  # not to the strict reading


@pytest.mark.parametrize(("sentence", "values"), [
    # homophones inside and at the start of a digit run become digits
    ("For 7 1 9 0 2 6.", ["4719026"]),
    ("My patient number is for seven one nine oh two six", ["4719026"]),
    ("It's ate 3 5 2 1", ["83521"]),
    ("The order number is made 3,5,2,1.", ["83521"]),
    ("The order number is made three, five, two, one.", ["83521"]),
    ("It's too 4 6", ["246"]),
    ("Won 2 3 4", ["1234"]),
    ("nine one two won three", ["91213"]),
    ("eight three five to one", ["83521"]),
    ("The order number is I 6 4 3 0.", ["96430"]),
    ("The order number is high, 1, 5, 8, 4.", ["91584"]),
    ("The order number is I'm 4, 5, 8, 0.", ["94580"]),
    ("The order number is i 5 8 3 7", ["95837"]),
    ("Could you refill it? It's sick, zero, seven, one, nine, three.", ["607193"]),
    ("That is 8, 3, 5, 2, to.", ["83522"]),
    ("Eight three five two for.", ["83524"]),
    ("The reading is 6, or 1, 7, 9.", ["60179"]),
    # ... and stay words elsewhere
    ("I'm calling for my order.", []),
    ("I need it for 24 hours", ["24"]),
    ("I want to talk to a human", []),
    ("I ate already, thanks", []),
    ("I made an order last week", []),
    ("I made 2 orders", ["2"]),
    ("We won the game", []),
    ("Hi, I want to cancel an order.", []),
    ("High, I want to cancel order 8 3 5 2 1.", ["83521"]),
    ("I'm calling about 2 orders", ["2"]),
    ("I feel sick 2 days now", ["2"]),
    ("Is it the gas or the electricity?", []),
])
def test_the_agent_hears_a_recognisers_homophones(sentence: str, values: list[str]) -> None:
    assert find_readbacks(sentence, min_chars=1) == values


def test_made_before_digits_is_eight_to_the_agent_only() -> None:
    assert values_equal("made 3 5 2 1", "83521")
    assert not spoken.values_equal("made 3 5 2 1", "83521")
    assert values_equal("I 6 4 3 0", "96430")
    assert not spoken.values_equal("I 6 4 3 0", "96430")


@pytest.mark.parametrize(("sentence", "values"), [
    # "i" that is not a nine is still the letter it was: in a spelled email or code
    ("The new email is z, i, o, j at mail dot com", ["zioj@mail.com"]),
    ("It's K, I, dash, 4, 0, 7, 1", ["ki-4071"]),
])
def test_an_i_that_is_no_digit_stays_a_letter(sentence: str, values: list[str]) -> None:
    assert find_readbacks(sentence) == spoken.find_readbacks(sentence) == values


@pytest.mark.parametrize(("heard", "taken"), [
    ("yes, not right.", "yes, that's right."),
    ("yes, not sit.", "yes, that's sit."),
    ("Yes, not slide.", "Yes, that's slide."),
    ("Yes, not set.", "Yes, that's set."),
    ("Yes, not shit.", "Yes, that's shit."),
    ("Sorry, yes, not right.", "Sorry, yes, that's right."),
    ("oh, okay, yeah, not correct", "oh, okay, yeah, that's correct"),
    ("yes not it", "yes that's it"),
    ("yeah, not correct", "yeah, that's correct"),
    ("sorry, yes, not incorrect.", "sorry, yes, correct."),
    ("hello, i want to work an appointment.", "hello, i want to book an appointment."),
    ("hello, i want to walk an appointment.", "hello, i want to book an appointment."),
    ("i work at the clinic", "i work at the clinic"),
    ("i want to move an appointment", "i want to move an appointment"),
    # a real denial stays one
    ("yes, that's not right.", "yes, that's not right."),
    ("no, not right.", "no, not right."),
    ("no, not set.", "no, not set."),
    ("no, not shit.", "no, not shit."),
    ("sorry, no, not right.", "sorry, no, not right."),
    ("sorry, not right.", "sorry, not right."),
    ("it is not right", "it is not right"),
])
def test_a_yes_the_recogniser_heard_as_not_is_a_yes(heard: str, taken: str) -> None:
    from harness.agent.repairs import repair_phrases  # noqa: PLC0415

    assert repair_phrases(heard) == taken
