"""The question-match ranker: which of the nearest bank entries a typed question asks, or none.

One cosine to the nearest question text cannot tell "What is layer normalization?" (not in the bank) from
"What is batch normalization?", nor "dead ReLU neurons?" (``dying_relu``) from ``leaky_relu``. The ranker
scores each of the ``CANDIDATES`` entries FAISS finds nearest with a small gradient-boosted model over
features that see more than one cosine: how many of the entry's question texts are close, the key points and
reference, the share of the asked question's specific terms the entry knows (weighted by rarity in the
bank), acronyms the entry never uses, comparison questions asked of a non-comparison entry, and what the
question asks for beside its subject (``INTENTS``: types, uses, pros and cons, avoiding, code).

It learns from the bank's own texts: each alias and typed question (``Bank.typed``) is a query scored with
its own row left out of the index, against the typed questions the bank does not answer as negatives. The
acceptance threshold is chosen on out-of-fold predictions (folds grouped by entry): the lowest that keeps
``MAX_OUT_OF_BANK_ACCEPTED`` of the out-of-bank questions or fewer matched, maximising right matches minus
``WRONG_COST`` times wrong ones. Fitted when the index is built (scikit-learn), saved beside it as plain
arrays (``TreeEnsemble``), read back without scikit-learn.
"""

from __future__ import annotations

import bisect
import json
import math
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from dlgrader.corpus.loader import Bank
from dlgrader.corpus.text import content_stems
from dlgrader.models import Question

# Bump whenever a feature's computation changes: the index records it, and a ranker fitted on other
# features is refitted rather than fed values it never saw.
RANKER_VERSION = 4  # 2: trees saved as arrays; 3: what a question asks for (intents); 4: a 0.01 threshold grid
CANDIDATES = 8
MIN_EXAMPLES = 200  # in-bank typed questions and aliases needed to fit a ranker at all
MIN_OUT_OF_BANK = 40  # and out-of-bank ones: without them no threshold can be chosen honestly
MAX_OUT_OF_BANK_ACCEPTED = 0.05
WRONG_COST = 3.0  # a wrong match is worse than "unknown"
THRESHOLDS = tuple(round(0.3 + 0.01 * i, 2) for i in range(66))
FOLDS = 5
SEED = 0

# Words that frame an interview question without naming its subject.
GENERIC_TERMS = content_stems(
    "explain describe differ difference different work works mean meaning concept example examples role "
    "importance important purpose define definition advantage advantages disadvantage disadvantages "
    "compare contrast type types common deep learning neural network networks model models happen "
    "benefit benefits why key main idea tell know understand brief briefly simple simply term terms "
    "way ways used function functions method methods technique techniques approach process affect "
    "problem problems solve solves issue issues help helps need needed matter matters happens dl ml ai"
)
_COMPARISON = re.compile(r"\b(vs\.?|versus|differ|difference|differences|compare|comparison|contrast)\b", re.I)
_ACRONYM = re.compile(r"\b[A-Za-z]*[A-Z][A-Za-z0-9]*[A-Z0-9][A-Za-z0-9]*\b")
_WORDS = re.compile(r"[a-z0-9]+")
_CAPITALS = re.compile(r"\b[A-Z][A-Z0-9]+s?\b")
FEATURES = ("best_cosine", "question_cosine", "top3_cosine", "keypoint_cosine", "reference_cosine",
            "gap_to_best", "is_first", "missing_terms", "known_term_weight", "rarest_unknown_term",
            "comparison_mismatch", "specific_terms", "unknown_acronyms", "intent_missing", "intent_extra")
# What a question asks for, beyond its subject: "autoencoder variants?" is not "autoencoder?", "transfer
# learning use cases?" is not "transfer learning?". The words are generic (``GENERIC_TERMS`` drops them
# from the term features), so they are read here.
INTENTS = {
    "types": re.compile(r"\b(types?|kinds?|variants?|variations?|flavou?rs?|categories|famil(y|ies)|list)\b", re.I),
    "uses": re.compile(r"\b(applications?|use[- ]?cases?|used (for|in)|real[- ]world|applied|in practice|where)\b",
                       re.I),
    "pros_cons": re.compile(r"\b(advantages?|disadvantages?|pros|cons|drawbacks?|downsides?|limitations?|"
                            r"trade-?offs?|benefits?)\b", re.I),
    "avoid": re.compile(r"\b(prevent|avoid|reduce|fix|mitigate|handle|deal with|stop|overcome|combat)\b", re.I),
    "code": re.compile(r"\b(pytorch|torch|keras|tensorflow|implement|code|nn\.)", re.I),
}


