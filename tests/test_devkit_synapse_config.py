"""The development homeserver's config offers MSC4140 delayed events unless told not to."""

from pathlib import Path

import pytest
import yaml  # type: ignore[import-untyped]

from consultbot.devkit.synapse_config import (
    MAX_DELAYED_EVENTS,
    MAX_EVENT_DELAY,
    SynapseSettings,
    write_config,
)


def settings(folder: Path, **more: bool) -> SynapseSettings:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "homeserver.yaml").write_text(
        "server_name: localhost\nregistration_shared_secret: s3cret\n"
        "max_event_delay_duration: 5m\n",  # left by an earlier start: rewritten every time
        encoding="utf-8",
    )
    return SynapseSettings(
        data_dir=folder,
        port=8008,
        server_name="localhost",
        relax_rate_limits=False,
        fast_passwords=False,
        federation_port=None,
        **more,
    )


def written(folder: Path) -> dict[str, object]:
    config = yaml.safe_load((folder / "homeserver.yaml").read_text(encoding="utf-8"))
    assert isinstance(config, dict)
    return config


@pytest.mark.parametrize(("on", "expected"), [(True, MAX_EVENT_DELAY), (False, None)])
def test_delayed_events_are_offered_by_default(
    tmp_path: Path, on: bool, expected: str | None
) -> None:
    write_config(settings(tmp_path, delayed_events=on))
    assert written(tmp_path).get("max_event_delay_duration") == expected


def test_the_default_is_on(tmp_path: Path) -> None:
    write_config(settings(tmp_path))
    assert written(tmp_path)["max_event_delay_duration"] == MAX_EVENT_DELAY


@pytest.mark.parametrize(("on", "expected"), [(True, MAX_DELAYED_EVENTS), (False, None)])
def test_a_notice_per_open_consult_fits_under_the_cap_on_pending_delayed_events(
    tmp_path: Path, on: bool, expected: int | None
) -> None:
    """Synapse's default cap (100 pending per user) is raised as docs/deploy.md asks; the
    file's other experimental features are kept."""
    made = settings(tmp_path, delayed_events=on)
    with (tmp_path / "homeserver.yaml").open("a", encoding="utf-8") as out:
        # An earlier start's cap is rewritten (dropped when delayed events are off).
        out.write(
            "experimental_features:\n  msc3266_enabled: true\n"
            "  msc4140_max_delayed_events_per_user: 7\n"
        )
    write_config(made)
    features = written(tmp_path)["experimental_features"]
    assert isinstance(features, dict)
    assert features.get("msc4140_max_delayed_events_per_user") == expected
    assert features.get("msc3266_enabled") is True
