"""Several trained sequence encoders answering as one (NumPy only, like the encoders).

The deep recipes train ``num_averaged_models`` networks from consecutive seeds
(``sequence_model.train_sequence_model``) and serve their average. Why:
networks trained from different seeds on the same histories rank the catalog
differently where the data says little, and averaging cancels much of that
noise. On MovieLens 100K's liked ratings (ratings of 4 and 5 only), three GRUs
averaged scored NDCG@10 0.1466 where each alone scored 0.1291, 0.1278 and
0.1367 (Amazon's split, seed 0); ``docs/benchmarks/ml100k.md`` has every split.

Members are averaged by their raw scores. Each network's scores are logits
of a softmax over the catalog, so the softmax of their mean is the product of
the members' distributions, renormalised: an item ranks high only where every
network finds it likely, and no single confident network decides alone, as
it would in a mean of probabilities. A member's normalising constant is the
same for every item, so averaging log-probabilities instead would rank and
score exactly alike; raw scores also keep an item's score unchanged when an
UPDATE grows the catalog. One member answers with its own raw scores, exactly as before ensembles.

On disk a one-member ensemble is that member's directory, unchanged, so
models written before ensembles load as they are; more members are written as
``encoder_ensemble.json`` beside one ``member_<i>/`` directory each.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from augury_training.sequence_encoder import SequenceEncoder, SideBySide

ENSEMBLE_FILE = "encoder_ensemble.json"
FORMAT_VERSION = 1


class EncoderEnsemble:
    """Sequence encoders over one catalog whose scores are averaged (see the module)."""

    def __init__(self, members: Sequence[SequenceEncoder]) -> None:
        if not members:
            raise ValueError("an encoder ensemble needs at least one member")
        sizes = {member.n_items for member in members}
        if len(sizes) != 1:
            raise ValueError(f"every member must score the same catalog; sizes {sorted(sizes)}")
        self.members: tuple[SequenceEncoder, ...] = tuple(members)
        self._side_by_side = SideBySide.of(self.members) if len(self.members) > 1 else None

    @property
    def n_items(self) -> int:
        return self.members[0].n_items

    @property
    def config(self) -> dict[str, Any]:
        """The first member's configuration (every member shares its shapes)."""
        return self.members[0].config

    @property
    def context_fields(self) -> tuple[str, ...]:
        return self.members[0].context_fields

    @property
    def training(self) -> list[dict[str, Any]]:
        """Each member's training summary (epochs, validation NDCG, seconds...)."""
        return [dict(member.config.get("training") or {}) for member in self.members]

    def score(
        self,
        item_indices: np.ndarray,
        user_row: int | None = None,
        context: Mapping[str, Any] | None = None,
    ) -> np.ndarray:
        """One score per catalog item, higher is better (``SequenceEncoder.score``'s inputs)."""
        if len(self.members) == 1:
            return self.members[0].score(item_indices, user_row, context)
        if self._side_by_side is not None:
            states = self._side_by_side.encode(item_indices, user_row, context)
        else:
            states = [member.encode(item_indices, user_row, context) for member in self.members]
        total = np.zeros(self.n_items, dtype=np.float64)
        for member, state in zip(self.members, states, strict=True):
            total += member.item_vectors @ state + member.item_bias
        return total / len(self.members)

    def with_new_items(self, item_features: np.ndarray | None, count: int) -> EncoderEnsemble:
        """Every member's catalog grown by ``count`` items (``SequenceEncoder.with_new_items``)."""
        return EncoderEnsemble([m.with_new_items(item_features, count) for m in self.members])

    def save(self, directory: Path) -> None:
        directory = Path(directory)
        if len(self.members) == 1:
            self.members[0].save(directory)
            return
        directory.mkdir(parents=True, exist_ok=True)
        for index, member in enumerate(self.members):
            member.save(directory / _member_dir(index))
        document = {"format_version": FORMAT_VERSION, "members": len(self.members)}
        (directory / ENSEMBLE_FILE).write_text(json.dumps(document, indent=1))

    @classmethod
    def load(cls, directory: Path) -> EncoderEnsemble:
        """What :meth:`save` wrote, or a lone ``SequenceEncoder`` directory (one member)."""
        directory = Path(directory)
        path = directory / ENSEMBLE_FILE
        if not path.is_file():
            return cls([SequenceEncoder.load(directory)])
        document = json.loads(path.read_text())
        if document.get("format_version") != FORMAT_VERSION:
            raise ValueError(
                f"{path} has ensemble format {document.get('format_version')!r}; "
                f"this code reads format {FORMAT_VERSION}"
            )
        count = int(document["members"])
        return cls([SequenceEncoder.load(directory / _member_dir(i)) for i in range(count)])


def _member_dir(index: int) -> str:
    return f"member_{index}"
