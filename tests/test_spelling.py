"""Typo correction before matching: surely-misspelt subject words are fixed from the bank's own words; real
words, names and acronyms the bank does not use are left as typed."""

from __future__ import annotations

import pytest

from dlgrader.spelling import Speller, edits1, english_words

BANK_WORDS = ("Gradient descent updates the weights. Stochastic gradient descent uses one example. "
              "Gradient descent follows the negative gradient. " * 4
              + "Dropout regularization switches off neurons. Backpropagation computes gradients. "
              "A neural network learns. The exponential linear unit ELU. Normalization of activations. "
              "Training minimises the loss. Tokenizers split text. Overfitting memorises noise.")


@pytest.fixture(scope="module")
def speller() -> Speller:
    return Speller([BANK_WORDS])


@pytest.mark.parametrize(("typed", "fixed"), [
    ("what is droput", "what is dropout"),  # transposition
    ("How does backpropogation work?", "How does backpropagation work?"),  # substitution
    ("Explain gradiant decent", "Explain gradient descent"),  # a real word misspelling a term's second word
    ("what is a nueral network", "what is a neural network"),
    ("Regularizaton?", "Regularization?"),  # capitalised: the fix keeps the capital
    ("why overfiting happens", "why overfitting happens"),  # the same ending on both is not an inflection
])
def test_typos_of_bank_words_are_fixed(speller: Speller, typed: str, fixed: str) -> None:
    assert speller.correct(typed) == fixed


@pytest.mark.parametrize("typed", [
    "What is SELU?",  # an acronym one letter from "ELU": another activation, not a typo
    "How does Nesterov momentum work?",  # a name the bank does not know
    "What does a router do in a mixture of experts?",  # an English word one edit from nothing in the bank
    "the model became better",  # real words stay
    "what is a tokenizer",  # not "tokenised" or any other ending of a bank word
    "How do you avoid a decent into overfitting?",  # "decent" is fixed only right after "gradient"
    "BERT maximises the likelihood",  # British, and two edits from "minimises": meaning would flip
    "how the model tokenizes text",  # another ending of "tokenizers", not a typo of it
])
def test_real_words_names_and_acronyms_stay(speller: Speller, typed: str) -> None:
    assert speller.correct(typed) == typed


def test_edits_and_word_list() -> None:
    assert {"dropout", "drput", "droputs", "drooput"} <= edits1("droput")
    words = english_words()
    assert len(words) > 100_000 and "router" in words and "droput" not in words


@pytest.mark.parametrize(("asked", "expected"), [
    ("wat is droput and why does it help", "dropout"),
    ("explian the vanishing gradiant problem", "vanishing_gradient"),
])
def test_a_misspelt_question_is_matched(grader, asked: str, expected: str) -> None:  # type: ignore[no-untyped-def]
    match = grader.match_question(asked)
    assert match.question is not None and match.question.id == expected
