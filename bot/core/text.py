"""Plain-text helpers for scoring: sentences, content words, crude stems and polarity.

Everything here is pure and cheap (no model): the scorer runs it on every answer.
"""

from __future__ import annotations

import re
from functools import lru_cache

STOPWORDS = frozenset("""
a about above after again against all am an and any are as at be because been before being
below between both but by can could did do does doing down during each few for from further
had has have having he her here hers herself him himself his how i if in into is it its itself
just me more most my myself of off on once only or other our ours ourselves out over own same
she should so some such than that the their theirs them themselves then there these they this
those through to too under until up very was we were what when where which while who whom why
will with would you your yours yourself yourselves also may might must shall us via per etc
let lets i'd i'll i'm i've it's that's there's they're we're we'll you'd you'll you're
""".split())

# Words that make a statement a statement; a "keyword list" has none of them.
FUNCTION_WORDS = STOPWORDS | frozenset("""
use uses used using set sets make makes made need needs needed keep keeps give gives get gets
run runs put puts add adds turn turns store stores send sends allow allows enable enables
""".split())

NEGATORS = frozenset({"not", "no", "never", "without", "none", "nor", "neither", "nothing",
                      "cannot", "n't", "instead", "avoid", "avoids", "avoiding"})
_NEGATING_PHRASES = (("rather", "than"),)

# A word that means "not <canonical>": polarity flips without a negator.
ANTONYMS = {
    "disable": "enable", "disabled": "enable", "disables": "enable", "disabling": "enable",
    "enable": "enable", "enabled": "enable", "enables": "enable", "enabling": "enable",
    "unencrypted": "encrypt", "plaintext": "encrypt", "cleartext": "encrypt",
    "deny": "allow", "denies": "allow", "denied": "allow", "block": "allow",
    "decrease": "increase", "decreases": "increase", "decreased": "increase",
    "reduce": "increase", "reduces": "increase", "reduced": "increase", "reducing": "increase",
    "less": "more", "fewer": "more", "lower": "higher", "smaller": "larger",
    "private": "public", "manual": "automatic", "manually": "automatic",
    "single": "multi", "remove": "add", "removes": "add", "removing": "add", "delete": "keep",
    "deletes": "keep", "deleting": "keep", "off": "on", "unsupervised": "supervised",
    "underfitting": "overfit", "underfit": "overfit", "never": "always",
}
_NEGATIVE_FORMS = frozenset(k for k, v in ANTONYMS.items() if not k.startswith(v))
# Negative verbs whose object is negated too: "disable versioning" = "not enable versioning".
_SCOPING_NEGATIVES = frozenset({"disable", "disabled", "disables", "disabling", "deny",
                                "denies", "denied", "block", "off", "remove", "removes",
                                "removing", "delete", "deletes", "deleting"})
_CANONICAL_POSITIVE = {"automated": "automatic", "automatically": "automatic",
                       "automate": "automatic", "multiple": "multi", "encrypted": "encrypt",
                       "encryption": "encrypt", "encrypts": "encrypt", "encrypting": "encrypt",
                       "higher": "higher", "larger": "larger", "increases": "increase",
                       "increased": "increase", "increasing": "increase", "adds": "add",
                       "adding": "add", "keeps": "keep",
                       "always": "always", "allows": "allow", "allowed": "allow"}

_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")
_SENTENCE_END = re.compile(r"(?<=[.!?;])\s+|\n+")
_CLAUSE_BREAK = frozenset({"but", "however", "although", "though", "whereas", "while", ",",
                           ";", ":", "."})


def sentences(text: str) -> list[str]:
    """Split on sentence ends, semicolons and line breaks; drop empty pieces."""
    return [s.strip() for s in _SENTENCE_END.split(text) if s and s.strip(" .;")]


_CLAUSE_SPLIT = re.compile(r"\s*(?:[,;:]\s+(?:and\s+|but\s+|then\s+)?|\s+(?:and|but|then|so that|"
                           r"because|while|whereas)\s+)")


def clauses(sentence: str) -> list[str]:
    """The clauses of a sentence that has several (split at commas and conjunctions), each
    of at least two words; [] when the sentence is a single clause."""
    parts = [p.strip(" .") for p in _CLAUSE_SPLIT.split(sentence)]
    parts = [p for p in parts if len(p.split()) >= 2]
    return parts if len(parts) >= 2 else []


def words(text: str) -> list[str]:
    """Lower-case word tokens; "don't" becomes "do", "n't" so negation stays visible."""
    out: list[str] = []
    for w in _WORD.findall(text.lower().replace("’", "'")):
        if w.endswith("n't"):
            stem = w[:-3]
            out.extend([{"ca": "can", "wo": "will", "sha": "shall"}.get(stem, stem), "n't"])
        elif w in ("cannot", "cant", "dont", "doesnt", "isnt", "wont", "shouldnt", "arent"):
            out.extend([w.removesuffix("not").removesuffix("nt") or w, "n't"])
        else:
            out.append(w.split("'")[0] if w.endswith("'s") else w)
    return out


@lru_cache(maxsize=50_000)
def stem(word: str) -> str:
    """A crude suffix stripper: enough to match "encrypts"/"encrypted"/"encrypting"."""
    w = word
    for suffix, keep in (("ational", 5), ("ization", 4), ("isation", 4), ("fulness", 4),
                         ("iveness", 4), ("ments", 4), ("ment", 4), ("ness", 4),
                         ("ings", 4), ("ing", 4), ("ions", 4), ("ion", 4), ("ied", 3),
                         ("ies", 3), ("edly", 4), ("ed", 4), ("ers", 4), ("er", 4),
                         ("ly", 4), ("es", 4), ("s", 3)):
        if w.endswith(suffix) and len(w) - len(suffix) >= keep - 1 and not w.endswith("ss"):
            w = w[: -len(suffix)]
            break
    if len(w) > 3 and w[-1] == w[-2] and w[-1] not in "lsz":
        w = w[:-1]
    return w


