"""The grader on the real bundled model: bands for good and bad answers, the message for
each kind of answer that must not score well, choice items, markup and long answers."""

from __future__ import annotations

from dataclasses import replace

import pytest

from bot.core import grade as g
from bot.core.choice import unclear_choice_message
from bot.core.corpus import Question
from bot.core.scoring import CAPS, MESSAGES, Grader

COMMON = dict(domain="Modeling", task="3.1", mla_c01_task="2.1", mla_c02_task="2.1",
              topics=("x",),
              difficulty="medium", source="notes:practice-01")

S3 = Question(
    id="s3", type="open", **COMMON,
    prompt="Your team stores sensitive training data in an S3 bucket that SageMaker reads. "
           "How would you protect that data?",
    reference_answer=(
        "Encrypt the data at rest with SSE-KMS using a customer managed key, and enforce TLS "
        "for data in transit with a bucket policy. Grant the SageMaker execution role "
        "least-privilege IAM access to only that bucket and prefix. Block all public access on "
        "the bucket. Enable versioning so that deleted or overwritten objects can be recovered. "
        "Turn on CloudTrail data events to audit who reads the data."),
    key_points=(
        "Encrypt the data at rest with AWS KMS keys.",
        "Enforce encryption in transit (TLS) with a bucket policy.",
        "Give the SageMaker execution role least-privilege access to only the needed bucket.",
        "Block public access to the bucket.",
        "Enable versioning so that objects can be recovered.",
        "Audit access to the data with CloudTrail."),
)

OVERFIT = Question(
    id="overfit", type="open", **COMMON,
    prompt="Your model scores 99% accuracy on the training data but 70% on the validation "
           "data. What is happening and what would you do?",
    reference_answer=(
        "The model is overfitting: it memorises the training data and fails to generalise to "
        "new data. Add regularisation such as L1/L2 penalties or dropout, simplify the model or "
        "reduce the number of features, get more training data or use data augmentation, and "
        "use early stopping on the validation loss."),
    key_points=(
        "The gap between training and validation accuracy means the model is overfitting.",
        "Add regularization such as L1/L2 penalties or dropout.",
        "Reduce the model's complexity or the number of features.",
        "Add more training data or use data augmentation.",
        "Use early stopping based on the validation loss."),
)

SPOT = Question(
    id="spot", type="open", **COMMON,
    prompt="How can you cut the cost of long SageMaker training jobs without losing progress "
           "when capacity is reclaimed?",
    reference_answer=(
        "Use managed Spot training, which runs training jobs on spare EC2 capacity at a large "
        "discount. Because Spot capacity can be reclaimed, write checkpoints to Amazon S3 "
        "regularly so that an interrupted job resumes from the last checkpoint instead of "
        "starting over. Set the maximum wait time longer than the maximum run time so the job "
        "can wait for capacity."),
    key_points=(
        "Use managed Spot training to run on discounted spare capacity.",
        "Save checkpoints to S3 so that an interrupted job resumes where it stopped.",
        "Set the maximum wait time longer than the maximum run time."),
)

QUESTIONS = {"s3": S3, "overfit": OVERFIT, "spot": SPOT}


def judge_miss(reason: str):
    """A case the shipped judge and thresholds get wrong today (listed in docs/scoring.md,
    "Known misses"). Strict: the day it passes, the test says so and the mark comes off."""
    return pytest.mark.xfail(strict=True, reason=reason)


@pytest.fixture(scope="module")
def grader(embedder, judge):
    """The grader as the coach builds it: the entailment judge decides the key points."""
    return Grader(embedder, judge=judge, bank=QUESTIONS.values())


