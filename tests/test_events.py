from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from monitor.config import StorySettings
from monitor.errors import ConfigError
from monitor.events import (
    EVENT_CUT,
    EVENT_FEATURES,
    FEATURES,
    PAIR_EVENT_MIN_PRECISION,
    THREAD_CUT,
    SameEventModel,
    StoryModels,
    cosine_only_models,
    decide_pair,
    fit_level,
    gather_evidence,
    is_same_event,
    jaccard,
    pair_event_cut,
    pair_features,
    parse_published,
    same_event_probability,
    thread_as_decided,
)
from monitor.story_evidence import name_key
from monitor.story_files import load_story_models, story_models_for, write_story_models


class TestEvidence:
    def test_names_exclude_sentence_openers_and_fold_inflections(self) -> None:
        """Capitalised words inside a sentence are names, folded to a stem; openers are not."""
        evidence = gather_evidence(
            "Putin hosts Venezuela's Maduro", "Both leaders met. Maduros left."
        )
        assert {name_key("Venezuela"), name_key("Maduro")} <= evidence.names
        assert name_key("Putin") in evidence.openers
        assert name_key("Putin") not in evidence.names and name_key("Both") not in evidence.names

    def test_cyrillic_names_and_numbers(self) -> None:
        """Russian names count as names; numbers keep their decimals whatever the separator."""
        evidence = gather_evidence("Россия и Венесуэла подписали 12 соглашений на 2,5 млрд", "")
        assert name_key("Venezuela") in evidence.names
        assert evidence.numbers == {"12", "2.5"}

    def test_conflict_and_agreement_features(self) -> None:
        """Disjoint names and numbers conflict; shared ones agree."""
        a = gather_evidence("Lavrov meets Rubio over 3 ships", "")
        b = gather_evidence("Wang meets Haddad over 5 ships", "")
        c = gather_evidence("Rubio and Lavrov discuss 3 ships", "")
        conflict = pair_features(0.7, 2.0, a, b)
        agree = pair_features(0.7, 2.0, a, c)
        assert conflict["names_conflict"] == 1.0 and conflict["numbers_conflict"] == 1.0
        assert agree["names_conflict"] == 0.0 and agree["numbers_shared"] == 1.0
        assert agree["names_jaccard"] > 0.5

    def test_unknown_gap_is_no_evidence(self) -> None:
        """A missing time counts like a gap of zero: neither for nor against."""
        e = gather_evidence("x", "")
        assert pair_features(0.5, None, e, e) == pair_features(0.5, 0.0, e, e)


class TestDecision:
    MODEL = SameEventModel({"cosine": 20.0, "gap_days": -2.0}, -12.0, 0.5, 48)

    def test_window_gates_everything(self) -> None:
        """Past the event window the probability is 0 whatever the cosine."""
        e = gather_evidence("x", "")
        assert same_event_probability(self.MODEL, 1.0, 49, e, e) == 0.0
        assert same_event_probability(self.MODEL, 1.0, 47, e, e) > 0.5

    def test_pair_probability_is_the_probability_of_the_pair_features(self) -> None:
        """The shortcut that computes only the weighed features gives the very float that the
        full feature dictionary gives, for every feature weighed alone and all together, on
        pairs that agree, conflict, cross languages and lack a time."""
        texts = [
            ("Lavrov meets Rubio over 3 ships", "Talks in Moscow."),
            ("Wang meets Haddad over 5 ships", ""),
            ("Rubio and Lavrov discuss 3 ships", "In Moscow, the ministers met."),
            ("Лавров встретился с Рубио", "Переговоры в Москве о 3 кораблях."),
            ("x", ""),
        ]
        evidence = [gather_evidence(title, summary) for title, summary in texts]
        weights = {name: 0.5 + n / 7 for n, name in enumerate(FEATURES)}
        models = [SameEventModel({name: w}, -1.0, 0.5, 48) for name, w in weights.items()]
        models.append(SameEventModel(weights, -3.0, 0.5, 48))
        pairs = [(a, b) for a in evidence for b in evidence]
        for model in models:
            for n, (a, b) in enumerate(pairs):
                cosine, gap = (0.1, 0.55, 0.9)[n % 3], (None, 3.0, 120.0)[n % 3]
                expected = model.probability(pair_features(cosine, gap, a, b))
                assert model.pair_probability(cosine, gap, a, b) == expected

    def test_cosine_only_models_cut_at_the_threshold(self) -> None:
        """The fallback decides by the cosine at the threshold, inside each window."""
        models = cosine_only_models(0.6, 48, 168)
        e = gather_evidence("x", "")
        assert same_event_probability(models.event, 0.61, 1, e, e) >= 0.5
        assert same_event_probability(models.event, 0.59, 1, e, e) < 0.5
        assert same_event_probability(models.thread, 0.61, 100, e, e) >= 0.5

    def test_pair_decision_reads_published(self) -> None:
        """A pair's sides' times gate the event level but not, within a week, the thread."""
        models = cosine_only_models(0.6, 48, 168)
        pair = {
            "a": {"title": "x", "text": "", "published": "2026-01-01T00:00:00Z"},
            "b": {"title": "x", "text": "", "published": "2026-01-04"},
        }
        decision = decide_pair(models, pair, 0.9)
        assert not decision.same_event and decision.same_thread

    def test_parse_published(self) -> None:
        """ISO times with Z, bare days (noon UTC), and nothing usable."""
        assert parse_published("2026-01-01T03:00:00Z") == datetime(2026, 1, 1, 3, tzinfo=UTC)
        assert parse_published("2026-01-01") == datetime(2026, 1, 1, 12, tzinfo=UTC)
        assert parse_published(None) is None and parse_published("soon") is None


