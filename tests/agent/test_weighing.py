"""A spelled email read from the pieces the recogniser wrote, and its "0"s weighed as a letter
"o" (``harness.agent.repairs.spelled_local_part``, ``harness.agent.weighing``)."""

from __future__ import annotations

import re

import pytest

from harness.agent.repairs import joined_spelling, spelled_local_part
from harness.agent.weighing import (
    five_candidates,
    lead_for_candidates,
    lead_for_plan,
    lead_oh_candidates,
    letter_o_candidates,
    read_fives,
    read_lead_oh,
    read_letter_os,
)


@pytest.mark.parametrize(("text", "joined"), [
    # transcripts of generated calls of the example suite (Kokoro callers spelling four letters)
    ("The new email is z, dwo at mail.com.", "The new email is Z, D, W, O at mail.com."),
    ("The new email is OG OS at mail.com.", "The new email is O, G, O, S at mail.com."),
    ("So the new email is gn-o-e at mail.com", "So the new email is G, N, O, E at mail.com"),
    ("The new email is you, a.q.o, at mail.com.", "The new email is U, A, Q, O, at mail.com."),
    ("The new email is F. N's D-O at mail.com.", "The new email is F, N, D, O at mail.com."),
    ("The new email is www.u-o-f at mail.com.", "The new email is W, U, O, F at mail.com."),
    ("The new email is S and C0 at mail.com.", "The new email is S, N, C, 0 at mail.com."),
    ("It's j, o, h, n, at example dot com.", "It's J, O, H, N, at example dot com."),
    ("The new email is em. J-O at mail.com.", "The new email is E, M, J, O at mail.com."),
    ("The new email is A. Cfk at mail.com.", "The new email is A, C, F, K at mail.com."),
    # a word, or one piece: as written
    ("My email is john at mail dot com", "My email is john at mail dot com"),
    ("It's Mary at example dot com.", "It's Mary at example dot com."),
    ("The email is the same, john at mail.com", "The email is the same, john at mail.com"),
    ("The new email is Lxv0 at mail.com.", "The new email is Lxv0 at mail.com."),
    ("I'll be at home.", "I'll be at home."),
    # a separator said as a word: the spoken forms read it ("john.doe@example.com")
    ("It's john dot doe at example dot com", "It's john dot doe at example dot com"),
    ("J O H N dot D O E at example dot com.", "J O H N dot D O E at example dot com."),
    ("It's 8, 3, 5, 2, 0 at the moment, or at mail.com.",
     "It's 8, 3, 5, 2, 0 at the moment, or at mail.com."),
    ("It's j, o, h, n at the office.", "It's j, o, h, n at the office."),
    ("The new email is you.", "The new email is you."),
])
def test_an_email_spelled_in_pieces_is_read_letter_by_letter(text: str, joined: str) -> None:
    assert joined_spelling(text) == joined


def test_a_local_part_of_one_piece_is_found_where_asked_for() -> None:
    text = "The new email is Lxv0 at mail.com."
    assert spelled_local_part(text) is None
    start, end, chars = spelled_local_part(text, pieces=1) or (0, 0, [])
    assert (text[start:end], chars) == ("Lxv0", ["l", "x", "v", "0"])


def test_the_0s_of_a_spelled_email_and_the_readings_that_weigh_them() -> None:
    part, zeros, readings = letter_o_candidates("The new email is 0, Z, T, X at mail.com.")
    assert part is not None and zeros == [0]
    assert readings == ["The new email is zero, Z, T, X at mail.com.",
                        "The new email is O, Z, T, X at mail.com."]
    part, zeros, readings = letter_o_candidates("It's 0-0-M, C at mail.com.")
    assert zeros == [0, 1]
    assert readings == ["It's zero, zero, M, C at mail.com.", "It's O, zero, M, C at mail.com.",
                        "It's zero, O, M, C at mail.com."]
    # no 0 in the local part, no email, a 0 in the domain: nothing to weigh
    assert letter_o_candidates("It's J, O, H, N at mail.com.")[1:] == ([], [])
    assert letter_o_candidates("The order is 4, 0, 2, 7.")[1:] == ([], [])
    assert letter_o_candidates("It's J, O, H, N at mail0.com.")[1:] == ([], [])


