"""The statistical half of classification: a category model learnt from staff-confirmed cases.

Character n-grams and jieba words of the normalised text, TF-IDF weighted, into a logistic
regression. `retrain` rebuilds it from every (text, category) pair staff confirmed or corrected
and saves it where `workers.classify` callers load it (var/classifier.pkl by default). Severity is
not learnt: it stays with the policy's rules, which staff can read and which err upward.
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

from config.settings import PROJECT_ROOT
from workers.textnorm import normalise, segment

DEFAULT_MODEL_PATH = PROJECT_ROOT / "var" / "classifier.pkl"
# Bump when the pipeline's shape changes: an older file is then refused and rebuilt.
MODEL_VERSION = 1


class ModelFileError(Exception):
    """The model file is from another model version or scikit-learn release: retrain."""


@dataclass
class CategoryModel:
    pipeline: Pipeline
    examples_count: int
    version: int = MODEL_VERSION
    sklearn_version: str = sklearn.__version__

    def predict(self, text: str) -> list[tuple[str, float]]:
        """Every category with its probability, most likely first."""
        probs = self.pipeline.predict_proba([normalise(text)])[0]
        ranked = sorted(zip(self.pipeline.classes_, probs, strict=True), key=lambda p: -p[1])
        return [(str(label), float(p)) for label, p in ranked]

    def save(self, path: Path) -> None:
        # Write then rename, so that a reader never loads half a file.
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
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


def train(examples: list[tuple[str, str]]) -> CategoryModel:
    """Fit on (text, category) pairs; needs at least two categories."""
    if len({category for _, category in examples}) < 2:
        raise ValueError("training needs examples of at least two categories")
    pipeline = new_pipeline()
    pipeline.fit([normalise(text) for text, _ in examples], [c for _, c in examples])
    return CategoryModel(pipeline, len(examples))


def retrain(examples: Iterable[tuple[str, str]], model_path: Path) -> CategoryModel:
    model = train(list(examples))
    model.save(model_path)
    return model
