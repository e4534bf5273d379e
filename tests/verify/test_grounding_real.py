"""Grounding with the ICDAR 2015 word boxes, including the word that appears twice."""

from __future__ import annotations

import itertools
import json

from hypothesis import given, settings
from hypothesis import strategies as st

from verl_difficulty.verify import VerifySettings, check_grounding, compute_score
from verl_difficulty.verify.grounding import MAX_BOXES, hungarian_max, iou, match_boxes, parse_boxes

S = VerifySettings()


def r1(answer: str) -> str:
    return f"<think>The word is near the top.</think><answer>{answer}</answer>"


def _shift(box, dx):
    return [box[0] + dx, box[1], box[2] + dx, box[3]]


def _formats(boxes):
    """Ways a model writes the same boxes."""
    ints = [[round(c) for c in b] for b in boxes]
    return [
        json.dumps(ints),
        json.dumps([{"bbox_2d": b, "label": "word"} for b in ints]),
        "```json\n" + json.dumps([{"bbox_2d": b, "label": "word"} for b in ints], indent=2) + "\n```",
        str([{"bbox_2d": b} for b in ints]),  # Python repr, single quotes
        " and ".join(str(b) for b in ints),
    ]


def test_every_icdar_word_matches_its_boxes(icdar_words):
    assert len(icdar_words) == 20  # 21 legible words, "fusionopolis" twice
    for (image, word), boxes in icdar_words.items():
        truth = json.dumps(boxes)
        for text in _formats(boxes):
            res = check_grounding(r1(text), truth, S)
            assert res.correct and res.score > 0.95, (image, word, text)


def test_fusionopolis_needs_both_boxes(icdar_words):
    boxes = icdar_words[("gt_img_3", "fusionopolis")]
    assert len(boxes) == 2
    truth = json.dumps(boxes)
    for one in boxes:
        res = check_grounding(r1(json.dumps([one])), truth, S)
        assert not res.correct
        assert 0.3 < res.score < 0.7  # the area-weighted mean of 1.0 and a missed box
    both = check_grounding(r1(json.dumps(boxes[::-1])), truth, S)
    assert both.correct and both.score == 1.0
    # With only the mean required, the larger box alone (63% of the area) passes at 0.5.
    loose = VerifySettings(grounding_match_all=False)
    assert check_grounding(r1(json.dumps([boxes[0]])), truth, loose).correct
    assert not check_grounding(r1(json.dumps([boxes[1]])), truth, loose).correct


def test_a_box_for_the_wrong_instance_twice_is_not_enough(icdar_words):
    boxes = icdar_words[("gt_img_3", "fusionopolis")]
    res = check_grounding(r1(json.dumps([boxes[0], boxes[0]])), json.dumps(boxes), S)
    assert not res.correct  # one-to-one: the duplicate cannot also match the second instance


def test_threshold_and_continuous_reward(icdar_words):
    box = icdar_words[("gt_img_1", "Genaxis Theatre")][0]
    width = box[2] - box[0]
    truth = json.dumps([box])
    near = _shift(box, width * 0.2)  # IoU = 0.8 / 1.2 = 0.667
    far = _shift(box, width * 0.6)  # IoU = 0.4 / 1.6 = 0.25
    res = check_grounding(r1(json.dumps([near])), truth, S)
    assert res.correct and abs(res.score - 0.8 / 1.2) < 1e-6
    res = check_grounding(r1(json.dumps([far])), truth, S)
    assert not res.correct and abs(res.score - 0.25) < 1e-6
    assert not check_grounding(r1(json.dumps([near])), truth, VerifySettings(iou_threshold=0.7)).correct
    info = {"task": "grounding"}
    out = compute_score("icdar2015", r1(json.dumps([near])), truth, info)
    assert out["score"] == out["iou"]  # default grounding reward: the continuous IoU
    assert abs(out["iou"] - 0.8 / 1.2) < 1e-6
    assert out["acc"] == 1.0
    out = compute_score("icdar2015", r1(json.dumps([far])), truth, info, grounding_reward="acc")
    assert (out["score"], out["acc"]) == (0.0, 0.0) and abs(out["iou"] - 0.25) < 1e-6


def test_extra_predicted_boxes_lower_the_mean(icdar_words):
    box = icdar_words[("gt_img_2", "EXIT")][0]
    truth = json.dumps([box])
    spurious = [900, 500, 1200, 700]  # much larger than the word
    res = check_grounding(r1(json.dumps([box, spurious])), truth, S)
    assert not res.correct and res.score < 0.1


def test_unparseable_and_too_many_boxes():
    truth = "[[0, 0, 10, 10]]"
    assert not check_grounding(r1("the top left corner"), truth, S).extracted
    spray = json.dumps([[0, 0, 10, 10]] * (MAX_BOXES + 1))
    res = check_grounding(r1(spray), truth, S)
    assert res.extracted and not res.correct and res.score == 0.0
    assert parse_boxes('{"bbox_2d": [1, 2, 3, 4]}') == [(1.0, 2.0, 3.0, 4.0)]
    assert parse_boxes("[1, 2, 3]") == []
    assert parse_boxes([[1, 2, 3, 4], [5, 6, 7, 8]]) == [(1, 2, 3, 4), (5, 6, 7, 8)]


boxes_st = st.lists(
    st.tuples(st.integers(0, 50), st.integers(0, 50), st.integers(1, 30), st.integers(1, 30)).map(
        lambda t: (float(t[0]), float(t[1]), float(t[0] + t[2]), float(t[1] + t[3]))
    ),
    min_size=1,
    max_size=5,
)


@settings(max_examples=60, deadline=None)
@given(pred=boxes_st, truth=boxes_st)
def test_hungarian_is_optimal(pred, truth):
    """The matching maximises the summed IoU: compare with brute force over all assignments."""
    ious = [[iou(t, p) for p in pred] for t in truth]
    assignment = hungarian_max(ious)
    used = [j for j in assignment if j >= 0]
    assert len(used) == len(set(used))
    got = sum(ious[i][j] for i, j in enumerate(assignment) if j >= 0)
    best = 0.0
    k = min(len(truth), len(pred))
    for rows in itertools.permutations(range(len(truth)), k):
        for cols in itertools.permutations(range(len(pred)), k):
            best = max(best, sum(ious[r][c] for r, c in zip(rows, cols)))
    assert abs(got - best) < 1e-9
    mean, per_truth = match_boxes(pred, truth)
    assert 0.0 <= mean <= 1.0 and len(per_truth) == len(truth)