@pytest.mark.parametrize("qid, answer, bands", [
    ("s3", "I'd encrypt the bucket at rest using KMS customer managed keys and require TLS "
           "through the bucket policy. The SageMaker role only gets least-privilege permissions "
           "on that one bucket. I'd block public access, turn on versioning so we can restore "
           "overwritten files, and log access with CloudTrail.", {g.STRONG}),
    ("overfit", "It's overfitting. I'd add dropout or L2 regularization, use a simpler model "
                "with fewer features, collect more data or augment it, and stop training early "
                "when the validation loss stops improving.", {g.STRONG}),
    ("spot", "Use managed spot training for the discount, checkpoint to S3 so interrupted jobs "
             "resume, and set max wait above max run time.", {g.STRONG}),
    ("s3", "Encrypt it with KMS, block public access and give SageMaker a least-privilege "
           "role.", {g.PARTIAL}),
    ("spot", "Run the training on managed Spot capacity, which is much cheaper than "
             "on-demand.", {g.PARTIAL, g.WEAK}),
    ("overfit", "The model is overfitting, so I would add dropout.", {g.WEAK, g.PARTIAL}),
    ("s3", "Use a bigger instance type and train for more epochs.", {g.OFF_TOPIC, g.WEAK}),
    ("overfit", "Use Amazon S3 lifecycle rules to move old objects to Glacier.", {g.OFF_TOPIC}),
    ("spot", "I like pizza and long walks on the beach with my dog.", {g.OFF_TOPIC}),
])
def test_open_answers_land_in_the_expected_band(grader, qid, answer, bands):
    result = grader.grade(QUESTIONS[qid], answer)
    assert result.band in bands, (result.score, result.band, result.flag)
    assert result.gradable


def test_scores_order_full_above_partial_above_off_topic(grader):
    full = grader.grade(SPOT, "Use managed spot training for the discount, checkpoint to S3 so "
                              "interrupted jobs resume, and set max wait above max run time.")
    partial = grader.grade(SPOT, "Use managed spot training for the discount.")
    off = grader.grade(SPOT, "Rotate the IAM access keys every ninety days.")
    assert full.score > partial.score > off.score


@judge_miss("'block public access' inside a three-clause sentence: judge .06 < made .25, "
            "clause similarity .59 < sim_made .70; 2 of the 3 points are credited")
def test_points_are_judged_one_by_one(grader):
    result = grader.grade(S3, "Encrypt it with KMS, block public access and give SageMaker a "
                              "least-privilege role.")
    assert set(result.covered) == {S3.key_points[0], S3.key_points[2], S3.key_points[3]}
    assert set(result.missed) == set(S3.key_points) - set(result.covered)
    assert "3 of the 6 key points" in result.message


# The answers that must not score well: one table, one message each.
BAD = [
    ("s3", "", g.EMPTY),
    ("s3", "   \n\t ", g.EMPTY),
    ("spot", ":thinking_face: <@U024BE7LH>", g.EMPTY),
    ("s3", "encryption", g.TOO_SHORT),
    ("spot", "Use spot instances.", g.TOO_SHORT),
    ("overfit", "Overfitting.", g.TOO_SHORT),
    ("s3", "How would you protect sensitive training data in an S3 bucket that SageMaker reads?",
     g.ECHO),
    ("overfit", "The model scores 99% accuracy on the training data but 70% on the "
                "validation data.", g.ECHO),
    ("spot", "how can you cut the cost of long SageMaker training jobs without losing "
             "progress", g.ECHO),
    ("s3", "asdf qwer zxcv uiop hjkl", g.GIBBERISH),
    ("overfit", "lkjhg fdsa poiuyt mnbvc xzq", g.GIBBERISH),
    ("spot", "aaaaaaa bbbbbbb ccccccc", g.GIBBERISH),
    ("s3", "KMS, IAM, versioning, CloudTrail, TLS", g.KEYWORDS),
    ("overfit", "dropout, L2 regularization, early stopping, data augmentation", g.KEYWORDS),
    ("spot", "managed spot training checkpoints S3 max wait time", g.KEYWORDS),
    ("s3", "Never encrypt the bucket, it slows SageMaker down.", g.CONTRADICTION),
    ("s3", "Disable versioning on the bucket.", g.CONTRADICTION),
    ("s3", "Make the bucket public so SageMaker can read it, and disable versioning.",
     g.CONTRADICTION),
    ("s3", "Leave the training data unencrypted; encryption is not needed inside AWS.",
     g.CONTRADICTION),
    ("spot", "Never save checkpoints; restart interrupted jobs from scratch.", g.CONTRADICTION),
    # "write" is not "save": the old word-for-word negation check missed it, the judge does not.
    ("spot", "Do not write checkpoints; restart interrupted jobs from scratch.", g.CONTRADICTION),
    ("overfit", "The model is underfitting, so I would train a bigger model for longer.",
     g.CONTRADICTION),
]


