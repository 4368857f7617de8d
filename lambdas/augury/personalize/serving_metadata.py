"""Item metadata in recommendations (``metadataColumns``).

A campaign created or updated with ``campaignConfig.enableMetadataWithRecommendations``
may be asked for up to 10 columns of the Items dataset, under the one key
``ITEMS``; each listed item then carries ``metadata``: column name → value as
a string (multiple categorical values stay joined with ``|``; a missing value
is left out). Without that setting Amazon refuses the request, and asking for
metadata caps ``numResults`` (and a ranking's ``inputList``) at 50. Values come
from the Items dataset as last imported, overlaid by PutItems rows.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from augury.personalize.serving_catalogs import catalogs
from augury.resources.errors import InvalidInput

if TYPE_CHECKING:
    from augury.runtime import Runtime

ITEMS_KEY = "ITEMS"
MAX_COLUMNS = 10
MAX_ITEMS_WITH_METADATA = 50
ENABLE_MEMBER = "enableMetadataWithRecommendations"


def requested_columns(
    metadata_columns: Mapping[str, Sequence[str]] | None,
    campaign_config: Mapping[str, Any] | None,
    campaign_arn: str,
    *,
    source: str = "Campaign",
    config_member: str = "campaignConfig",
) -> list[str]:
    """The Items columns a request asks for ([] when none), checked against the campaign
    (or the recommender: ``source``, ``config_member``)."""
    if not metadata_columns:
        return []
    unknown = sorted(key for key in metadata_columns if key != ITEMS_KEY)
    if unknown:
        raise InvalidInput(
            f"metadataColumns takes only the key {ITEMS_KEY} (Items dataset columns); "
            f"got {', '.join(unknown)}"
        )
    columns = list(dict.fromkeys(metadata_columns.get(ITEMS_KEY) or []))
    if not columns:
        return []
    if not (campaign_config or {}).get(ENABLE_MEMBER):
        raise InvalidInput(
            f"{source} {campaign_arn} does not return item metadata: create or update it with "
            f"{config_member} {ENABLE_MEMBER}=true to use metadataColumns"
        )
    if len(columns) > MAX_COLUMNS:
        raise InvalidInput(
            f"metadataColumns can name at most {MAX_COLUMNS} columns; got {len(columns)}"
        )
    return columns


def item_metadata(
    runtime: Runtime, dataset_group_arn: str, item_ids: Sequence[str], columns: Sequence[str]
) -> list[dict[str, str]]:
    """Each item's values of ``columns`` (as the request named them), strings."""
    rows = catalogs(runtime).items(runtime, dataset_group_arn)
    if not rows.fields:
        raise InvalidInput(
            f"Dataset group {dataset_group_arn} has no item data, so there is no item "
            "metadata to return"
        )
    stored: list[tuple[str, str]] = []
    for name in columns:
        column = rows.field(name)
        if column is None:
            raise InvalidInput(
                f"Column {name} is not in the Items dataset; its columns are "
                f"{', '.join(rows.fields)}"
            )
        stored.append((name, column))
    result = []
    for item_id in item_ids:
        row = rows.rows.get(item_id) or {}
        result.append(
            {name: _text(row[column]) for name, column in stored if row.get(column) is not None}
        )
    return result


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        return "|".join(str(part) for part in value)
    return str(value)
