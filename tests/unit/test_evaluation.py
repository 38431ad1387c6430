"""The bench's measure of linking: a platform duplicate counts as the business it copies."""

from __future__ import annotations

from sandbox.evaluation import quality
from sandbox.generator import generate

LABELS = {"A": "link", "B": "link", "C": "conflict", "D": "near_miss"}


def test_a_clean_duplicate_linking_for_its_invalid_original_is_a_correct_link():
    # A was made messy after it was copied: it is invalid, and its twin A2 links to the row typed by hand.
    rows = [("A", "invalid", "invalid"), ("A2", "linked", None), ("B", "linked", None),
            ("C", "held", "double_entry_mismatch")]
    q = quality(rows, LABELS, {"A2": "A"})
    assert (q.linked, q.correct, q.precision, q.recall) == (2, 2, 1.0, 1.0)
    assert q.mismatches_held == 1 and q.near_misses_linked == 0
    without = quality(rows, LABELS, {})  # as the bench counted before: a wrong link, and a link missed
    assert (without.correct, without.precision, without.recall) == (1, 0.5, 0.5)


def test_both_submissions_linking_to_one_business_is_one_wrong_link():
    rows = [("A", "linked", None), ("A2", "linked", None), ("D2", "linked", None)]
    q = quality(rows, LABELS, {"A2": "A", "D2": "D"})
    assert (q.linked, q.correct) == (3, 1)
    assert q.near_misses_linked == 1  # a duplicate of a near miss must not link either


def test_the_generator_names_each_duplicate_and_what_it_copies():
    scenario = generate(2000, seed=5, messy_share=0.5, double_share=0.3, existing=200)
    twins = scenario["twins"]
    assert twins and set(twins) == {k for k, v in scenario["messes"].items() if v == "platform_duplicate"}
    ids = {t["txn_id"] for t in scenario["transactions"]}
    assert set(twins) <= ids and set(twins.values()) <= ids