@pytest.mark.parametrize("qid, answer, flag", BAD)
def test_answers_that_must_not_score_well_are_caught_with_their_own_message(
        grader, qid, answer, flag):
    result = grader.grade(QUESTIONS[qid], answer)
    assert result.flag == flag, (result.score, result.band, result.flag)
    assert result.band != g.STRONG
    assert result.band in (g.WEAK, g.OFF_TOPIC)
    if flag == g.CONTRADICTION:
        assert result.message.startswith(MESSAGES[g.CONTRADICTION].split("{")[0])
        assert any(point in result.message for point in QUESTIONS[qid].key_points)
    else:
        assert result.message == MESSAGES[flag]
    if flag in CAPS:
        assert result.score <= CAPS[flag]
    assert result.gradable == (flag != g.EMPTY)


def test_each_kind_of_bad_answer_has_a_message_of_its_own():
    kinds = {flag for _, _, flag in BAD}
    assert len({MESSAGES[k] for k in kinds}) == len(kinds)


@pytest.mark.parametrize("answer", [
    # A strong answer with one point reversed: never the top band.
    "I'd encrypt the bucket at rest using KMS keys and require TLS through the bucket policy. "
    "The SageMaker role only gets least-privilege permissions on that one bucket. I'd block "
    "public access and log access with CloudTrail, but I would disable versioning.",
    "Encrypt everything with KMS and enforce TLS. Give the role least privilege, block public "
    "access, enable versioning and audit with CloudTrail. Never encrypt the bucket though.",
])
def test_a_contradiction_never_lands_in_the_top_band(grader, answer):
    result = grader.grade(S3, answer)
    assert result.flag == g.CONTRADICTION
    assert result.band != g.STRONG


@pytest.mark.parametrize("qid, answer", [
    ("s3", "Do not make the bucket public: block public access, encrypt with KMS and never "
           "share the keys."),
    pytest.param("overfit", "It is not underfitting, it is overfitting: add dropout and stop "
                            "early on the validation loss.",
                 marks=judge_miss("the judge reads 'it is not underfitting' as contradicting "
                                  "the overfitting point (.92)")),
    ("spot", "Don't run on-demand: use managed spot training and checkpoint to S3 so nothing "
             "is lost."),
    pytest.param("s3", "You should not rely on the default settings alone; encrypt with KMS "
                       "and enforce TLS.",
                 marks=judge_miss("the judge reads 'you should not rely on the default "
                                  "settings alone' as contradicting both encryption points "
                                  "(.96, .96; in float .96, .95): an agreeing negation in "
                                  "instruction form; the judge shipped before passed it "
                                  "(.47 < .60)")),
])
def test_negations_that_agree_with_the_reference_are_not_contradictions(grader, qid, answer):
    assert grader.grade(QUESTIONS[qid], answer).flag is None


def test_slack_markup_does_not_change_the_grade(grader):
    plain = ("Use managed spot training for the discount, checkpoint to S3 so interrupted jobs "
             "resume, and set max wait above max run time.")
    marked = ("<@U024BE7LH> *Use managed spot training* for the discount :moneybag:, "
              "checkpoint to `S3` so interrupted jobs resume, and set _max wait_ above max run "
              "time. <https://docs.aws.amazon.com/sagemaker/latest/dg/model-managed-spot-"
              "training.html|docs>")
    assert grader.grade(SPOT, marked).score == pytest.approx(
        grader.grade(SPOT, plain).score, abs=3)


