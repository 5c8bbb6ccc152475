"""Model file formats: how each one loads and predicts. One class per format, one line in FORMATS to add one.

A loaded model answers `predict(rows)` for a 2-D float array (rows in the model's feature order) with its
predictions and, for classifiers, one probability per class in the model's own class order (as JSON-able lists;
`predict_arrays` gives the same as NumPy arrays). Its `signature`
(feature names when the model knows them, their count, its classes) is what requests are checked against.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from kumo.errors import InvalidRequest


class UnreadableModel(InvalidRequest):
    code = 10023


def _python(values) -> list:
    return [v.item() if hasattr(v, "item") else v for v in values]


class SklearnModel:
    """A fitted scikit-learn estimator (or pipeline), however it was saved."""

    def __init__(self, estimator: Any):
        if not hasattr(estimator, "predict"):
            raise UnreadableModel(f"the file holds a {type(estimator).__name__}, not a fitted model with predict()")
        self.estimator = estimator
        names = getattr(estimator, "feature_names_in_", None)
        self.features = [str(n) for n in names] if names is not None else None
        self.n_features = getattr(estimator, "n_features_in_", None)
        if self.n_features is None and self.features:
            self.n_features = len(self.features)
        classes = getattr(estimator, "classes_", None)
        self.classes = _python(classes) if classes is not None and hasattr(estimator, "predict_proba") else None
        self._argmax = self.classes is not None and _predicts_by_argmax(estimator)

    @property
    def signature(self) -> dict[str, Any]:
        return {"features": self.features, "n_features": self.n_features, "classes": self.classes}

    def predict(self, rows: np.ndarray) -> tuple[list, list[list[float]] | None]:
        predictions, probabilities = self.predict_arrays(rows)
        return _python(predictions), probabilities.tolist() if probabilities is not None else None

    def predict_arrays(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """`predict` as arrays, for batch scoring: no Python object per row."""
        x: Any = rows
        if self.features is not None:
            import pandas as pd  # the model was fitted on named columns: give it named columns back

            x = pd.DataFrame(rows, columns=self.features)
        if self._argmax:  # what its predict() does, without walking every tree a second time
            proba = self.estimator.predict_proba(x)
            return self.estimator.classes_.take(np.argmax(proba, axis=1)), proba
        probabilities = self.estimator.predict_proba(x) if self.classes is not None else None
        return np.asarray(self.estimator.predict(x)), probabilities


def _predicts_by_argmax(estimator: Any) -> bool:
    """Whether the estimator's predict() is, by scikit-learn's own code, the class of the largest probability
    (single-output trees and forests: RandomForest, ExtraTrees, DecisionTree), alone or ending a pipeline."""
    from sklearn.ensemble._forest import ForestClassifier
    from sklearn.tree import BaseDecisionTree

    final = estimator.steps[-1][1] if hasattr(estimator, "steps") else estimator
    return (isinstance(final, (ForestClassifier, BaseDecisionTree)) and getattr(final, "n_outputs_", 1) == 1
            and hasattr(final, "predict_proba"))


# scikit-learn's own compiled types that skops lists as "untrusted" only because it cannot inspect them: they
# hold arrays and run no code on load (every tree ensemble carries a Tree)
SKOPS_ALSO_SAFE = {"sklearn.tree._tree.Tree"}


def load_skops(path: Path, trusted: bool) -> SklearnModel:
    import skops.io as sio

    try:
        untrusted = [t for t in sio.get_untrusted_types(file=path) if t not in SKOPS_ALSO_SAFE]
    except Exception as exc:  # noqa: BLE001 - any parse failure means the file is not a skops model
        raise UnreadableModel(f"not a readable skops file: {exc}") from None
    if untrusted and not trusted:
        raise InvalidRequest("the skops file holds types skops does not trust by default: "
                             f"{', '.join(untrusted)}; register the version with trusted=true if you trust them",
                             code=10024)
    try:
        return SklearnModel(sio.load(path, trusted=[*untrusted, *SKOPS_ALSO_SAFE]))
    except InvalidRequest:
        raise
    except Exception as exc:  # noqa: BLE001
        raise UnreadableModel(f"not a readable skops file: {exc}") from None


def refuse_untrusted(fmt: str, trusted: bool) -> None:
    if fmt in NEEDS_TRUST and not trusted:
        raise InvalidRequest("loading a joblib/pickle file runs any code it contains, so kumo loads one only for a"
                             " version registered with trusted=true (`--trusted`); or save the model with skops"
                             " or ONNX instead", code=10024)


def load_pickle(path: Path, trusted: bool) -> SklearnModel:
    refuse_untrusted("pickle", trusted)
    import joblib  # reads plain pickles too

    try:
        return SklearnModel(joblib.load(path))
    except InvalidRequest:
        raise
    except Exception as exc:  # noqa: BLE001
        raise UnreadableModel(f"not a readable joblib/pickle file: {exc}") from None


class OnnxModel:
    """An ONNX graph on ONNX Runtime: one 2-D float input (skl2onnx, torch, tf exports), or one input per
    feature (named features); a label output, and a probability output for classifiers."""

    def __init__(self, path: Path):
        import onnxruntime as ort

        try:
            options = ort.SessionOptions()
            options.intra_op_num_threads = 1
            self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # noqa: BLE001
            raise UnreadableModel(f"not a readable ONNX model: {exc}") from None
        inputs = self.session.get_inputs()
        if len(inputs) == 1:
            shape = inputs[0].shape
            width = shape[1] if len(shape) == 2 and isinstance(shape[1], int) else None
            self.features, self.n_features = None, width
        else:
            self.features, self.n_features = [i.name for i in inputs], len(inputs)
        self._inputs = inputs
        outputs = self.session.get_outputs()
        self._label = outputs[0].name
        self._proba = outputs[1].name if len(outputs) > 1 else None
        self.classes = self._class_order() if self._proba else None

    def _class_order(self) -> list | None:
        """ZipMap outputs carry the class labels; read them once with a dry run of one zero row."""
        probe = np.zeros((1, self.n_features or 1), dtype=np.float32)
        try:
            proba = self.session.run([self._proba], self._feed(probe))[0]
        except Exception:  # noqa: BLE001 - a graph that needs other input: classes stay unknown
            return None
        if isinstance(proba, list) and proba and isinstance(proba[0], dict):
            return _python(list(proba[0].keys()))
        return list(range(np.asarray(proba).shape[1]))

    def _feed(self, rows: np.ndarray) -> dict[str, np.ndarray]:
        if self.features is None:
            return {self._inputs[0].name: rows.astype(np.float32)}
        return {i.name: rows[:, n:n + 1].astype(np.float32) for n, i in enumerate(self._inputs)}

    @property
    def signature(self) -> dict[str, Any]:
        return {"features": self.features, "n_features": self.n_features, "classes": self.classes}

    def predict(self, rows: np.ndarray) -> tuple[list, list[list[float]] | None]:
        predictions, probabilities = self.predict_arrays(rows)
        return _python(predictions), probabilities.tolist() if probabilities is not None else None

    def predict_arrays(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """`predict` as arrays, for batch scoring: no Python object per row."""
        wanted = [self._label] + ([self._proba] if self._proba else [])
        out = self.session.run(wanted, self._feed(rows))
        predictions = np.asarray(out[0]).reshape(-1)
        probabilities = None
        if self._proba and self.classes is not None:
            proba = out[1]
            if isinstance(proba, list):
                probabilities = np.array([[float(row[c]) for c in self.classes] for row in proba], dtype=float)
            else:
                probabilities = np.asarray(proba, dtype=float)
        return predictions, probabilities


def load_onnx(path: Path, trusted: bool) -> OnnxModel:
    return OnnxModel(path)


# format name -> loader; file extensions -> format name
FORMATS = {"onnx": load_onnx, "skops": load_skops, "joblib": load_pickle, "pickle": load_pickle}
NEEDS_TRUST = {"joblib", "pickle"}  # loading them runs code
EXTENSIONS = {".onnx": "onnx", ".skops": "skops", ".joblib": "joblib", ".pkl": "pickle", ".pickle": "pickle"}


def format_of(key: str, declared: Any = None) -> str:
    if declared is not None:
        if declared not in FORMATS:
            raise InvalidRequest(f"format {declared!r} is not one kumo serves; use one of {', '.join(FORMATS)}",
                                 code=10025)
        return declared
    suffix = Path(key).suffix.lower()
    if suffix not in EXTENSIONS:
        raise InvalidRequest(f"cannot tell the format of {key!r} from its extension; kumo serves "
                             f"{', '.join(EXTENSIONS)} files (or send \"format\": one of {', '.join(FORMATS)})",
                             code=10025)
    return EXTENSIONS[suffix]


def load(fmt: str, path: Path, trusted: bool):
    return FORMATS[fmt](path, trusted)