class TestOverlap:
    def test_jaccard_is_shared_over_union(self) -> None:
        """Jaccard counts the union without building it: shared / (|a| + |b| - shared)."""
        a, b = frozenset({"put", "mad", "mos"}), frozenset({"mad", "mos", "kar", "oil"})
        assert jaccard(a, b) == len(a & b) / len(a | b) == 2 / 5
        assert jaccard(a, frozenset()) == 0.0 == jaccard(frozenset({"x"}), frozenset({"y"}))


class TestFit:
    def test_fit_learns_the_signs_and_reports_per_origin(self) -> None:
        """Cosine helps and name conflicts hurt; held-out figures come per origin."""
        rows, labels, origins = [], [], []
        for i in range(80):
            same = i % 2 == 0
            cosine = 0.75 + (i % 7) / 50 if same else 0.55 + (i % 5) / 50
            conflict = 0.0 if same else float(i % 3 != 0)
            row = dict.fromkeys(FEATURES, 0.0) | {"cosine": cosine, "names_conflict": conflict}
            rows.append([row[name] for name in FEATURES])
            labels.append(same)
            origins.append("a" if i < 40 else "b")
        fit = fit_level(rows, [1.0] * 80, labels, origins, 48, 0.5)
        assert fit.model.weights["cosine"] > 0 > fit.model.weights["names_conflict"]
        assert fit.f1 > 0.9 and set(fit.by_origin) == {"a", "b"}

    def test_another_fold_draw_moves_only_the_held_out_figures(self) -> None:
        """`first_seed` draws other folds: the weights, fitted on all pairs, stay; held-out
        probabilities near the cut may change."""
        rows, labels = [], []
        for i in range(60):
            cosine = 0.4 + (i * 37 % 60) / 100
            rows.append([cosine, float(i % 4 == 0)])
            labels.append(cosine + 0.1 * (i % 3) > 0.75)
        fits = [
            fit_level(rows, [1.0] * 60, labels, ["o"] * 60, 48, 0.5, None, ("cosine", "x"), s)
            for s in (0, 10, 20)
        ]
        assert fits[0].model == fits[1].model == fits[2].model
        assert len({(f.log_loss, f.sweep) for f in fits}) > 1

    def test_thread_as_decided_joins_both_levels_inside_their_windows(self) -> None:
        """Same event (high cosine) or follow-up (shared names, lower cosine) is one thread;
        held out, the decision finds both kinds; pairs past both windows never join."""
        rows, events, threads = [], [], []
        for i in range(90):
            kind = i % 3  # 0 same event, 1 follow-up, 2 unrelated
            row = dict.fromkeys(FEATURES, 0.0) | {
                "cosine": (0.9, 0.5, 0.2)[kind] + (i % 5) / 100,
                "names_jaccard": (0.5, 0.8, 0.0)[kind],
            }
            rows.append([row[name] for name in FEATURES])
            events.append(None if i % 9 == 4 else kind == 0)
            threads.append(kind < 2)
        groups = list(range(90))
        near = thread_as_decided((rows, rows), [1.0] * 90, events, threads, (48, 168), groups)
        assert near == {THREAD_CUT: (1.0, 1.0, 1.0)}
        far = thread_as_decided(
            (rows, rows), [500.0] * 90, events, threads, (48, 168), groups, (0.4, 0.6)
        )
        assert set(far) == {0.4, 0.6} and far[0.4][1] == 0.0 == far[0.6][1]
        # the follow-ups (cosine 0.5) are one thread only through the event model at a loose
        # event cut, when the thread cut is out of reach
        strict = thread_as_decided(
            (rows, rows), [1.0] * 90, events, threads, (48, 168), groups, (0.999,), 0.999
        )
        loose = thread_as_decided(
            (rows, rows), [1.0] * 90, events, threads, (48, 168), groups, (0.999,), 0.001
        )
        assert strict[0.999][1] < loose[0.999][1]


