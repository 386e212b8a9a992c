"""Slot kinds of the local agent: what each hears in a caller's words, complete or partial."""

from __future__ import annotations

import pytest

from harness.agent.profile import SlotSpec
from harness.agent.slots import correction, extract, spoken_value


def spec(kind: str, **extra: object) -> SlotSpec:
    return SlotSpec.model_validate({"kind": kind, "label": kind, "prompt": "?",
                                    "partial_prompt": "?", "unclear_prompt": "?", **extra})


@pytest.mark.parametrize(("text", "status", "value"), [
    ("My patient number is for 7-1-9-0-2-6.", "ok", "4719026"),
    ("It's four, seven, one, nine, oh, two, six.", "ok", "4719026"),
    ("471-9026", "ok", "4719026"),
    ("four seven one", "partial", "471"),  # too short: the rest may follow
    # "oh" written as the letter among digits (a generated utility call): a zero
    ("The account number is 4, 7, 1, 9, o, 2, 6.", "ok", "4719026"),
    ("O 4, 7, 1, 9, 2, 6", "ok", "0471926"),
    ("I'd like to check my appointment.", "none", None),
])
def test_digit_ids_of_a_given_length(text: str, status: str, value: str | None) -> None:
    got = extract(spec("digits", min_length=7, max_length=7), text, asked=True)
    assert (got.status, got.value) == (status, value)


@pytest.mark.parametrize(("text", "value"), [
    ("Your my order number is 8, 7, 4. The 0, 1, 9.", "874019"),
    ("A my patient number is 9-074. Then 4-8-2.", "9074482"),
    ("It is 8 3 5, um, and then 2 1", "83521"),
])
def test_a_word_between_two_breaths_of_a_number_does_not_split_it(text: str, value: str) -> None:
    """Generated calls: the recogniser wrote a word where the caller only paused."""
    got = extract(spec("digits", min_length=len(value), max_length=len(value)), text, asked=True)
    assert (got.status, got.value) == ("ok", value)
    # where the digits fit as heard, they are kept as heard
    assert extract(spec("digits", min_length=3, max_length=3), "It's 8 3 5, then 2 1",
                   asked=True).value == "835"


@pytest.mark.parametrize(("text", "status", "value"), [
    # the run's first digit written as a word (generated calls of the clinic and utility line)
    ("Oh, sorry, that's my old one. It's a 3-1-025.", "ok", "831025"),
    ("Oh, sorry, that's my old one. It's i5-7-2-4-8.", "ok", "957248"),
    ("Sorry, it's free 790261.", "ok", "3790261"),
    ("No, the last digit is wrong. It's I'm 471926.", "ok", "9471926"),
    ("It's account file 8.9. 6 4 2 1", "ok", "5896421"),
    ("Oh, sorry, that's my old one. It's fine. 6, 0, 9, 1, 4.", "ok", "560914"),
    ("The account number is all 1 9 3 6 7", "ok", "019367"),
    ("My account number is i in 3, 2, 7, 1, 6.", "ok", "932716"),
    ("My account number is in 8, 1, 6, 2, 3.", "ok", "981623"),
    # the first digit run into "account" before it (generated utility calls)
    ("It's a counter 5 1 7 4 2", "ok", "051742"),
    ("It's a counter-8-2-4-7-6.", "ok", "082476"),
    ("It's a countate, oh, six, one, nine, three.", "ok", "806193"),
    ("It's a counter to 3-7-8-6.", "ok", "023786"),  # the next digit written "to"
    ("It's a count date for 3 6 5 0.", "ok", "843650"),
    # the run's next digit an "oh" written as the letter (a generated utility call)
    ("Hello, I want to give a meager reading. My account number is I-O-6-8-7-5.", "ok",
     "906875"),
    # letters joined to the digits (a generated clinic call)
    ("This is RE-7-9-8-2453.", "ok", "7982453"),
    # only where no value fits: a whole value keeps its digits, a word far from digits its word
    ("It's for 831025.", "ok", "831025"),
    ("I'm calling for my account, 3-1-025.", "partial", "3-1-025"),
    ("a 3 1", "partial", "31"),  # still short with it: the digits heard are the partial
    ("That's all 4 9 3 6 7 2", "ok", "493672"),
    ("I live in 4 9 3 6 7 2", "ok", "493672"),
    ("The counter reads 4 9 3 6 7 2", "ok", "493672"),
])
def test_a_digit_written_as_a_word_at_a_runs_start_completes_it(text: str, status: str,
                                                                value: str) -> None:
    length = len(value) if status == "ok" else 6
    got = extract(spec("digits", min_length=length, max_length=length), text, asked=True)
    assert (got.status, got.value) == (status, value)


@pytest.mark.parametrize(("text", "length", "value"), [
    # one digit written twice by the recogniser (generated calls of the three domains)
    ("I want to check an order. The order number is 254988.", 5, "25498"),
    ("My account number is 1285466.", 6, "128546"),
    ("My patient number is 48352899.", 7, "4835289"),
    ("It's 647-889.", 5, "64789"),
    # after a digit word that makes digits which fit one too long
    ("It's account file 922860.", 6, "592860"),
    ("It's account file 899642.", 6, "589642"),
    ("No, the last digit is wrong. It said 372400.", 6, "837240"),
])
def test_a_digit_the_recogniser_wrote_twice_is_read_once(text: str, length: int,
                                                         value: str) -> None:
    got = extract(spec("digits", min_length=length, max_length=length), text, asked=True)
    assert (got.status, got.value) == ("ok", value)


