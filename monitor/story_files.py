"""Reading and writing the story assignment weights (`config/stories.toml`)."""

from __future__ import annotations

from pathlib import Path

from monitor.config import StorySettings, read_toml
from monitor.errors import ConfigError
from monitor.events import FEATURES, SameEventModel, StoryModels, cosine_only_models

LEVELS = ("event", "thread")


def story_models_for(settings: StorySettings, model_id: str) -> StoryModels:
    """The weights in `settings.model_file` when they were fitted for the encoder `model_id`;
    for another encoder the plain cosine at `same_story_threshold` (time-gated) decides."""
    windows = (settings.event_window_h, settings.window_days * 24.0)
    if read_toml(settings.model_file).get("model_id") != model_id:
        return cosine_only_models(settings.same_story_threshold, *windows)
    return load_story_models(settings.model_file, *windows)


def load_story_models(path: Path, event_window_h: float, thread_window_h: float) -> StoryModels:
    """Both levels' weights from `path`; the time gates come from the settings."""
    data = read_toml(path)
    windows = {"event": event_window_h, "thread": thread_window_h}
    try:
        models = {}
        for level in LEVELS:
            section = data[level]
            weights = {str(k): float(v) for k, v in section["weights"].items()}
            unknown = set(weights) - set(FEATURES)
            if unknown:
                raise ConfigError(f"{path}: {level}.weights: unknown feature {sorted(unknown)[0]}")
            pair = section.get("pair_threshold")
            models[level] = SameEventModel(
                weights,
                float(section["bias"]),
                float(section["threshold"]),
                windows[level],
                None if pair is None else float(pair),
            )
    except (KeyError, TypeError, ValueError) as exc:
        raise ConfigError(f"{path}: missing or invalid {exc}") from None
    return StoryModels(models["event"], models["thread"])


def write_story_models(path: Path, models: StoryModels, model_id: str, comment: str) -> None:
    lines = [f"# {line}" if line else "#" for line in comment.splitlines()]
    lines += [f'model_id = "{model_id}"']
    for level, model in zip(LEVELS, (models.event, models.thread), strict=True):
        lines += [
            "",
            f"[{level}]",
            f"threshold = {model.threshold:.4f}",
            *(
                []
                if model.pair_threshold is None
                else [f"pair_threshold = {model.pair_threshold:.4f}"]
            ),
            f"bias = {model.bias:.4f}",
        ]
        lines += ["", f"[{level}.weights]"]
        lines += [
            f"{name} = {model.weights[name]:.4f}" for name in FEATURES if name in model.weights
        ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
