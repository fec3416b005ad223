"""Baseline NLU: a TF-IDF + logistic-regression intent classifier, patterns for order ids,
emails, zip codes, names and cancellation reasons, and order reference resolution (by id, by
"my last order", or by description) against the authenticated customer's *own* orders.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from difflib import get_close_matches
from functools import lru_cache
from typing import Any

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import FeatureUnion, Pipeline

from dialogue.domain import CancelReason, OrderView
from dialogue.nlu_bank import training_phrases

# ASCII digits only ([0-9], not \d): ids in the store are "#W" + 7 ASCII digits.
ORDER_ID_RE = re.compile(r"(?<![A-Za-z0-9])#?\s?[wW][\s-]?([0-9]{7})(?![0-9])")
BARE_ORDER_DIGITS_RE = re.compile(r"(?<![0-9#A-Za-z])#?([0-9]{7})(?![0-9])")
# Something that looks like an order reference but is not in our format ("order 12345").
ORDER_LIKE_RE = re.compile(r"(?<![A-Za-z0-9@.])#?[A-Za-z]{0,3}-?[0-9]{4,12}(?![0-9@])")
# Bounded parts keep the scan linear on long tokens.
EMAIL_RE = re.compile(r"[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9.-]{1,253}\.[A-Za-z]{2,24}")
ZIP_RE = re.compile(r"(?<![0-9#A-Za-z-])([0-9]{5})(?![0-9-])")
NAME_WORD = r"([A-Za-z][A-Za-z'\-]+)"
# "my name is jane doe" names in any case; "I'm Jane Doe" only with capitals ("i'm still
# waiting" is no name). When the agent has just asked for a name, BARE_NAME_RE reads any two words.
NAME_INTRO_RE = re.compile(
    rf"(?i:my name is|my name's|name is|name:)\s+{NAME_WORD}\s+{NAME_WORD}"
    r"|(?i:this is|i am|i'm|it's|its)\s+([A-Z][a-z'\-]+)\s+([A-Z][A-Za-z'\-]+)"
)
BARE_NAME_RE = re.compile(
    rf"^\s*(?:(?:this is|i am|i'm|it's|its)\s+)?{NAME_WORD}\s+{NAME_WORD}\s*[,.]?\s*"
    r"(?:zip\s*(?:code)?\s*:?\s*)?(?:[0-9]{5})?\s*[.!]?\s*$",
    re.IGNORECASE,
)
ORDER_CONTEXT_RE = re.compile(
    r"\border\s*(?:number|no\.?|id|#)?\s*(?:is|:)?\s*(#?[A-Za-z]{0,3}-?[0-9]{3,12})(?![0-9])", re.I
)
LAST_ORDER_RE = re.compile(r"\b(last|latest|most recent|newest)\b", re.I)
ORDINALS = {
    "first": 0,
    "1st": 0,
    "second": 1,
    "2nd": 1,
    "third": 2,
    "3rd": 2,
    "fourth": 3,
    "4th": 3,
    "fifth": 4,
    "5th": 4,
}
ORDINAL_RE = re.compile(
    r"\b(first|1st|second|2nd|third|3rd|fourth|4th|fifth|5th)\b|^\s*#?([1-5])\s*[.)]?\s*$",
    re.IGNORECASE,
)
REASON_PATTERNS: tuple[tuple[re.Pattern[str], CancelReason], ...] = (
    (
        re.compile(
            r"mistake|accident|wrong (item|size|color|one)|didn't mean|by error|duplicate", re.I
        ),
        CancelReason.ORDERED_BY_MISTAKE,
    ),
    (
        re.compile(r"better (price|deal)|cheaper|lower price|price elsewhere", re.I),
        CancelReason.FOUND_BETTER_PRICE,
    ),
    (
        re.compile(
            r"\btoo (long|slow)\b|taking forever|\b(late|delay|delayed|delays)\b|"
            r"won't arrive in time",
            re.I,
        ),
        CancelReason.TOO_SLOW,
    ),
    (
        re.compile(
            r"(no longer|don't|do not|dont) (need|want)|not needed|changed my mind|"
            r"not necessary|don't require|no need",
            re.I,
        ),
        CancelReason.NO_LONGER_NEEDED,
    ),
)
TOKEN_RE = re.compile(r"[a-z0-9]+")
WORD_RE = re.compile(r"[a-z]+")
STOPWORDS = frozenset(
    "a an the my our your i me we it its it's this that one ones order orders item items thing "
    "things stuff purchase bought buy ordered get got with for of to and or on in at from is was "
    "be been about please hi hello hey want wanted need like would could can you cancel refund "
    "status check where when what which return returned money back some any just my last".split()
)
NOT_NAMES = frozenset(
    "no yes yeah yep nope thanks thank ok okay sure hello hey good morning bye goodbye zip code "
    "cancel cancelled refund status human agent person help email not right wrong correct go "
    "ahead do it please".split()
)
AFFIRM_RE = re.compile(
    r"^\s*(yes|yeah|yep|yup|sure|confirm(ed)?|correct|ok(ay)?|go ahead|please do|do it|"
    r"absolutely|definitely|affirmative)\b",
    re.I,
)
DENY_RE = re.compile(r"^\s*(no|nope|nah|don'?t|do not|never ?mind|not)\b", re.I)
# Below this probability the classifier's intent is not trusted.
MIN_INTENT_CONFIDENCE = 0.35


@dataclass(frozen=True)
class Parse:
    """What the NLU read in one message (all fields are independent extractions)."""

    # refund_status | cancel_order | affirm | deny | greet | goodbye | human | out_of_scope |
    # inform | unknown
    intent: str
    confidence: float
    order_numbers: tuple[str, ...]
    unrecognized_order_refs: tuple[str, ...]
    email: str | None
    zip_code: str | None
    name: tuple[str, str] | None
    # Two bare words ("jane doe"): a name only when the agent has just asked for one.
    bare_name: tuple[str, str] | None
    cancel_reason: CancelReason | None
    mentions_last_order: bool
    ordinal: int | None
    text: str
    # The text without emails, order ids, zip codes and a stated name: what may describe an order.
    description_text: str = ""


def mask_entities(text: str) -> str:
    """Replace order ids and emails by placeholders: their characters never sway the intent."""
    text = ORDER_ID_RE.sub(" orderid ", text)
    return EMAIL_RE.sub(" emailaddress ", text).lower()


class SpellingNormalizer:
    """Maps misspelt words to the classifier's vocabulary ("cancle" -> "cancel").

    Only alphabetic words of four or more letters that the vocabulary lacks are touched, and only
    when ``difflib`` finds a vocabulary word at least ``cutoff`` similar, with the same first
    letter and a length within one (so "peterson" never becomes "person"); results are cached.
    """

    def __init__(self, vocabulary: set[str], *, cutoff: float = 0.8) -> None:
        self._vocabulary = vocabulary
        self._by_initial: dict[str, list[str]] = {}
        for word in sorted(vocabulary):
            self._by_initial.setdefault(word[0], []).append(word)
        self._cutoff = cutoff
        self._cache: dict[str, str] = {}

    def word(self, token: str) -> str:
        if len(token) < 4 or not token.isalpha() or token in self._vocabulary:
            return token
        if token not in self._cache:
            # Same first letter: typos rarely hit it, and it keeps the search small.
            candidates = [
                w for w in self._by_initial.get(token[0], []) if abs(len(w) - len(token)) <= 1
            ]
            close = get_close_matches(token, candidates, n=1, cutoff=self._cutoff)
            self._cache[token] = close[0] if close else token
        return self._cache[token]

    def __call__(self, text: str) -> str:
        return WORD_RE.sub(lambda m: self.word(m.group(0)), text)


class IntentClassifier:
    """TF-IDF (word 1–2-grams + character 2–4-grams) and logistic regression, seeded."""

    def __init__(self, phrases: Sequence[tuple[str, str]] | None = None) -> None:
        rows = list(phrases if phrases is not None else training_phrases())
        features = FeatureUnion(
            [
                ("word", TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, lowercase=True)),
                (
                    "char",
                    TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 4), sublinear_tf=True),
                ),
            ]
        )
        self._pipeline = Pipeline(
            [
                ("features", features),
                ("clf", LogisticRegression(C=8.0, max_iter=3000, random_state=0)),
            ]
        )
        texts = [mask_entities(t) for t, _ in rows]
        self._spelling = SpellingNormalizer({w for t in texts for w in WORD_RE.findall(t)})
        self._pipeline.fit(texts, [label for _, label in rows])
        self.labels: tuple[str, ...] = tuple(str(c) for c in self._pipeline.classes_)

        self._prepare_fast_path()
        self._memo: dict[str, tuple[str, float]] = {}
        # parse() results by message text (Parse is frozen; parse is a pure function of the text).
        self.parses: dict[str, Parse] = {}

    def _prepare_fast_path(self) -> None:
        """Unpack the fitted vectorizers and model for :meth:`predict`.

        sklearn's ``transform``/``predict_proba`` validate their input on every call, which costs
        ~1.4 ms per message, ten times the arithmetic. Inference on one message reuses the fitted
        analyzers, vocabularies, idf weights and coefficients directly; a test checks that it
        matches ``predict_proba`` of the fitted pipeline.
        """
        union = self._pipeline.named_steps["features"]
        self._parts: list[tuple[Any, dict[str, int], np.ndarray, int, bool]] = []
        offset = 0
        for _, vec in union.transformer_list:
            per_word = vec.analyzer == "char_wb"  # its n-grams never cross a word boundary
            analyzer = vec.build_analyzer()
            self._parts.append((analyzer, vec.vocabulary_, vec.idf_, offset, per_word))
            offset += len(vec.vocabulary_)
        # char_wb n-gram columns of each word seen (a word's n-grams do not depend on its
        # neighbours, and chat vocabulary repeats), bounded.
        self._word_columns: dict[str, list[int]] = {}
        clf = self._pipeline.named_steps["clf"]
        self._coef_t = np.ascontiguousarray(clf.coef_.T)  # (features, classes)
        self._intercept = clf.intercept_  # (classes,)

    def _features(self, masked: str) -> tuple[list[int], np.ndarray]:
        index: list[int] = []
        values: list[float] = []
        for analyzer, vocabulary, idf, offset, per_word in self._parts:
            counts: dict[int, int] = {}
            for column in self._columns(analyzer, vocabulary, masked, per_word):
                counts[column] = counts.get(column, 0) + 1
            if not counts:
                continue
            columns = list(counts)
            tf = 1.0 + np.log(np.fromiter(counts.values(), dtype=float))  # sublinear tf
            weights = tf * idf[columns]
            weights /= np.sqrt(weights @ weights)  # each vectorizer is l2-normalised
            index += [offset + c for c in columns]
            values += weights.tolist()
        return index, np.asarray(values)

    def _columns(
        self, analyzer: Any, vocabulary: dict[str, int], masked: str, per_word: bool
    ) -> list[int]:
        if not per_word:
            return [c for c in map(vocabulary.get, analyzer(masked)) if c is not None]
        columns: list[int] = []
        cache = self._word_columns
        for word in masked.split():
            found = cache.get(word)
            if found is None:
                found = [c for c in map(vocabulary.get, analyzer(word)) if c is not None]
                if len(cache) < 200_000:
                    cache[word] = found
            columns += found
        return columns

    def probabilities(self, text: str) -> np.ndarray:
        """P(label) for each of :attr:`labels` (multinomial logistic regression)."""
        index, values = self._features(self._spelling(mask_entities(text)))
        logits = self._intercept + values @ self._coef_t[index] if index else self._intercept
        exp = np.exp(logits - logits.max())
        probs: np.ndarray = exp / exp.sum()
        return probs

    def predict(self, text: str) -> tuple[str, float]:
        """The most likely label and its probability (memoised: a pure function of the text)."""
        found = self._memo.get(text)
        if found is None:
            probs = self.probabilities(text)
            best = int(probs.argmax())
            found = (self.labels[best], float(probs[best]))
            if len(self._memo) < 200_000:
                self._memo[text] = found
        return found


@lru_cache(maxsize=1)
def default_classifier() -> IntentClassifier:
    """The classifier trained on the project's phrase bank (trained once per process)."""
    return IntentClassifier()