class TestFiles:
    def test_round_trip(self, tmp_path: Path) -> None:
        """Written weights read back equal, with the settings' windows."""
        models = StoryModels(
            SameEventModel(dict.fromkeys(FEATURES, 0.5), -1.0, 0.6, 48),
            SameEventModel(dict.fromkeys(FEATURES, 0.25), -2.0, 0.5, 168, 0.4),
        )
        path = tmp_path / "stories.toml"
        write_story_models(path, models, "enc", "fitted\non test")
        assert load_story_models(path, 48, 168) == models
        assert "pair_threshold = 0.4000" in path.read_text()

    def test_a_level_without_some_features_writes_and_reads_only_its_own(
        self, tmp_path: Path
    ) -> None:
        """An event model over EVENT_FEATURES is written without the features it leaves out
        and reads back equal (not with those features at weight 0)."""
        models = StoryModels(
            SameEventModel(dict.fromkeys(EVENT_FEATURES, 0.5), -1.0, 0.6, 48),
            SameEventModel(dict.fromkeys(FEATURES, 0.25), -2.0, 0.5, 168),
        )
        path = tmp_path / "stories.toml"
        write_story_models(path, models, "enc", "x")
        event_section = path.read_text().split("[thread]")[0]
        assert "words_overlap" not in event_section and "names_jaccard" not in event_section
        assert load_story_models(path, 48, 168) == models

    def test_weights_for_another_encoder_fall_back_to_the_cosine(self, tmp_path: Path) -> None:
        """Weights fitted for one encoder are not applied to another."""
        path = tmp_path / "stories.toml"
        models = cosine_only_models(0.5, 48, 168)
        write_story_models(path, models, "enc", "x")
        settings = StorySettings(model_file=path, same_story_threshold=0.7)
        assert story_models_for(settings, "other") == cosine_only_models(0.7, 48, 168)
        assert story_models_for(settings, "enc") == load_story_models(path, 48, 168)

    def test_unknown_feature_is_a_config_error(self, tmp_path: Path) -> None:
        """A misspelt feature names the file."""
        path = tmp_path / "stories.toml"
        path.write_text(
            "[event]\nthreshold=0.5\nbias=0\n[event.weights]\ncosin=1\n"
            "[thread]\nthreshold=0.5\nbias=0\n[thread.weights]\ncosine=1\n"
        )
        with pytest.raises(ConfigError, match="unknown feature cosin"):
            load_story_models(path, 48, 168)

    def test_a_pair_alone_uses_the_pair_cut_and_a_stream_the_thread_cut(self) -> None:
        """A pair whose thread probability lies between the pair cut and the stream's thread
        cut is one thread when judged alone (`decide_pair`) but not by the stream's test."""
        steep = {"cosine": 20.0}
        thread = SameEventModel(steep, -10.0, 0.65, 168, 0.45)  # p = 0.5 at cosine 0.5
        models = StoryModels(SameEventModel(steep, -18.0, 0.55, 48), thread)
        pair = {"a": {"title": "Lavrov meets Rubio"}, "b": {"title": "Wang meets Haddad"}}
        decision = decide_pair(models, pair, 0.5)
        assert not decision.same_event and decision.same_thread
        e, f = gather_evidence("Lavrov meets Rubio", ""), gather_evidence("Wang meets Haddad", "")
        assert not is_same_event(thread, 0.5, None, e, f)
        assert thread.cut_for_a_pair == 0.45
        assert SameEventModel(steep, -10.0, 0.65, 168).cut_for_a_pair == 0.65
        lone = StoryModels(models.event, SameEventModel(steep, -10.0, 0.65, 168))
        assert not decide_pair(lone, pair, 0.5).same_thread

    def test_a_pair_alone_uses_the_event_pair_cut(self) -> None:
        """An event probability between the event's pair cut and its stream cut is the same
        event for a pair judged alone, but not by the stream's test; without a pair cut the
        stream's cut decides both."""
        steep = {"cosine": 20.0}
        event = SameEventModel(steep, -10.0, 0.55, 48, 0.45)  # p = 0.5 at cosine 0.5
        models = StoryModels(event, SameEventModel(steep, -18.0, 0.65, 168))
        pair = {"a": {"title": "Lavrov meets Rubio"}, "b": {"title": "Rubio meets Lavrov"}}
        decision = decide_pair(models, pair, 0.5)
        assert decision.same_event and decision.same_thread
        e = gather_evidence("Lavrov meets Rubio", "")
        assert not is_same_event(event, 0.5, None, e, e)
        lone = StoryModels(SameEventModel(steep, -10.0, 0.55, 48), models.thread)
        assert not decide_pair(lone, pair, 0.5).same_event

    def test_the_event_pair_cut_is_the_best_f1_with_enough_precision(self) -> None:
        """Of the swept cuts, the pair cut has the best held-out F1 among those whose precision
        reaches the floor; a sweep where none does falls back to the stream's cut."""
        low = PAIR_EVENT_MIN_PRECISION - 0.01
        sweep = (
            (0.4, low, 0.99, 0.95),  # best F1, but too imprecise
            (0.45, 0.95, 0.90, 0.92),
            (0.5, 0.96, 0.88, 0.92),  # tie on F1: the higher cut
            (0.55, 0.97, 0.80, 0.88),
            (0.7, 0.99, 0.95, 0.97),  # not a pair cut
        )
        assert pair_event_cut(sweep) == 0.5
        assert pair_event_cut(((0.45, low, 0.9, 0.9), (0.5, low, 0.8, 0.85))) == EVENT_CUT

    def test_shipped_weights_load(self) -> None:
        """config/stories.toml is fitted for the default encoder and loads."""
        models = story_models_for(StorySettings(), "use-multilingual-v3")
        assert models.event.weights["cosine"] > 0 and models.event.window_h == 48

    def test_shipped_event_weights_are_over_the_event_features(self) -> None:
        """The shipped event level weighs EVENT_FEATURES (no summary-word overlap, no names'
        Jaccard); the thread level weighs every feature."""
        models = story_models_for(StorySettings(), "use-multilingual-v3")
        assert set(models.event.weights) == set(EVENT_FEATURES) < set(FEATURES)
        assert "names_conflict" not in EVENT_FEATURES and "numbers_conflict" in EVENT_FEATURES
        assert models.event.cut_for_a_pair < models.event.threshold
        assert set(models.thread.weights) == set(FEATURES)

    def test_shipped_weights_rise_with_the_cosine(self) -> None:
        """With the cosine and its square both weighted, the shipped probability still never
        falls as the cosine rises (over the cosines the candidates can have), at both levels."""
        models = story_models_for(StorySettings(), "use-multilingual-v3")
        e = gather_evidence("Lavrov meets Rubio", "")
        f = gather_evidence("Wang meets Haddad", "")
        for model in (models.event, models.thread):
            probabilities = [same_event_probability(model, c / 20, 3.0, e, f) for c in range(0, 21)]
            assert probabilities == sorted(probabilities)
            assert probabilities[-1] > probabilities[0]