def test_a_0_is_written_as_the_letter_only_where_its_o_reading_scored_within_the_margin() -> None:
    text = "The new email is rxk0 at mail.com."
    part, zeros, _ = letter_o_candidates(text)
    assert read_letter_os(text, part, zeros, [-20.0, -18.0], -1.0) == \
        "The new email is R, X, K, O at mail.com."
    assert read_letter_os(text, part, zeros, [-20.0, -20.5], -1.0) == \
        "The new email is R, X, K, O at mail.com."
    assert read_letter_os(text, part, zeros, [-20.0, -21.5], -1.0) == text  # a zero
    assert read_letter_os(text, part, zeros, [], -1.0) == text  # no scores
    text = "It's 0-0-M, C at mail.com."
    part, zeros, _ = letter_o_candidates(text)
    assert read_letter_os(text, part, zeros, [-30.0, -20.0, -35.0], -1.0) == \
        "It's O, 0, M, C at mail.com."


def _six_digits(text: str) -> bool:
    """A whole six-digit account number in ``text`` (as the utility line's slot reads it)."""
    return any(len(re.sub(r"\D", "", run.group(0))) == 6
               for run in re.finditer(r"\d[\d ,.\-]*", text))


def test_an_oh_lost_at_a_numbers_start_is_tried_before_the_run_and_for_the_word_before_it(
        ) -> None:
    made, readings, places = lead_oh_candidates("My account number is more 3, 6, 4, 5, 8.",
                                                _six_digits)
    assert made == ["My account number is more 0, 3, 6, 4, 5, 8.",
                    "My account number is 0, 3, 6, 4, 5, 8."]
    assert readings == [
        "My account number is more three, six, four, five, eight.",
        "My account number is more oh, three, six, four, five, eight.",
        "My account number is more eight, three, six, four, five, eight.",  # the rival
        "My account number is oh, three, six, four, five, eight."]
    assert places == [(1, 2), (3, None)]  # each transcript's reading, and its rival's
    # a number written as one: the "oh" goes onto it
    assert lead_oh_candidates("It's 91534.", _six_digits)[0] == ["It's 091534."]


@pytest.mark.parametrize(("text", "made"), [
    # "before": its "fore" may be the caller's four
    ("My meal count before 92403?", "My meal count before 092403?"),
    ("I can't come to 2.5.3.8.1.", "I can't come to 0.2.5.3.8.1."),  # "to" may be a two
    ("That's 9, 5, 1, 6, 3.", "That's 0, 9, 5, 1, 6, 3."),  # a contraction's end is no word
])
def test_a_word_that_may_be_a_digit_is_not_weighed_as_an_oh(text: str, made: str) -> None:
    assert lead_oh_candidates(text, _six_digits)[0] == [made]


def test_no_oh_is_tried_where_it_would_not_make_a_whole_value() -> None:
    assert lead_oh_candidates("My account number is 3, 6, 4, 5.", _six_digits) == ([], [
        "My account number is three, six, four, five."], [])
    assert lead_oh_candidates("I'd like to know my balance.", _six_digits)[0] == []


def test_an_oh_is_read_back_in_only_within_the_margin_and_above_an_eight_there() -> None:
    text = "My account number is more 3, 6, 4, 5, 8."
    made, _, places = lead_oh_candidates(text, _six_digits)
    before, instead = made
    # scores: as written, "oh" before the run, "eight" before it, "oh" for "more"
    assert read_lead_oh(text, made, places, [-30.0, -34.0, -40.0, -32.0], -7.0) == instead
    assert read_lead_oh(text, made, places, [-30.0, -34.0, -40.0, -38.0], -7.0) == before
    assert read_lead_oh(text, made, places, [-30.0, -34.0, -33.0, -38.0], -7.0) == text  # 8
    assert read_lead_oh(text, made, places, [-30.0, -37.5, -40.0, -38.0], -7.0) == text
    assert read_lead_oh(text, made, places, [], -7.0) == text  # no scores