def content_stems(text: str) -> list[str]:
    return [stem(w) for w in words(text)
            if w not in STOPWORDS and w not in NEGATORS and (len(w) > 1 or w.isdigit())]


_AUXILIARIES = frozenset("is are was were be been being do does did has have had will would "
                         "can could should may might".split())
_HYPOTHETICAL = frozenset({"that", "which", "who", "if", "unless", "when", "whether"})


def _hypothetical(tokens: list[str], i: int) -> bool:
    """Whether the negator at i sits in a relative or conditional clause."""
    j = i - 1
    while j >= 0 and tokens[j] in _AUXILIARIES:
        j -= 1
    return j >= 0 and tokens[j] in _HYPOTHETICAL


# "X is not needed": the negation is about X.
_NEEDLESS = frozenset(stem(w) for w in """need needed needs necessary require required
important recommend recommended useful matter worth""".split())

# Words too generic to carry a contradiction on their own ("do not use X" vs "use Y").
GENERIC = frozenset(stem(w) for w in """
use used using make need do does data model models aws amazon service services way thing
things good better best can able want like just also get set
""".split())


def polarity(text: str) -> dict[str, set[bool]]:
    """Content stem -> the polarities it is stated with (True: asserted, False: negated).

    A negator ("not", "never", "without", "rather than", ...) negates the content words
    after it up to the end of the clause or four content words; a negative form such as
    "disable" is read as "not enable"."""
    return _polarity(text)[0]


def negative_forms(text: str) -> frozenset[str]:
    """Words a text negates through a negative form: {"encrypt"} for "unencrypted"."""
    return _polarity(text)[2]


@lru_cache(maxsize=4096)
def _polarity(text: str) -> tuple[dict[str, set[bool]], frozenset[str], frozenset[str]]:
    """Polarities, and the heads of negation: the first content word each negator governs
    ("encrypt" in "never encrypt the bucket"), or the word a negative form stands for; and
    the words stated through a negative form ("unencrypted", "disable")."""
    # Hyphenated compounds stay whole: "not time-critical" is not about "time".
    tokens = re.findall(r"[a-z0-9]+(?:-[a-z0-9]+)+|[a-z0-9]+(?:'[a-z]+)?|[,;:.]",
                        text.lower().replace("’", "'"))
    expanded: list[str] = []
    for t in tokens:
        expanded.extend(words(t) if t not in _CLAUSE_BREAK and "-" not in t else [t])
    result: dict[str, set[bool]] = {}
    heads: set[str] = set()
    forms: set[str] = set()
    clause: list[str] = []  # content words asserted so far in this clause
    conditional = False  # the clause so far has an "if"/"unless"
    scope = 0  # content words still negated by the last negator
    negations = 0
    heads_left = 0  # content words still to take as heads of the last negation
    silent = 0  # content words of a hypothetical negation: no polarity recorded
    i = 0
    while i < len(expanded):
        t = expanded[i]
        if t in _CLAUSE_BREAK:
            scope, negations, heads_left, silent, clause = 0, 0, 0, 0, []
            conditional = False
        elif t in ("if", "unless", "whether"):
            conditional = True
        elif t in NEGATORS or tuple(expanded[i:i + 2]) in _NEGATING_PHRASES:
            step = 1 if t in NEGATORS else 2
            if conditional or _hypothetical(expanded, i):
                # "a model that is never retrained", "if it cannot beat the baseline": a
                # condition or a description, not a statement; its words keep no polarity.
                scope, negations, heads_left, silent = 0, 0, 0, 4
                i += step
                continue
            scope, negations, heads_left = 4, negations + 1, 1
            if t == "never":  # "never" also asserts the negation of "always"
                result.setdefault("always", set()).add(negations % 2 == 0)
            i += step
            continue
        elif (t not in STOPWORDS or t in ANTONYMS) and len(t) > 1:
            if silent:
                silent -= 1
                i += 1
                continue
            negative_form = t in _NEGATIVE_FORMS
            key = ANTONYMS.get(t) or _CANONICAL_POSITIVE.get(t) or stem(t)
            negated = scope > 0 and negations % 2 == 1
            if negated and heads_left and key in _NEEDLESS:
                # "encryption is not needed": what is negated is the subject before it.
                for earlier in clause:
                    result[earlier] = {False}
                    heads.add(earlier)
                clause = []
            result.setdefault(key, set()).add(negated == negative_form)
            if not negated and not negative_form:
                clause.append(key)
            if negative_form:
                forms.add(key)
                heads.add(key)
            elif heads_left:
                heads.add(key)
                heads_left -= 1
            if scope:
                scope -= 1
                if scope == 0:
                    negations, heads_left = 0, 0
            if t in _SCOPING_NEGATIVES:  # "disable versioning": versioning is negated
                scope, negations, heads_left = 2, negations + 1, 1
        i += 1
    return result, frozenset(heads), frozenset(forms)


def flipped(answer: str, reference: str) -> set[str]:
    """Words the answer negates where the reference asserts them, the word being what the
    answer's negation is about (its head): "never encrypt the bucket" against "encrypt the
    data" flips "encrypt"; "the battery is not in a closed path" against "no closed path
    contains the battery" flips nothing. Only the answer's own negations count: a
    reference's "rather than X" says nothing about an answer that mentions X."""
    (a, a_heads, _), (r, _, _) = _polarity(answer), _polarity(reference)
    out = set()
    for word in a_heads:
        if word in GENERIC or word not in r:
            continue
        if a[word] == {False} and r[word] == {True}:
            out.add(word)
    return out