def test_a_point_made_past_the_model_window_still_counts(grader, embedder):
    filler = ("Cost matters a lot for our team and we review the monthly bill together with "
              "finance every few weeks to see where the money goes ") * 12
    answer = filler.strip() + ". Finally, set the maximum wait time longer than the maximum " \
        "run time."
    assert embedder.count_tokens(answer) > 256
    result = grader.grade(SPOT, answer)
    assert SPOT.key_points[2] in result.covered


def test_the_negation_check_leaves_alone_a_point_the_reference_itself_trips(embedder,
                                                                            corpus):
    """The reference says "throttled requests are not counted as Invocations"; the check reads
    that clause as negating the point "... which are not included in Invocations". An answer
    worded like the reference is not wrong; the other points are still checked."""
    from bot.core.features import analyse, prepare

    q = next(q for q in corpus if q.id == "genops-bedrock-runtime-cloudwatch-metrics")
    ref = prepare(embedder, q.prompt, q.reference_answer, q.key_points)
    assert ref.negated_by_itself == {3}
    like_the_reference = ("I would alarm on InvocationThrottles, because throttled requests are "
                          "not counted as Invocations.")
    assert analyse(embedder, ref, like_the_reference).contradicted == {}
    unanchored = replace(ref, negated_by_itself=frozenset())
    assert list(analyse(embedder, unanchored, like_the_reference).contradicted) == [3]
    wrong = "Bedrock does not publish its runtime metrics to CloudWatch."
    assert list(analyse(embedder, ref, wrong).contradicted) == [0]


# What an examiner would sign (issue: grades a learner can trust) --------------------------

@pytest.mark.parametrize("qid, answer", [
    pytest.param("s3", "Turn on S3 versioning for the bucket so an overwritten file can be "
                       "restored.",
                 marks=judge_miss("versioning point: judge .19 < .25, similarity .44 < .70, "
                                  "so no point is made and the answer is weak")),
    pytest.param("overfit", "Add dropout to the network.",
                 marks=judge_miss("dropout point: judge .03, similarity .47; with no point "
                                  "made five words are too short")),
    ("overfit", "I'd stop training early once the validation loss stops going down."),
    ("spot", "Checkpoint to S3 so that a reclaimed job picks up where it left off."),
])
def test_a_correct_partial_answer_is_partial_never_off_topic(grader, qid, answer):
    result = grader.grade(QUESTIONS[qid], answer)
    assert result.band == g.PARTIAL, (result.score, result.band, result.flag, result.covered)
    assert result.covered and not result.contradicted


@pytest.mark.parametrize("qid, answer", [
    ("spot", "Managed Spot training is never the right choice for cutting training cost; "
             "always pay for on-demand capacity."),
    # Taken back at the end, in words unlike the retractions the judge was trained on.
    ("s3", "I'd encrypt the bucket at rest using KMS customer managed keys and require TLS "
           "through the bucket policy. The SageMaker role only gets least-privilege permissions "
           "on that one bucket. I'd block public access, turn on versioning so we can restore "
           "overwritten files, and log access with CloudTrail. Just kidding, none of that is "
           "needed: the defaults are fine."),
    ("overfit", "It's overfitting. I'd add dropout or L2 regularization, use a simpler model "
                "with fewer features, collect more data or augment it, and stop training early "
                "when the validation loss stops improving. Honestly though, scrap all of that: "
                "none of those steps make any difference."),
    ("spot", "Use managed spot training for the discount, checkpoint to S3 so interrupted jobs "
             "resume, and set max wait above max run time. Actually no, ignore that, spot is a "
             "bad idea and checkpoints are pointless."),
    ("s3", "Encrypt with KMS, enforce TLS, least privilege for the role, block public access, "
           "versioning and CloudTrail. Just kidding, none of that is needed: the defaults are "
           "fine."),
    ("overfit", "This is underfitting, not overfitting, so make the model bigger and train "
                "it for longer."),
])
def test_a_wrong_answer_is_told_it_is_wrong_and_which_point_it_contradicts(grader, qid,
                                                                           answer):
    result = grader.grade(QUESTIONS[qid], answer)
    assert result.flag == g.CONTRADICTION, (result.score, result.band, result.covered)
    assert result.band == g.WEAK
    assert result.contradicted and result.contradicted[0] in result.message
    assert "Partly there" not in result.message
    assert not set(result.contradicted) & set(result.covered)