@pytest.mark.parametrize(("text", "words", "readings"), [
    ("Account number 4-1-0-I-28.", ["I"], ["Account number four, one, zero, nine, two, eight.",
                                          "Account number four, one, zero, five, two, eight."]),
    ("It's two, eight, oh, three, one, I'm...", ["I'm"],
     ["It's two, eight, oh, three, one, nine...", "It's two, eight, oh, three, one, five..."]),
    ("Account number O. I. 2. I. 8. 7.", ["I", "I"], [
        "Account number O. nine, two. I. eight, seven.",
        "Account number O. five, two. I. eight, seven.",
        "Account number O. I. two, nine, eight, seven.",
        "Account number O. I. two, five, eight, seven."]),
    # the pronoun, away from digits
    ("I think it is 4, 5, 6, and I'm sure.", [], []),
    ("Hi, I'm calling about 4 bills.", [], []),
    ("It's 4, 5, 6. I think so.", [], []),  # a pronoun after a number, a word after it
])
def test_an_i_beside_digits_is_weighed_as_a_nine_and_as_a_five(
        text: str, words: list[str], readings: list[str]) -> None:
    spans, got = five_candidates(text)
    assert [text[a:b] for a, b in spans] == words
    assert got == readings


def test_an_i_is_written_5_only_where_five_scored_above_nine() -> None:
    text = "Account number O. I. 2. I. 8. 7."
    spans = five_candidates(text)[0]
    assert read_fives(text, spans, [-30.0, -27.0, -25.0, -29.0], 0.0) == \
        "Account number O. 5. 2. I. 8. 7."
    assert read_fives(text, spans, [-30.0, -31.0, -29.0, -28.0], 0.0) == \
        "Account number O. I. 2. 5. 8. 7."
    assert read_fives(text, spans, [-30.0, -30.0, -29.0, -31.0], 0.0) == text  # a tie: nine
    assert read_fives(text, spans, [], 0.0) == text  # no scores


@pytest.mark.parametrize(("text", "fors", "readings"), [
    # a meter reading said "oh, one, nine, six, five" (a generated utility call)
    ("The reading is for 1, 9, 6, 5.", [0],
     ["The reading is for, one, nine, six, five.", "The reading is oh, one, nine, six, five."]),
    ("It's 4 2, and for 3 5 7 6.", [2],
     ["It's four, two, and for, three, five, seven, six.",
      "It's four, two, and oh, three, five, seven, six."]),
    # further into a run, or before too few digits, or not before digits: not weighed
    ("It's 3 for 6997-0.", [], []),
    ("It's for 3.", [], []),
    ("I'm calling for my bill.", [], []),
])
def test_a_for_that_begins_a_run_is_weighed_as_an_oh(text: str, fors: list[int],
                                                     readings: list[str]) -> None:
    assert lead_for_candidates(text) == (fors, readings)


def test_a_for_is_written_oh_only_where_its_oh_reading_scored_within_the_margin() -> None:
    text = "The reading is for 1, 9, 6, 5."
    plan = lead_for_plan(text, "base", 24_000)
    assert plan is not None and len(plan.readings) == 2
    assert plan.read([-20.0, -24.0]) == "The reading is oh 1, 9, 6, 5."
    assert plan.read([-20.0, -25.0]) == text  # 5 below: a four
    assert lead_for_plan(text, "tiny.en", 24_000) is None  # no margin measured for it
    assert lead_for_plan(text, "base", 8_000) is None  # a telephone line: not weighed