def normalize_order_number(digits: str) -> str:
    return f"#W{digits}"


def _name(text: str, pattern: re.Pattern[str]) -> tuple[str, str] | None:
    match = pattern.search(text)
    if not match:
        return None
    first, last = (g for g in match.groups() if g is not None)
    if {first.lower(), last.lower()} & (STOPWORDS | NOT_NAMES):
        return None
    return first.capitalize(), last.capitalize()


def _cancel_reason(text: str) -> CancelReason | None:
    for pattern, reason in REASON_PATTERNS:
        if pattern.search(text):
            return reason
    return None


def parse(text: str, classifier: IntentClassifier | None = None) -> Parse:
    """Read one (already cleaned) customer message (memoised per classifier: a pure function)."""
    clf = classifier or default_classifier()
    found = clf.parses.get(text)
    if found is None:
        found = _parse(text, clf)
        if len(clf.parses) < 200_000:
            clf.parses[text] = found
    return found


def _parse(text: str, clf: IntentClassifier) -> Parse:
    order_numbers = tuple(
        dict.fromkeys(normalize_order_number(m) for m in ORDER_ID_RE.findall(text))
    )
    without_ids = ORDER_ID_RE.sub(" ", text)
    email_match = EMAIL_RE.search(without_ids)
    without_emails = EMAIL_RE.sub(" ", without_ids)
    if not order_numbers:
        bare = BARE_ORDER_DIGITS_RE.findall(without_emails)
        order_numbers = tuple(dict.fromkeys(normalize_order_number(d) for d in bare))
        without_emails = BARE_ORDER_DIGITS_RE.sub(" ", without_emails)
    unrecognized = tuple(m for m in ORDER_CONTEXT_RE.findall(without_emails))
    without_emails = ORDER_CONTEXT_RE.sub(" ", without_emails)
    zip_match = ZIP_RE.search(without_emails)
    without_known = ZIP_RE.sub(" ", BARE_ORDER_DIGITS_RE.sub(" ", without_emails))
    unrecognized += tuple(m.strip() for m in ORDER_LIKE_RE.findall(without_known))
    ordinal_match = ORDINAL_RE.search(text)
    ordinal = None
    if ordinal_match:
        word = ordinal_match.group(1)
        ordinal = ORDINALS[word.lower()] if word else int(ordinal_match.group(2)) - 1
    intent, confidence = clf.predict(text.lower())
    if confidence < MIN_INTENT_CONFIDENCE:
        intent = "unknown"
    return Parse(
        intent=intent,
        confidence=confidence,
        order_numbers=order_numbers,
        unrecognized_order_refs=unrecognized,
        email=email_match.group(0).lower() if email_match else None,
        zip_code=zip_match.group(1) if zip_match else None,
        name=None if email_match else _name(without_ids, NAME_INTRO_RE),
        bare_name=None if email_match else _name(without_ids, BARE_NAME_RE),
        cancel_reason=_cancel_reason(text),
        mentions_last_order=bool(LAST_ORDER_RE.search(text)),
        ordinal=ordinal,
        text=text,
        description_text=_description_text(text),
    )