def initialisms(q: Question) -> set[str]:
    """Acronyms the question's own wording spells: "learning rate scheduling" gives "lr" and "lrs",
    "Retrieval-Augmented Generation" gives "rag", so a user's abbreviation counts as a known term."""
    out: set[str] = set()
    for text in (q.question, *q.aliases, q.id.replace("_", " ")):
        initials = "".join(w[0] for w in _WORDS.findall(text.lower()))
        out.update(initials[i:j] for i in range(len(initials)) for j in range(i + 2, min(i + 5, len(initials)) + 1))
    return out


def intents(text: str) -> frozenset[str]:
    return frozenset(name for name, pattern in INTENTS.items() if pattern.search(text))


def _bank_text(q: Question) -> str:
    return " ".join([q.question, *q.aliases, q.reference_answer, *(kp.text for kp in q.key_points),
                     q.id.replace("_", " ")])


def _known(term: str, vocab: set[str], ordered: list[str]) -> bool:
    # "batch norm" names "batch normalization": a term counts as present when it starts a known word
    # (``ordered`` is ``vocab`` sorted, so the first word at or after the term is the only one to check).
    if term in vocab:
        return True
    if len(term) < 3:
        return False
    i = bisect.bisect_left(ordered, term)
    return i < len(ordered) and ordered[i].startswith(term)


class EntryTexts:
    """What the features read of each entry, computed once per bank."""

    def __init__(self, bank: Bank) -> None:
        self.vocab = {q.id: content_stems(_bank_text(q)) | initialisms(q) for q in bank.questions}
        self.ordered = {qid: sorted(vocab) for qid, vocab in self.vocab.items()}
        self.words = {q.id: set(_WORDS.findall(_bank_text(q).lower())) | initialisms(q) for q in bank.questions}
        # Words the entry writes in capitals: "CLIP" asked is only known where the bank says "CLIP".
        self.capitals = {q.id: {w.lower() for w in _CAPITALS.findall(_bank_text(q))} | initialisms(q)
                         for q in bank.questions}
        self.comparison = {q.id: bool(re.search(r"_vs_|differ|compare|versus", f"{q.id} {q.question}", re.I))
                           for q in bank.questions}
        self.intents = {q.id: intents(f"{q.id.replace('_', ' ')} {q.question}") for q in bank.questions}
        df: Counter[str] = Counter()
        for vocab in self.vocab.values():
            df.update(vocab)
        n = len(bank.questions)
        self._idf = {t: math.log((n + 1) / (c + 0.5)) for t, c in df.items()}
        self._idf_unseen = math.log((n + 1) / 0.5)

    def idf(self, term: str) -> float:
        return self._idf.get(term, self._idf_unseen)

    def missing_share(self, asked: str, qid: str) -> float:
        """Share of the asked question's specific terms that the entry's texts never use."""
        specific = content_stems(asked) - GENERIC_TERMS
        if not specific:
            return 0.0
        return sum(not self.known(t, qid) for t in specific) / len(specific)

    def known(self, term: str, qid: str) -> bool:
        return _known(term, self.vocab[qid], self.ordered[qid])

    def unknown_acronyms(self, asked: str, qid: str) -> float:
        """Share of the asked question's acronyms and code names (CLIP, AdamW, DDIM) the entry never uses:
        unlike ordinary terms they must occur as whole words ("CLIP" is not "clipping")."""
        found = [a for a in _ACRONYM.findall(asked) if len(a) >= 3 and sum(c.isupper() for c in a) >= 2]
        if not found:
            return 0.0

        def known(acronym: str) -> bool:
            words = self.capitals[qid] if acronym.isupper() else self.words[qid]
            return acronym.lower() in words or acronym.lower().rstrip("s") in words

        return sum(not known(a) for a in found) / len(found)


@dataclass
class Vectors:
    """The index's vectors the features need, with each row's entry."""

    questions: np.ndarray  # question texts, aliases and typed questions
    question_owner: np.ndarray  # entry position of each question row
    canonical_row: np.ndarray  # per entry, the row of its own question text
    keypoints: np.ndarray
    keypoint_owner: np.ndarray
    references: np.ndarray
    reference_owner: np.ndarray
    ids: list[str]  # entry ids by position


def _best_per_entry(scores: np.ndarray, owner: np.ndarray, n: int) -> np.ndarray:
    best = np.full(n, -1.0)
    np.maximum.at(best, owner, scores)
    return best


