"""Grading several answers with one embedder call gives the grades of grading them one by one.

On the real models, as served: the ONNX embedder (float32, so a text's vector does not depend
on the texts batched with it beyond float noise) and the entailment judge, which reads its
pairs one at a time.
"""

from __future__ import annotations

import threading

import numpy as np
import pytest

from bot.core import grade as g
from bot.core.features import answer_texts
from bot.core.markup import clean
from bot.core.scoring import Grader

# Real bank questions with written key points, each answered several ways.
QUESTION_IDS = 4



@pytest.fixture(scope="module")
def questions(corpus):
    picked = [q for q in corpus if not q.is_choice and q.key_points][:QUESTION_IDS]
    assert len(picked) == QUESTION_IDS
    return picked


def answers_to(question) -> list[str]:
    points = question.key_points
    return [
        question.reference_answer,  # strong
        " ".join(points[:2]),  # partial: two of the points
        f"I would not do this: {points[0][0].lower()}{points[0][1:]}",  # against a point
        "Use a bigger instance type and train for more epochs.",  # about something else
        "asdf qwerty zxcv lkjh",  # gibberish
        "   ",  # empty
        " ".join([question.reference_answer] * 3),  # long: in windows
    ]


def test_a_text_s_vector_does_not_depend_on_its_batch_mates(onnx_embedder, questions):
    texts = [t for q in questions for t in answers_to(q) if t.strip()]
    texts += ["Encrypt it.", "Block public access to the bucket and log reads with CloudTrail."]
    together = onnx_embedder.encode(texts)
    for text, vector in zip(texts, together, strict=True):
        alone = onnx_embedder.encode([text])[0]
        cosine = float(alone @ vector / np.linalg.norm(alone) / np.linalg.norm(vector))
        assert cosine >= 0.99999, (text[:60], cosine)


def test_grade_many_gives_the_grades_of_one_by_one_with_one_encoder_call(
        onnx_embedder, judge, questions, counting_embedder):
    counting = counting_embedder(onnx_embedder)
    grader = Grader(counting, judge=judge, bank=questions)
    items = [(q, a) for q in questions for a in answers_to(q)]
    alone = [grader.grade(q, a) for q, a in items]  # also prepares every reference side

    counting.calls.clear()
    together = grader.grade_many(items)
    assert together == alone  # score, band, points made, missed and contradicted, flag, text
    # One call for the pieces of every answer, and none per answer.
    assert len(counting.calls) == 1, [len(c) for c in counting.calls]
    pieces = {p for _, a in items for p in sum(answer_texts(counting, clean(a) or "-"), [])}
    assert pieces <= set(counting.calls[0])
    # The answers cover the bands the rubric gives, so this compared more than one path.
    assert {r.band for r in alone} >= {g.STRONG, g.OFF_TOPIC}
    assert {r.flag for r in alone} >= {None, g.EMPTY, g.GIBBERISH}


def test_grade_many_prepares_the_missing_reference_sides_in_one_call(onnx_embedder, judge,
                                                                   questions):
    from bot.embeddings import OnnxEmbedder

    fresh = OnnxEmbedder()  # an empty vector cache: nothing of the bank encoded yet
    calls: list[int] = []
    real_encode = fresh.encode

    def encode(texts):  # every call that reaches the model, the cache's misses included
        calls.append(len(texts))
        return real_encode(texts)

    fresh.encode = encode
    grader = Grader(fresh, judge=judge)
    items = [(q, q.reference_answer) for q in questions]
    assert grader.grade_many(items) == [Grader(onnx_embedder, judge=judge).grade(q, a)
                                        for q, a in items]
    # The reference sides of all four questions in one call, the answers in one more.
    assert len(calls) == 2, calls


def test_prefetched_vectors_belong_to_the_thread_that_encoded_them(onnx_embedder, judge,
                                                                  questions, counting_embedder):
    counting = counting_embedder(onnx_embedder)
    grader = Grader(counting, judge=judge, bank=questions)
    question = questions[0]
    grader.prepare_references([question])
    answer = " ".join(question.key_points[:2])
    expected = grader.grade(question, answer)
    inside = threading.Event()
    done = threading.Event()
    seen = {}

    def other_thread():
        inside.wait(10)
        before = len(counting.calls)
        seen["grade"] = grader.grade(question, answer)
        # This thread found none of the other thread's vectors: it encoded its own.
        seen["encoded"] = len(counting.calls) > before
        done.set()

    worker = threading.Thread(target=other_thread)
    worker.start()
    with grader.prefetched([answer]):  # this thread's vectors, not the other's
        inside.set()
        assert done.wait(60)
    worker.join()
    assert seen == {"grade": expected, "encoded": True}
