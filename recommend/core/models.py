"""Algorithms registered by name, one registry per recommender: its command line's `--model`
choices, the app's model picker and what a workspace build (`--model PART=NAME`) accepts all
read it, so a new model is one fit function and one `MODELS.register(...)` line.

Each recommender says what its `fit` receives and returns (the similarity of similar products,
the recommendations of similar customers, the neighbours of similar items); the rest of a
Model is what people see: its label in the app, a sentence on how it scores, whether its
scores lie in 0..1 (drawn on a fixed bar), whether the Spark engine has it too.
"""
from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Callable

from common.errors import InputError


@dataclass(frozen=True)
class Model:
    name: str  # the flag's value and the manifest's, e.g. "ease"
    label: str  # what the app's model picker shows
    about: str  # how it scores, in a sentence (the page's caption, the manifest)
    fit: Callable[..., Any]  # the recommender's own signature: see its MODELS
    unit_scale: bool = False  # its scores lie in 0..1
    spark: bool = False  # the Spark engine (--engine spark) builds it too


class Models(Mapping[str, Model]):
    """The models of one recommender, in the order they were registered."""

    def __init__(self, part: str, flag: str = "--model"):
        self.part, self.flag = part, flag
        self._models: dict[str, Model] = {}

    def register(self, model: Model) -> Model:
        if model.name in self._models:
            raise ValueError(f"{self.part} already has a model called {model.name!r}")
        self._models[model.name] = model
        return model

    def unregister(self, name: str) -> None:
        """Take a model out again (a test's toy model)."""
        self._models.pop(name, None)

    def __getitem__(self, name: str) -> Model:
        try:
            return self._models[name]
        except (KeyError, TypeError):
            raise InputError(f"{self.flag} for {self.part.replace('_', ' ')} must be one of "
                             f"{', '.join(self._models)}, not {name!r}.") from None

    def check(self, name: str) -> str:
        """`name` when it is a registered model, else the InputError listing them."""
        return self[name].name

    def __contains__(self, name: object) -> bool:
        return name in self._models

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._models))

    def __len__(self) -> int:
        return len(self._models)

    def on_spark(self, name: str) -> Model:
        """The model, when the Spark engine builds it too; else an InputError saying so."""
        model = self[name]
        if not model.spark:
            raise InputError(f"The Spark engine has no {name!r} model for {self.part.replace('_', ' ')}; "
                             f"build it with --engine local, or pick one of "
                             f"{', '.join(m.name for m in self._models.values() if m.spark)}.")
        return model
