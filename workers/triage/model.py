"""The statistical half of classification: models learnt from staff-confirmed cases.

Character n-grams and jieba words of the normalised text, TF-IDF weighted, into a logistic
regression. `retrain` rebuilds the category model from every (text, category) pair staff
confirmed or corrected and, alongside it in the same file, a severity model from every
(text, severity) pair staff set; it saves both where `workers.triage.classify` callers load them
(var/classifier.pkl by default). The severity model only ever raises what the policy's rules say
(`workers.triage.classify.raise_severity`): the rules stay the floor staff can read.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import joblib
import sklearn
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline, make_union

from models.private_files import private_dir
from workers.mail.textnorm import normalise, segment

# Bump when the pipeline's shape changes: an older file is then refused and rebuilt.
MODEL_VERSION = 1


class ModelFileError(Exception):
    """The model file is from another model version or scikit-learn release: retrain."""


def _ranked(pipeline: Pipeline, text: str) -> list[tuple[str, float]]:
    probs = pipeline.predict_proba([normalise(text)])[0]
    ranked = sorted(zip(pipeline.classes_, probs, strict=True), key=lambda p: -p[1])
    return [(str(label), float(p)) for label, p in ranked]


@dataclass
class SeverityModel:
    """Severities staff set, learnt from the same features as the category model."""

    pipeline: Pipeline
    examples_count: int

    def predict(self, text: str) -> list[tuple[str, float]]:
        """Every severity with its probability, most likely first."""
        return _ranked(self.pipeline, text)


@dataclass
class CategoryModel:
    pipeline: Pipeline
    examples_count: int
    version: int = MODEL_VERSION
    sklearn_version: str = sklearn.__version__
    # Added without a version bump: a file written before it unpickles without the attribute
    # and reads the class default (None), so it keeps loading and classifies as it did.
    severity: SeverityModel | None = None

    def predict(self, text: str) -> list[tuple[str, float]]:
        """Every category with its probability, most likely first."""
        return _ranked(self.pipeline, text)

    def save(self, path: Path) -> None:
        # Write then rename, so that a reader never loads half a file.
        private_dir(path.parent)  # learned from complaint texts: ours alone, as the database
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")  # 0600
        os.close(fd)
        joblib.dump(self, tmp)
        os.replace(tmp, path)

    @classmethod
    def load(cls, path: Path) -> CategoryModel:
        # A pickle runs code when loaded: only ever load the file our own retrain wrote.
        try:
            model = joblib.load(path)
        except Exception as exc:  # any unreadable file means the same: rebuild it
            raise ModelFileError(f"{path}: cannot be read ({exc})") from exc
        if not isinstance(model, cls) or model.version != MODEL_VERSION:
            raise ModelFileError(f"{path}: not a version {MODEL_VERSION} category model")
        if model.sklearn_version != sklearn.__version__:
            raise ModelFileError(f"{path}: built with scikit-learn {model.sklearn_version}")
        return model


def new_pipeline() -> Pipeline:
    # Character n-grams carry Chinese without segmentation errors; jieba words add the
    # whole-word evidence. The pair measured best on the labelled complaints.
    chars = TfidfVectorizer(analyzer="char_wb", ngram_range=(1, 3), sublinear_tf=True)
    words = TfidfVectorizer(analyzer=segment, sublinear_tf=True)
    return make_pipeline(make_union(chars, words), LogisticRegression(C=10, max_iter=2000))


def _fit(examples: list[tuple[str, str]]) -> Pipeline:
    pipeline = new_pipeline()
    pipeline.fit([normalise(text) for text, _ in examples], [label for _, label in examples])
    return pipeline


def train(
    examples: list[tuple[str, str]], severity_examples: list[tuple[str, str]] | None = None
) -> CategoryModel:
    """Fit on (text, category) pairs, which need at least two categories, and on (text,
    severity) pairs when given; with fewer than two severities there is no severity model."""
    if len({category for _, category in examples}) < 2:
        raise ValueError("training needs examples of at least two categories")
    severity = None
    if severity_examples and len({level for _, level in severity_examples}) >= 2:
        severity = SeverityModel(_fit(severity_examples), len(severity_examples))
    return CategoryModel(_fit(examples), len(examples), severity=severity)


def retrain(
    examples: Iterable[tuple[str, str]],
    model_path: Path,
    severity_examples: Iterable[tuple[str, str]] = (),
) -> CategoryModel:
    model = train(list(examples), list(severity_examples))
    model.save(model_path)
    return model