def description_text_of(text: str) -> str:
    """A message with its identity details (order ids, emails, zip codes, names) left out."""
    return _description_text(text)


def _description_text(text: str) -> str:
    """Drop identity details so "jean.doyle@example.com" never matches a pair of jeans."""
    text = ORDER_ID_RE.sub(" ", text)
    text = EMAIL_RE.sub(" ", text)
    text = ZIP_RE.sub(" ", text)
    text = NAME_INTRO_RE.sub(" ", text)
    return " ".join(text.split())


def _singular(token: str) -> str:
    if len(token) > 4 and token.endswith("es") and token[-3] in "sxz":
        return token[:-2]
    if len(token) > 3 and token.endswith("s") and not token.endswith("ss"):
        return token[:-1]
    return token


def _tokens(text: str) -> set[str]:
    return {_singular(t) for t in TOKEN_RE.findall(text.lower()) if t not in STOPWORDS}


def order_vocabulary(order: OrderView) -> set[str]:
    """The words a customer may use for an order: titles, categories and attribute values."""
    words: set[str] = set()
    for line in order.lines:
        words |= _tokens(line.title) | _tokens(line.category)
        for _key, value in line.attributes:
            words |= _tokens(value)
    return words


def description_scores(text: str, orders: Sequence[OrderView]) -> list[float]:
    """How well each order fits a description by its words (0 when no word fits).

    Query words are weighted by how rare they are among *this customer's* orders (IDF), so
    "the blue water bottle" prefers the one blue bottle over every other bottle.
    """
    query = _tokens(text)
    if not query or not orders:
        return [0.0] * len(orders)
    vocabularies = [order_vocabulary(o) for o in orders]
    df = Counter(word for vocab in vocabularies for word in vocab & query)
    n = len(orders)
    scores: list[float] = []
    for vocab in vocabularies:
        hits = vocab & query
        scores.append(sum(math.log((n + 1) / (df[w] + 0.5)) for w in hits) + len(hits))
    return scores


def match_orders_by_description(text: str, orders: Sequence[OrderView]) -> tuple[OrderView, ...]:
    """The customer's orders that best fit a description by its words; () when nothing fits.

    See :func:`description_scores`. Ties are all returned: the caller asks the customer to choose.
    """
    scores = description_scores(text, orders)
    best = max(scores, default=0.0)
    if best <= 0:
        return ()
    return tuple(o for o, score in zip(orders, scores, strict=True) if math.isclose(score, best))


def is_affirmation(parse: Parse) -> bool:
    """An explicit yes (and no "no" anywhere at the start)."""
    if DENY_RE.search(parse.text):
        return False
    return parse.intent == "affirm" or bool(AFFIRM_RE.search(parse.text))


def is_denial(parse: Parse) -> bool:
    return parse.intent == "deny" or bool(DENY_RE.search(parse.text))