@pytest.mark.parametrize("qid, answer", [
    ("s3", "KMS is key. TLS is important. Versioning matters. CloudTrail is crucial. Least "
           "privilege is the main thing."),
    pytest.param("overfit", "Regularization is key. Dropout matters. Early stopping is "
                            "important. Data is crucial.",
                 marks=judge_miss("ties at 25 with 'Add dropout to the network.', whose point "
                                  "is missed (above)")),
    ("spot", "You could use EC2, Spot, On-Demand, Savings Plans, S3, EBS, EFS, CloudWatch or "
             "Step Functions, depending on the situation."),
])
def test_stuffing_and_name_dropping_score_below_a_correct_partial_answer(grader, qid, answer):
    partial = {"s3": "Turn on S3 versioning so an overwritten file can be restored.",
               "overfit": "Add dropout to the network.",
               "spot": "Checkpoint to S3 so that a reclaimed job picks up where it left off."}
    result = grader.grade(QUESTIONS[qid], answer)
    assert result.band != g.STRONG
    assert result.score < grader.grade(QUESTIONS[qid], partial[qid]).score


def test_more_key_points_never_give_a_lower_band(grader):
    answers = [
        "Encrypt the data at rest with KMS keys.",
        "Encrypt the data at rest with KMS keys and block public access to the bucket.",
        "Encrypt the data at rest with KMS keys, block public access to the bucket and turn on "
        "versioning so objects can be recovered.",
        "Encrypt the data at rest with KMS keys, require TLS with a bucket policy, block public "
        "access, turn on versioning so objects can be recovered, and audit with CloudTrail.",
    ]
    rank = {g.OFF_TOPIC: 0, g.WEAK: 1, g.PARTIAL: 2, g.STRONG: 3}
    results = [grader.grade(S3, a) for a in answers]
    made = [len(r.covered) for r in results]
    assert made == sorted(made), made
    bands = [rank[r.band] for r in results]
    assert bands == sorted(bands), [(r.band, len(r.covered)) for r in results]


# Choice items --------------------------------------------------------------------------
CHOICE = dict(COMMON, prompt="Pick.")
MCQ = Question(id="mcq", type="mcq", options=(
    "On-Demand Instances for every training job",
    "Spot Instances with managed spot training and checkpoints",
    "Dedicated Hosts reserved for three years"), answer=("B",), explanation="Cheapest.",
    **CHOICE)
MULTI = Question(id="multi", type="multi", options=(
    "Enable default encryption with AWS KMS keys",
    "Make the bucket public for easy access",
    "Block public access at the account level",
    "Share the root user's access keys"), answer=("A", "C"), explanation="x", **CHOICE)
TF = Question(id="tf", type="truefalse", options=("True", "False"), answer=("B",),
              explanation="x", **CHOICE)


