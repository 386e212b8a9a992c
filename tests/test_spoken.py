"""Spoken-form normalisation, strict: the standard spoken forms of a value (number words, "oh",
double/triple, letters and the NATO alphabet, dash, at/dot) become one compact value; a
recogniser's homophones do not (they are the local agent's, tests/agent/test_repairs.py)."""

import pytest

from harness.spoken import (
    find_readbacks,
    normalize_value,
    spoken_to_compact,
    to_spoken,
    values_equal,
)


@pytest.mark.parametrize(
    ("spoken", "compact"),
    [
        ("8, 3, 5, 2, 1.", "83521"),
        ("Eight three five two one.", "83521"),
        ("Eight, three, five, two, one.", "83521"),
        ("eight-three-five", "835"),
        ("83521", "83521"),
        ("835 21", "83521"),
        ("A-B-1-2", "ab12"),
        ("A B dash one two", "ab-12"),
        ("Alpha Bravo dash one two", "ab-12"),
        ("alpha bravo hyphen 12", "ab-12"),
        ("AB-1234", "ab-1234"),
        ("ORD-3125B23", "ord-3125b23"),
        ("john dot doe at example dot com", "john.doe@example.com"),
        ("John.Doe@Example.com", "john.doe@example.com"),
        ("J-O-H-N at example.com", "john@example.com"),
        ("j underscore doe at mail dot example dot org", "j_doe@mail.example.org"),
        ("eighty three", "83"),
        ("one twenty three", "123"),
        ("one nineteen", "119"),
        ("ninety nine eleven", "9911"),
        ("nine thousand nine hundred eleven", "9911"),
        ("one hundred and five", "105"),
        ("twenty-three", "23"),
        ("double five", "55"),
        ("double 5 1", "551"),
        ("triple oh", "000"),
        ("eight oh five", "805"),
        ("zero zero seven", "007"),
        ("x-ray yankee zulu", "xyz"),
        ("um, eight, uh, three", "83"),
        ("", ""),
    ],
)
def test_spoken_to_compact(spoken: str, compact: str) -> None:
    assert spoken_to_compact(spoken) == compact


@pytest.mark.parametrize(
    ("value", "normal"),
    [
        ("83521", "83521"),
        (83521, "83521"),
        (83521.0, "83521"),
        ("AB-1234", "ab-1234"),
        ("  ab-1234. ", "ab-1234"),
        ("A B dash one two", "ab-12"),
        ("john.doe@example.com", "john.doe@example.com"),
        (None, ""),
        (True, "true"),
    ],
)
def test_normalize_value(value: object, normal: str) -> None:
    assert normalize_value(value) == normal


def test_values_equal_across_spoken_and_compact_forms() -> None:
    assert values_equal("8, 3, 5, 2, 1.", "83521")
    assert values_equal("Alpha Bravo dash one two", "AB-12")
    assert values_equal("john dot doe at example dot com", "John.Doe@example.com")
    assert values_equal(83521, "eight three five two one")
    assert not values_equal("83521", "83571")
    # A spoken dash is part of the value.
    assert not values_equal("AB-12", "AB12")
    assert not values_equal("john.doe@example.com", "johndoe@example.com")


@pytest.mark.parametrize(
    ("sentence", "values"),
    [
        ("Just to confirm, that's eight, three, five, two, one, correct?", ["83521"]),
        ("Just to confirm, I heard 8… 3… 5… 2… 1. Is that right?", ["83521"]),
        ("Just to confirm, I heard 8... 3... 5... 2... 1. Is that right?", ["83521"]),
        ("Got it. I have eight, three, five, seven, one. Is that correct?", ["83571"]),
        ("Just to confirm, that is john dot doe at example dot com, right?",
         ["john.doe@example.com"]),
        ("Just to confirm, that is c-h-e-n at example dot com, right?", ["chen@example.com"]),
        ("My email is john.doe@example.com.", ["john.doe@example.com"]),
        ("J.O.H.N. dot D.O.E. at example.com.", ["john.doe@example.com"]),
        ("J-O-H-N dot D-O-E at example.com.", ["john.doe@example.com"]),
        ("J O H N dot D O E at example dot com.", ["john.doe@example.com"]),
        ("Just to confirm, that is J, O, H, N dot D, O, E at example dot com. Go ahead?",
         ["john.doe@example.com"]),
        ("I am at home. Check in at nine.", []),
        ("That's A, B, dash, one, two. Right?", ["ab-12"]),
        # "A" and "I" spelled side by side are letters, as either is beside another letter
        ("The new email is A, I, O, O at mail.com.", ["aioo@mail.com"]),
        ("A, I, O, O at mail dot com.", ["aioo@mail.com"]),
        ("Your reference is ORD-3125B23.", ["ord-3125b23"]),
        ("I want to cancel order 83521 please.", ["83521"]),
        ("It's eight, three, five...", ["835"]),
        ("Eight three five two four.", ["83524"]),
        ("Order 83521 and order 44120.", ["83521", "44120"]),
        ("Oh, it is 8 3 5 2 1.", ["83521"]),
        # "oh" before digits said one by one is their first digit, commas or not
        ("Just to confirm, oh, one, five, seven, two, eight.", ["015728"]),
        ("My account number is oh one five seven two eight.", ["015728"]),
        # Not read-backs: short numbers, homophones in prose, articles, fillers.
        ("My order number is, um", []),
        ("I have two orders.", []),
        ("It should arrive April 25.", []),
        ("I want to talk to a human.", []),
        ("Let me check that for you.", []),
        ("One moment.", []),
        ("I'll look at that for you.", []),
        ("", []),
    ],
)
def test_find_readbacks(sentence: str, values: list[str]) -> None:
    assert find_readbacks(sentence) == values


