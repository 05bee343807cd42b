"""The feedback loop end to end: judgements made on the pages of a real `monitor run`, exported
as JSONL, scored by `monitor eval relevance --feedback`, refitted by `monitor eval
fit-relevance --feedback --apply`, applied by `monitor rescore`, and the next cycle's
decisions following the analyst."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Any

import httpx
import pytest

from monitor.loopback import FeedServer
from tests.browser_support import (
    LoopbackFeeds,
    Story,
    judge_on_pages,
    monitor_cli,
    running_monitor,
)

# Every item names Russia and a Latin American country, so the shipped tagger calls them all
# relevant. The analyst disagrees about one kind: anniversaries of the Cold War are history,
# not relations. Only the history cue tells the two kinds apart, so a refit on the analyst's
# judgements must learn it.
RELATIONS = [
    Story(
        "r1",
        "Russia and Venezuela sign an oil cooperation agreement in Caracas",
        "Rosneft and PDVSA agreed to expand joint production.",
        1,
    ),
    Story(
        "r2",
        "Moscow and Havana agree to expand trade and banking ties",
        "Russian and Cuban ministers signed a trade protocol.",
        2,
    ),
    Story(
        "r3",
        "Lavrov and Nicaragua's foreign minister sign a security pact",
        "Russia will train Nicaraguan police officers.",
        3,
    ),
    Story(
        "r4",
        "Russia and Bolivia sign a lithium extraction deal",
        "Rosatom's Uranium One will build a lithium plant in Potosí.",
        4,
    ),
    Story(
        "r5",
        "Putin and Lula agree on fertiliser supplies to Brazil",
        "Russia will increase potash exports to Brazilian farmers.",
        5,
    ),
    Story(
        "r6",
        "Russian and Peruvian ministers sign a wheat accord",
        "Peru will import Russian wheat under a new agreement.",
        6,
    ),
    Story(
        "r7",
        "Russia and Argentina sign a nuclear power agreement",
        "Rosatom will supply fuel to an Argentine reactor.",
        7,
    ),
]
HISTORY = [
    Story(
        "h1",
        "Cuba marks the anniversary of the 1962 missile crisis with Russian diplomats",
        "Veterans in Havana recalled the Cold War standoff with Moscow.",
        8,
    ),
    Story(
        "h2",
        "Historians in Caracas and Moscow revisit the Cold War",
        "A Russian and Venezuelan conference on the cold war era opened.",
        9,
    ),
    Story(
        "h3",
        "Russian museum shows Cuban photos from the missile crisis",
        "The exhibition in Moscow recalls the 1962 crisis in Cuba.",
        10,
    ),
    Story(
        "h4",
        "Nicaragua and Russia recall their cold war friendship",
        "Russian and Nicaraguan veterans met in Managua to remember the cold war.",
        11,
    ),
    Story(
        "h5",
        "Mexico hosts Russian scholars on the 1962 missile crisis",
        "The Cold War seminar brought Russian historians to Mexico City.",
        12,
    ),
    Story(
        "h6",
        "Chile and Russia remember cold war exiles",
        "Russian and Chilean writers recalled the cold war at a Santiago book fair.",
        13,
    ),
    Story(
        "h7",
        "Argentina's archive opens cold war files on Russia",
        "Documents on Soviet and Russian contacts in Buenos Aires during the cold war.",
        14,
    ),
]
NEXT_RELATION = Story(
    "r8",
    "Russia and Colombia sign a coffee and fertiliser trade agreement",
    "Colombian exporters and Russian importers agreed on new deliveries.",
    0,
)
NEXT_HISTORY = Story(
    "h8",
    "Bolivia and Russia recall the cold war years at a 1962 missile crisis seminar",
    "Russian and Bolivian historians met in La Paz to discuss the cold war.",
    0,
)


def by_guid(matches: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {m["url"].rsplit("/", 1)[-1]: m for m in matches}


def analyst_says(guid: str) -> bool:
    return guid.startswith("r")


def tagged(config: Path, workdir: Path, story: Story) -> bool:
    """The tagger's decision on `story` under the weights `config` names (`monitor tag`)."""
    items = workdir / f"tag-{story.guid}.jsonl"
    items.write_text(json.dumps({"id": story.guid, "title": story.title, "summary": story.summary}))
    result = monitor_cli(config, "tag", "--input", str(items))
    assert result.returncode == 0, result.stderr
    relevant: bool = json.loads(result.stdout.splitlines()[0])["relevant"]
    return relevant


@pytest.mark.slow
def test_judgements_on_pages_retrain_the_tagger(tmp_path: Path) -> None:
    """Judgements posted through the pages reach GET /feedback and the JSONL export; eval
    scores the shipped tagger on them, the refit learns them, rescore applies them to stored
    matches and the next cycle tags new articles the analyst's way."""
    with FeedServer() as server:
        feeds = LoopbackFeeds(server, {"en": RELATIONS + HISTORY})
        with running_monitor(tmp_path, feeds) as service:
            matches = by_guid(service.matches())
            disagreements = {
                g for g, m in matches.items() if m["tagger_relevant"] != analyst_says(g)
            }
            assert disagreements, "the shipped tagger calls some anniversaries relevant"
            with httpx.Client(base_url=service.base_url, timeout=30) as pages:
                for guid, match in matches.items():
                    judge_on_pages(pages, match["id"], relevant=analyst_says(guid))
            with service.client() as api:
                judged = api.get("/feedback", params={"limit": 100}).json()["items"]
                export = api.get("/feedback/relevance.jsonl")
            assert {(j["article_id"], j["relevant"], j["author"]) for j in judged} == {
                (m["article_id"], analyst_says(g), "local") for g, m in matches.items()
            }
            lines = [json.loads(line) for line in export.text.splitlines() if line.strip()]
            assert sorted((line["title"], line["label"]) for line in lines) == sorted(
                (s.title, int(analyst_says(s.guid))) for s in RELATIONS + HISTORY
            )
            shown = by_guid(service.matches(relevant="true"))
            assert set(shown) == {s.guid for s in RELATIONS}  # the judgements apply at once

        assert tagged(service.config, tmp_path, NEXT_HISTORY), "shipped weights: relevant"
        before = monitor_cli(service.config, "eval", "relevance", "--feedback", "--format", "json")
        assert before.returncode == 0, before.stderr
        assert json.loads(before.stdout)["precision"] < 1

        weights = tmp_path / "relevance.toml"
        shipped = weights.read_text()
        fit = monitor_cli(service.config, "eval", "fit-relevance", "--feedback", "--apply")
        assert fit.returncode == 0, fit.stderr
        assert tomllib.loads(weights.read_text()) != tomllib.loads(shipped)
        assert [p.read_text() for p in tmp_path.glob("relevance*.bak")] == [shipped]

        rescored = monitor_cli(service.config, "rescore")
        assert rescored.returncode == 0, rescored.stderr

        with running_monitor(tmp_path, feeds) as service:
            stored = by_guid(service.matches())
            assert {g for g, m in stored.items() if m["tagger_relevant"]} == {
                s.guid for s in RELATIONS
            }
            feeds.publish("en", NEXT_RELATION)
            feeds.publish("en", NEXT_HISTORY)
            latest = by_guid(service.wait_for_matches(len(stored) + 2))
        assert latest["r8"]["relevant"] and latest["r8"]["override"] is None
        assert not latest["h8"]["relevant"] and latest["h8"]["override"] is None

        after = monitor_cli(service.config, "eval", "relevance", "--feedback", "--format", "json")
        assert json.loads(after.stdout)["f1"] > json.loads(before.stdout)["f1"]