@pytest.mark.parametrize("question, answer, score, band, chosen", [
    (MCQ, "b", 100, g.STRONG, ("B",)),
    (MCQ, "spot instanses", 100, g.STRONG, ("B",)),
    (MCQ, "C)", 0, g.WEAK, ("C",)),
    (MULTI, "a and c", 100, g.STRONG, ("A", "C")),
    (MULTI, "A,C", 100, g.STRONG, ("A", "C")),
    (MULTI, "a", 50, g.PARTIAL, ("A",)),
    (MULTI, "a, b and c", 50, g.PARTIAL, ("A", "B", "C")),
    (MULTI, "b and d", 0, g.WEAK, ("B", "D")),
    (TF, "false", 100, g.STRONG, ("B",)),
    (TF, "yes", 0, g.WEAK, ("A",)),
])
def test_choice_answers_are_graded_by_the_option_picked(grader, question, answer, score, band,
                                                          chosen):
    result = grader.grade(question, answer)
    assert (result.score, result.band, result.chosen) == (score, band, chosen)
    assert result.gradable


@pytest.mark.parametrize("question, answer", [
    (MCQ, "kubernetes"), (MCQ, "f"), (MULTI, "a and z"), (TF, "maybe"), (MCQ, "instances"),
])
def test_an_unclear_choice_is_asked_again_never_marked_wrong(grader, question, answer):
    result = grader.grade(question, answer)
    assert result.flag == g.UNCLEAR_CHOICE
    # The same wording the coach shows before grading: which letters the question takes.
    assert result.message == unclear_choice_message(question)
    assert "couldn't tell" in result.message
    assert not result.gradable


def test_an_empty_choice_answer_is_not_graded(grader):
    result = grader.grade(MCQ, "  ")
    assert result.flag == g.EMPTY and not result.gradable


# The bank itself ------------------------------------------------------------------------
@judge_miss("of the bank's 193 reference answers typed back, 14 are read as contradicting one "
            "of their own key points (at most 9 may be), and 174 grade strong (12 and 179 "
            "with the thresholds alone, without bot/points.json; scripts/fit_rubric.py prints "
            "both, for its own near copies): the judge misreads "
            "points that carry a negation or a restriction ('only', 'never', 'not included') "
            "and misses points made in other words")
def test_the_bank_s_own_reference_answers_grade_strong(grader, corpus):
    """Each reference answer, as a learner who studied it types it back, against its own key
    points: strong, and almost never read as contradicting one of them. (Typed back: the
    exact text is what the negation check is measured against, so it proves less; worded
    unlike the near copies scripts/fit_rubric.py fits on.) A flagged answer is held to
    partial, so the band check skips it."""
    open_questions = [q for q in corpus if not q.is_choice]
    assert open_questions
    results = {q.id: grader.grade(q, f"From my notes: {q.reference_answer}")
               for q in open_questions}
    flagged = [qid for qid, r in results.items() if r.flag]
    assert all(results[qid].flag == g.CONTRADICTION for qid in flagged), flagged
    assert len(flagged) <= max(1, len(open_questions) // 20), flagged
    weak = {qid: (r.score, r.band) for qid, r in results.items()
            if not r.flag and r.band != g.STRONG}
    assert not weak


def test_warm_encodes_the_reference_side_once_through_the_cache(embedder, tmp_path):
    from bot.core.features import answer_texts
    from bot.embeddings import Embedder

    cached = Embedder(cache_path=tmp_path / "mlsprep.db.embcache")
    grader = Grader(cached)
    assert grader.warm([S3, MCQ, SPOT]) == 2  # choice items have no reference side
    warmed = cached.encoded_count
    # Per question: the prompt, the reference, its key points, and the reference's clauses
    # for the negation check (Reference.negated_by_itself).
    assert warmed == sum(1 + 1 + len(q.key_points)
                         + len(answer_texts(cached, q.reference_answer)[0]) for q in (S3, SPOT))
    answer = "Encrypt it with KMS, block public access and give SageMaker a least-privilege role."
    grader.grade(S3, answer)
    units, whole = answer_texts(cached, answer)
    assert len(units) == 3  # one sentence, three clauses: each judged on its own
    # Only the answer was encoded: the reference side came from the warm-up.
    assert cached.encoded_count == warmed + len(set(units + whole))