@pytest.mark.parametrize(
    "value", ["83521", "AB-12", "ORD-3125B23", "a1b2", "john.doe@example.com", "j_doe@mail.org",
              "aio-7"]
)
def test_to_spoken_round_trips_through_find_readbacks(value: str) -> None:
    for spoken in (to_spoken(value), to_spoken(value, numerals=True)):
        assert find_readbacks(f"Just to confirm, that's {spoken}. Is that right?") == [
            normalize_value(value)]
        assert values_equal(spoken, value)


def test_to_spoken_says_digits_one_by_one() -> None:
    assert to_spoken("83521") == "eight, three, five, two, one"
    assert to_spoken("AB-12") == "A, B dash one, two"
    assert to_spoken("AB-12", numerals=True) == "A, B dash 1, 2"
    assert to_spoken("john.doe@example.com", spell_local_part=True) == (
        "J, O, H, N dot D, O, E at example dot com")


@pytest.mark.parametrize("value", ["john.doe@example.com", "j_doe2@mail.example.org"])
def test_spelled_email_round_trips(value: str) -> None:
    spoken = to_spoken(value, spell_local_part=True)
    assert find_readbacks(f"Just to confirm, that is {spoken}. Should I go ahead?") == [value]


@pytest.mark.parametrize(("sentence", "values"), [
    # a recogniser's homophones are words to the strict reading, wherever they stand
    ("For 7 1 9 0 2 6.", ["719026"]),
    ("It's ate 3 5 2 1", ["3521"]),
    ("The order number is made 3,5,2,1.", ["3521"]),
    ("The order number is made three, five, two, one.", ["3521"]),
    ("eight three five to one", ["835", "1"]),
    ("I'm calling for my order.", []),
    ("I made 2 orders", ["2"]),
    # "oh", double/triple, grouped numbers
    ("Two, oh, four, eight.", ["2048"]),
    ("double five, triple oh, two", ["550002"]),
    ("Oh, one, five.", ["015"]),
    # the word: an "oh" before a word, one digit, or a number said as a number
    ("Oh, thanks. One, five.", ["15"]),
    ("Oh, five would be great.", ["5"]),
    ("Oh, 12 is fine.", ["12"]),
    ("It is eighty-three, fifty-two, seven.", ["83527"]),
    ("eighty three fifty two", ["8352"]),
])
def test_spoken_digits_in_and_out_of_digit_context(sentence: str, values: list[str]) -> None:
    assert find_readbacks(sentence, min_chars=1) == values


def test_the_strict_reading_refuses_made_and_accepts_the_digits_said() -> None:
    assert not values_equal("made 3 5 2 1", "83521")
    assert find_readbacks("I made 3, 5 changes") == []
    assert values_equal("eight, three, five, two, one", "83521")
    assert find_readbacks("Just to confirm, that's eight, three, five, two, one?") == ["83521"]


def test_values_sound_alike_only_through_words_pronounced_the_same() -> None:
    """For read-backs the harness's recogniser wrote: "male" and "mail" are one sound in
    eSpeak NG's lexicon; "meal", another digit, another spelled letter or "made" for "eight"
    are not."""
    from harness.spoken import normalize_value, sound_alike

    assert sound_alike(normalize_value("john at male dot com"), "john@mail.com")
    assert not sound_alike(normalize_value("john at meal dot com"), "john@mail.com")
    assert not sound_alike("joan@mail.com", "john@mail.com")
    assert sound_alike("jon@mail.com", "john@mail.com")  # said as words, one sound
    assert not sound_alike("83527", "83521")
    assert not sound_alike("ab-12", "ad-12")
    assert not sound_alike(normalize_value("made 3 5 2 1"), "83521")