@pytest.mark.parametrize(("text", "length", "status", "value"), [
    # digits that fit keep every digit, a double included, after a word a caller says there
    ("It's a 599642.", 6, "ok", "599642"),
    ("It's for 599642.", 6, "ok", "599642"),
    ("It's 599642.", 6, "ok", "599642"),
    # a digit word before digits that fit, none of them written twice
    ("It's account file 923861.", 6, "ok", "923861"),
    # three of a digit, or two digits written twice: no one digit to read once
    ("The order number is 1-888-90.", 5, "partial", "1-888-90"),
    ("The order number is 255988.", 5, "partial", "255988"),
    # two digits too many
    ("The order number is 2549888.", 5, "partial", "2549888"),
    # "said" is a digit only as "it's eight" misheard, not in a caller's "you said"
    ("No, you said 8, 3, 5, 2.", 5, "partial", "8352"),
])
def test_only_one_digit_written_twice_in_a_run_one_too_long_is_read_once(
        text: str, length: int, status: str, value: str) -> None:
    got = extract(spec("digits", min_length=length, max_length=length), text, asked=True)
    assert (got.status, got.value) == (status, value)


def test_digit_ids_of_any_length() -> None:
    assert extract(spec("digits"), "It's 5, 0, 3, 8, 2, 1, 4, 6, 9, 7.", asked=False).value == (
        "5038214697")


@pytest.mark.parametrize(("text", "value"), [
    ("Alpha Bravo dash one two three", "AB-123"),
    ("It's K, X, dash, four, oh, seven, one.", "KX-4071"),
    ("KX-4071", "KX-4071"),
    # the recogniser's own punctuation inside the code, shaped again by the profile's rewrite
    ("The number is KX-40-7-1.", "KX-4071"),
    ("Number is K X-4 0.7-1", "KX-4071"),
])
def test_alphanumeric_ids(text: str, value: str) -> None:
    got = extract(spec("alphanumeric", upper=True, pattern=r"^[a-z]{2}-\d{3,4}$",
                       rewrites=[[r"^([a-z]{2})(\d+)$", r"\1-\2"]]), text, asked=True)
    assert (got.status, got.value) == ("ok", value)


def test_email_and_phone() -> None:
    email = extract(spec("email"), "It's j, o, h, n, at mail dot com.", asked=True)
    assert (email.status, email.value) == ("ok", "john@mail.com")
    phone = extract(spec("phone"), "Call me on oh seven seven oh oh, nine double oh one two three",
                    asked=True)
    assert (phone.status, phone.value) == ("ok", "07700900123")


@pytest.mark.parametrize(("text", "value"), [
    # over a telephone line the recogniser writes "at mail dot com" as "at male.com"
    ("A new email is J-O-H-N at male.com.", "john@mail.com"),
    ("It's j, o, h, n, at gmale dot com.", "john@gmail.com"),
    ("It's j, o, h, n, at hotmale dot com.", "john@hotmail.com"),
    # only the domain's first label is a provider's name; the local part stays as heard
    ("male.order@male.co.uk", "male.order@mail.co.uk"),
    ("It's j, o, h, n, at example dot com.", "john@example.com"),
    # "j, o, h, n" spoken by a Kokoro voice, written with its last letters as one word
    ("The new email is J OHN at mail.com", "john@mail.com"),
    ("The new email is J-OHN at mail.com.", "john@mail.com"),
    ("The new email is J, O HN at mail dot com.", "john@mail.com"),
    # the same with the single letters lower case, or the run's first letter (generated calls)
    ("The new email is x. JCO at mail.com.", "xjco@mail.com"),
    ("The new email is a HCO at mail.com.", "ahco@mail.com"),
    ("The new email is g, kOH at mail.com.", "gkoh@mail.com"),
    # a name said as a word stays the word
    ("The new email is John at mail.com", "john@mail.com"),
    ("It's Mary at example dot com.", "mary@example.com"),
    ("It's a Bob at example dot com.", "bob@example.com"),
])
def test_an_email_is_read_as_the_caller_meant_it(text: str, value: str) -> None:
    got = extract(spec("email"), text, asked=True)
    assert (got.status, got.value) == ("ok", value)


@pytest.mark.parametrize(("text", "status", "value"), [
    ("My date of birth is the fourth of March, nineteen eighty five.", "ok", "1985-03-04"),
    ("March 4th, 1985", "ok", "1985-03-04"),
    ("4 March 1985.", "ok", "1985-03-04"),
    ("My date on birth is 4th on March 1985.", "ok", "1985-03-04"),
    ("It's the twenty first of June two thousand and three", "ok", "2003-06-21"),
    ("1985-03-04", "ok", "1985-03-04"),
    ("The fourth of March.", "partial", None),  # the year is still missing
    ("Yes, that's right.", "none", None),
])
def test_dates(text: str, status: str, value: str | None) -> None:
    got = extract(spec("date"), text, asked=True)
    assert (got.status, got.value) == (status, value)
    assert spoken_value(spec("date"), "1985-03-04") == "March 4, 1985"


def test_names_and_free_text_only_when_asked() -> None:
    name = spec("name")
    assert extract(name, "My name is Jane Smith.", asked=True).value == "Jane Smith"
    assert extract(name, "Yes, it's Ada Lovelace, thanks", asked=True).value == "Ada Lovelace"
    assert extract(name, "S, M, I, T, H", asked=True).value == "Smith"
    assert extract(name, "My name is Jane Smith.", asked=False).status == "none"
    text = spec("text")
    assert extract(text, "Um, the blue one on the left.", asked=True).value == (
        "the blue one on the left")
    assert extract(text, "anything", asked=False).status == "none"


def test_a_correction_changes_one_position() -> None:
    got = correction(spec("digits", min_length=7, max_length=7), "4719026",
                     "the last digit is eight", "The last digit is eight.")
    assert (got.status, got.value) == ("ok", "4719028")
