"""A run's ``metrics.json``, typed: ``RunMetrics`` gives each key the library reads as a property.

A required key that a run lacks raises ``MissingMetric``, naming the run and the key, rather than reading
as a default that would pass for a value (a run without ``paper_model`` is not thereby comparable with a
paper). The few keys that a run may genuinely lack are optional properties, each documenting when it is
``None``. Every committed run in ``results/runs`` holds every required key (``tests/test_committed_runs.py``).

The library reads metrics only through these properties. ``RunMetrics`` is also a read-only mapping of the
file as written (for copying it whole, and for checks over every key); a string-keyed read raises
``MissingMetric`` (a ``KeyError``) the same way.
"""

from collections.abc import Iterator, Mapping
from typing import Any


class MissingMetric(KeyError):
    """A required key is missing from a run's ``metrics.json``."""

    def __init__(self, run: str, key: str) -> None:
        super().__init__(key)
        self.run, self.key = run, key

    def __str__(self) -> str:
        return f"run {self.run!r}: metrics.json has no {self.key!r}"


class RunMetrics(Mapping):
    """The metrics of run ``run`` (read-only), as written by ``fer_study.train.loop``."""

    def __init__(self, values: Mapping[str, Any], run: str) -> None:
        self._values = dict(values)
        self.run = run

    def __getitem__(self, key: str) -> Any:
        try:
            return self._values[key]
        except KeyError:
            raise MissingMetric(self.run, key) from None

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __repr__(self) -> str:
        return f"RunMetrics({self._values!r}, run={self.run!r})"

    def _optional(self, key: str) -> Any:
        """The value of a key a run may lack: ``None`` when it does (each caller documents when)."""
        return self._values.get(key)

    # What was trained, on what, where.
    @property
    def model(self) -> str:
        return self["model"]

    @property
    def dataset(self) -> str:
        return self["dataset"]

    @property
    def label_mode(self) -> str:
        return self["label_mode"]

    @property
    def train_splits(self) -> tuple[str, ...]:
        return tuple(self["train_splits"])

    @property
    def tier(self) -> str:
        return self["tier"]

    @property
    def device(self) -> str:
        return self["device"]

    @property
    def precision(self) -> str | None:
        """"float32" or "bfloat16"; ``None`` for runs written before the precision was recorded."""
        return self._optional("precision")

    @property
    def seed(self) -> int:
        return self["seed"]

    @property
    def params(self) -> int:
        """The model's parameter count."""
        return self["params"]

    @property
    def paper_model(self) -> bool:
        """Whether the model is a paper's architecture (its numbers may be compared with the paper's)."""
        return self["paper_model"]

    # Training.
    @property
    def epochs(self) -> int:
        """Epochs trained (0: weights evaluated as they are)."""
        return self["epochs"]

    @property
    def selected_epoch(self) -> int:
        """The epoch whose weights the run reports."""
        return self["selected_epoch"]

    @property
    def train_seconds(self) -> float:
        return self["train_seconds"]

    # The training loop always records these two, ``null`` when there is no such run; runs written
    # elsewhere (test fixtures, hand-made runs) may leave them out with the same meaning.
    @property
    def parent(self) -> str | None:
        """The run whose weights this one started from (a fine-tuning stage's, a snapshot's source), else
        ``None``."""
        return self._optional("parent")

    @property
    def snapshot_of(self) -> str | None:
        """The run this one is a snapshot of (an epoch its cyclic schedule saved), else ``None``."""
        return self._optional("snapshot_of")

    @property
    def teachers(self) -> tuple[str, ...] | None:
        """The teacher runs a distilled run learned from; ``None`` for a run that was not distilled."""
        teachers = self._optional("teachers")
        return None if teachers is None else tuple(str(name) for name in teachers)

    # Results, as fractions (0..1).
    @property
    def val_accuracy(self) -> float:
        return self["val_accuracy"]

    @property
    def test_accuracy(self) -> float:
        return self["test_accuracy"]

    @property
    def test_accuracy_tta(self) -> float | None:
        """Test accuracy with TTA; ``None`` when the run evaluated no TTA (``tta`` "none")."""
        return self["test_accuracy_tta"]

    @property
    def tta(self) -> str:
        """The TTA the run evaluated ("none" when it did not)."""
        return self["tta"]

    @property
    def macro_f1(self) -> float:
        """Test macro-F1, without TTA."""
        return self["macro_f1"]

    @property
    def test_per_class(self) -> dict[str, dict[str, float]]:
        """Per class name: test precision, recall, F1 and support, without TTA."""
        return self["test_per_class"]

    @property
    def test_confusion(self) -> list[list[int]]:
        """The test confusion matrix (rows: true class, columns: predicted, in ``CLASS_NAMES`` order)."""
        return self["test_confusion"]

    # Provenance.
    @property
    def weights_sha256(self) -> str:
        """The sha256 of the weights file training wrote (``fer_study.runs.weights``)."""
        return self["weights_sha256"]

    @property
    def git_commit(self) -> str:
        return self["git_commit"]

    @property
    def command(self) -> str:
        return self["command"]
