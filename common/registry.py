"""Named specs in registration order: the one table type behind the registered methods (policies/methods.py),
simulator backends (envs/backends.py), side networks and side initialisations (policies/side.py), precisions
(policies/freeze.py) and pretraining tasks (agents/pretraining/tasks.py), so a new one is one ``register`` call."""

from __future__ import annotations

from typing import Generic, Protocol, TypeVar


class Named(Protocol):
    name: str


Spec = TypeVar("Spec", bound=Named)


class Registry(Generic[Spec]):
    """A table of specs by name (``kind`` names what they are in messages: 'method', 'backend')."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._specs: dict[str, Spec] = {}

    def register(self, spec: Spec) -> Spec:
        """Add ``spec`` (its name must be new); returns it."""
        if spec.name in self._specs:
            raise ValueError(f"{self.kind} {spec.name!r} is already registered")
        self._specs[spec.name] = spec
        return spec

    def unregister(self, name: str) -> None:
        """Remove a registered spec (tests that register a toy one)."""
        self._specs.pop(name, None)

    def names(self) -> tuple[str, ...]:
        """The registered names in registration order (config checks, CLI choices, reports)."""
        return tuple(self._specs)

    def describe(self) -> str:
        """'name: description; ...' for help strings that list the choices (a spec without a description: its name)."""
        return "; ".join(
            f"{name}: {spec.description}" if getattr(spec, "description", "") else name
            for name, spec in self._specs.items()
        )

    def get(self, name: str) -> Spec | None:
        """The spec of ``name``, or None when it is not registered."""
        return self._specs.get(name)

    def spec(self, name: str) -> Spec:
        """The spec of ``name``; KeyError naming the registered ones when it is not (the config checks reject
        unknown names before anything asks here)."""
        try:
            return self._specs[name]
        except KeyError:
            raise KeyError(f"{self.kind} {name!r} is not registered (registered: {', '.join(self._specs)})") from None