def candidate_features(asked: str, vector: np.ndarray, vecs: Vectors, texts: EntryTexts, *,
                       exclude: int | None = None) -> list[tuple[str, list[float]]]:
    """The ``CANDIDATES`` nearest entries and their features (``exclude``: a question row to leave out)."""
    n = len(vecs.ids)
    scores = vecs.questions @ vector
    if exclude is not None:
        scores[exclude] = -1.0
    best = _best_per_entry(scores, vecs.question_owner, n)
    order = np.argsort(-best, kind="stable")[:CANDIDATES]
    kp_best = _best_per_entry(vecs.keypoints @ vector, vecs.keypoint_owner, n)
    ref_best = _best_per_entry(vecs.references @ vector, vecs.reference_owner, n)
    specific = content_stems(asked) - GENERIC_TERMS
    weight = sum(texts.idf(t) for t in specific) or 1.0
    asks_comparison = bool(_COMPARISON.search(asked))
    asks_for = intents(asked)
    top = float(best[order[0]])
    out: list[tuple[str, list[float]]] = []
    for rank, e in enumerate(order):
        qid = vecs.ids[e]
        own = np.sort(scores[vecs.question_owner == e])[::-1]
        known = sum(texts.idf(t) for t in specific if texts.known(t, qid)) / weight if specific else 1.0
        rarest_unknown = max((texts.idf(t) for t in specific if not texts.known(t, qid)), default=0.0)
        out.append((qid, [
            float(best[e]), float(scores[vecs.canonical_row[e]]), float(own[:3].mean()), float(kp_best[e]),
            float(ref_best[e]), float(best[e]) - top, float(rank == 0), texts.missing_share(asked, qid), known,
            rarest_unknown / 5.0, float(asks_comparison != texts.comparison[qid]), min(len(specific), 6) / 6.0,
            texts.unknown_acronyms(asked, qid), float(len(asks_for - texts.intents[qid])),
            float(len(texts.intents[qid] - asks_for)),
        ]))
    return out


class TreeEnsemble:
    """A fitted gradient-boosted classifier as plain arrays, evaluated with numpy.

    Loading scikit-learn costs about a second and 80 MB, too much for ``dlgrader grade -q`` to pay before
    its first answer, and a pickle would tie the file to one scikit-learn version; the trees themselves are
    a few thousand numbers. ``from_sklearn`` copies them out of a ``HistGradientBoostingClassifier``
    (numeric splits: ``x <= threshold`` goes left, a missing value where ``missing_left`` says)."""

    ARRAYS = ("feature", "threshold", "left", "right", "leaf", "value", "missing_left", "roots")

    def __init__(self, arrays: dict[str, np.ndarray], baseline: float) -> None:
        self.arrays = arrays
        self.baseline = baseline
        self.depth = int(arrays["depth"]) if "depth" in arrays else 64

    @classmethod
    def from_sklearn(cls, model: Any) -> TreeEnsemble:
        parts: dict[str, list[np.ndarray]] = {k: [] for k in cls.ARRAYS if k != "roots"}
        roots, offset, depth = [], 0, 0
        for (predictor,) in model._predictors:  # one tree per iteration for a binary classifier
            nodes = predictor.nodes
            if nodes["is_categorical"].any():
                raise ValueError("categorical splits are not supported")
            roots.append(offset)
            parts["feature"].append(nodes["feature_idx"].astype(np.int64))
            parts["threshold"].append(nodes["num_threshold"].astype(np.float64))
            parts["left"].append(nodes["left"].astype(np.int64) + offset)
            parts["right"].append(nodes["right"].astype(np.int64) + offset)
            parts["leaf"].append(nodes["is_leaf"].astype(bool))
            parts["value"].append(nodes["value"].astype(np.float64))
            parts["missing_left"].append(nodes["missing_go_to_left"].astype(bool))
            depth = max(depth, int(nodes["depth"].max()))
            offset += len(nodes)
        arrays = {k: np.concatenate(v) for k, v in parts.items()}
        arrays["roots"] = np.asarray(roots, dtype=np.int64)
        arrays["depth"] = np.asarray(depth + 1)
        return cls(arrays, float(np.ravel(model._baseline_prediction)[0]))

    def probabilities(self, x: np.ndarray) -> np.ndarray:
        a = self.arrays
        x = np.atleast_2d(np.asarray(x, dtype=np.float64))
        node = np.broadcast_to(a["roots"], (len(x), len(a["roots"]))).copy()
        rows = np.arange(len(x))[:, None]
        for _ in range(self.depth):
            leaf = a["leaf"][node]
            if leaf.all():
                break
            values = x[rows, a["feature"][node]]
            left = np.where(np.isnan(values), a["missing_left"][node], values <= a["threshold"][node])
            node = np.where(leaf, node, np.where(left, a["left"][node], a["right"][node]))
        raw = self.baseline + a["value"][node].sum(axis=1)
        return 1.0 / (1.0 + np.exp(-raw))


class MatchRanker:
    """A fitted ranker: P(this candidate is the asked entry) and the threshold to accept the best one."""

    def __init__(self, trees: TreeEnsemble, threshold: float, report: dict[str, object]) -> None:
        self.trees = trees
        self.threshold = threshold
        self.report = report

    def probabilities(self, features: list[list[float]]) -> np.ndarray:
        return self.trees.probabilities(np.asarray(features, dtype=np.float64))

    def save(self, path: Path) -> None:
        meta = json.dumps({"features": FEATURES, "threshold": self.threshold, "baseline": self.trees.baseline,
                           "report": self.report})
        with path.open("wb") as fh:  # a file handle: np.savez would add ".npz" to a name without it
            np.savez(fh, meta=np.asarray(meta), **self.trees.arrays)  # type: ignore[arg-type]

    @classmethod
    def load(cls, path: Path) -> MatchRanker:
        """Raises ValueError (or OSError) when the file is not a ranker for these features."""
        with np.load(path, allow_pickle=False) as data:
            meta = json.loads(str(data["meta"]))
            arrays = {k: data[k] for k in (*TreeEnsemble.ARRAYS, "depth")}
        if tuple(meta.get("features", ())) != FEATURES:
            raise ValueError(f"{path} was fitted on other features")
        return cls(TreeEnsemble(arrays, float(meta["baseline"])), float(meta["threshold"]), dict(meta["report"]))


def _model() -> Any:
    from sklearn.ensemble import HistGradientBoostingClassifier

    # No early stopping: it would hold out a random split and make the fit depend on it.
    return HistGradientBoostingClassifier(max_iter=200, learning_rate=0.05, max_depth=3, min_samples_leaf=30,
                                          early_stopping=False, random_state=SEED)


def _outcome(expected: str | None, got: str | None) -> str:
    if expected is None:
        return "oob_unknown" if got is None else "oob_matched"
    return "right" if got == expected else "unknown" if got is None else "wrong"


def _rates(outcomes: list[str]) -> dict[str, float]:
    c = Counter(outcomes)
    in_bank = max(c["right"] + c["wrong"] + c["unknown"], 1)
    oob = max(c["oob_unknown"] + c["oob_matched"], 1)
    return {"right": c["right"] / in_bank, "wrong": c["wrong"] / in_bank, "oob_matched": c["oob_matched"] / oob}


def fit_ranker(queries: list[tuple[str, np.ndarray, str | None, int | None]], vecs: Vectors,
               texts: EntryTexts) -> MatchRanker | None:
    """Fit on ``(text, vector, expected id or None, own question row or None)`` queries; None when there
    are too few to fit and choose a threshold honestly."""
    from sklearn.model_selection import GroupKFold

    in_bank = sum(q[2] is not None for q in queries)
    if in_bank < MIN_EXAMPLES or len(queries) - in_bank < MIN_OUT_OF_BANK:
        return None
    rows: list[list[float]] = []
    labels: list[bool] = []
    groups: list[str] = []
    spans: list[tuple[int, list[str]]] = []  # per query: its first row and its candidates
    for i, (text, vector, expected, own_row) in enumerate(queries):
        found = candidate_features(text, vector, vecs, texts, exclude=own_row)
        spans.append((len(rows), [qid for qid, _ in found]))
        for qid, feats in found:
            rows.append(feats)
            labels.append(qid == expected)
            groups.append(expected or f"out-of-bank {i}")
    x, y = np.asarray(rows), np.asarray(labels)
    out_of_fold = np.zeros(len(y))
    for train, test in GroupKFold(n_splits=FOLDS).split(x, y, groups):
        out_of_fold[test] = _model().fit(x[train], y[train]).predict_proba(x[test])[:, 1]
    best: list[tuple[float, str]] = []
    for start, ids in spans:
        j = int(np.argmax(out_of_fold[start:start + len(ids)]))
        best.append((float(out_of_fold[start + j]), ids[j]))
    table = {t: _rates([_outcome(q[2], qid if p >= t else None) for q, (p, qid) in zip(queries, best, strict=True)])
             for t in THRESHOLDS}
    allowed = [t for t in THRESHOLDS if table[t]["oob_matched"] <= MAX_OUT_OF_BANK_ACCEPTED] or [THRESHOLDS[-1]]
    threshold = max(allowed, key=lambda t: (table[t]["right"] - WRONG_COST * table[t]["wrong"], -t))
    report: dict[str, object] = {
        "queries": len(queries), "in_bank": in_bank, "out_of_bank": len(queries) - in_bank,
        "threshold": threshold, "out_of_fold": {k: round(v, 4) for k, v in table[threshold].items()},
        "folds": f"{FOLDS}-fold, grouped by entry",
    }
    return MatchRanker(TreeEnsemble.from_sklearn(_model().fit(x, y)), threshold, report)
