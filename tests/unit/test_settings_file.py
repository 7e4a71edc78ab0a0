"""The settings file: the rules a trading centre sets for itself, checked when the service
starts, every error naming the file and the key (or the line)."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from expertdraw.config import ConfigError, from_environment
from expertdraw.domain.alert_thresholds import merge_thresholds
from expertdraw.domain.eligibility_config import Rules
from expertdraw.settings_file import SettingsError, parse, read

FULL = """\
[eligibility]
frequency_limit = 3
frequency_days = 60
travel_buffer = "PT3H"
stale_share_limit = "1/4"
region_policy = "exclude-county"
utc_offset = "+06:00"

[alerts.refusal-rate]
ratio = "2/3"

[alerts.no-show]
count = 2

[timers]
response_window_minutes = 20
announce_timeout_minutes = 45
checkpoint_interval_seconds = 120

[replacements]
supplementary_retries = 5

[retention]
days = 1825

[reports]
timezone = "Asia/Urumqi"
lookback = { daily = 14, monthly = 6 }
"""


def test_a_full_file_gives_the_settings(tmp_path):
    path = tmp_path / "settings.toml"
    path.write_text(FULL, encoding="utf-8")
    settings = read(path)
    rules = Rules.from_mapping(settings["ELIGIBILITY_RULES"])
    assert rules.frequency_limit == 3 and rules.region_policy == "exclude-county"
    assert str(rules.stale_share_limit) == "1/4"
    merged = merge_thresholds(settings["ALERT_THRESHOLDS"])
    assert merged["refusal-rate"] == {"ratio": "2/3", "min_answers": 4, "days": 90}
    assert merged["no-show"] == {"count": 2, "days": 90}
    assert settings["RESPONSE_WINDOW_MINUTES"] == 20
    assert settings["ANNOUNCE_TIMEOUT_MINUTES"] == 45
    assert settings["CHECKPOINT_INTERVAL_SECONDS"] == 120
    assert settings["SUPPLEMENTARY_RETRIES"] == 5
    assert settings["RETENTION_DAYS"] == 1825
    assert settings["REPORT_TIMEZONE"] == "Asia/Urumqi"
    assert settings["REPORT_LOOKBACK"] == {"daily": 14, "monthly": 6}


@pytest.mark.parametrize(
    ("document", "named"),
    [
        ({"reports": {"timezone": "Asia/Urumqi"}}, "Asia/Urumqi is UTC+06:00"),
        ({"eligibility": {"utc_offset": "+06:00"}}, "Asia/Shanghai is UTC+08:00"),
        (
            {"eligibility": {"utc_offset": "+01:00"}, "reports": {"timezone": "Europe/Paris"}},
            "Europe/Paris is UTC+02:00",  # in July: a zone with summer time has two offsets
        ),
        (
            # UTC+01:00 but for a few weeks around Ramadan: neither January nor July shows it.
            {
                "eligibility": {"utc_offset": "+01:00"},
                "reports": {"timezone": "Africa/Casablanca"},
            },
            "Africa/Casablanca is UTC+00:00",
        ),
    ],
)
def test_the_centre_keeps_one_time(document, named):
    """The zone of pages and reports and the rules' offset (the day of a window, notices)
    must agree, all year: else a report's day and an export's day would differ."""
    with pytest.raises(SettingsError, match=re.escape(named)) as refused:
        parse(document)
    assert "eligibility.utc_offset" in str(refused.value)


def test_a_zone_and_an_offset_that_agree_are_taken():
    settings = parse(
        {"eligibility": {"utc_offset": "+06:00"}, "reports": {"timezone": "Asia/Urumqi"}}
    )
    assert settings["REPORT_TIMEZONE"] == "Asia/Urumqi"
    assert parse({"reports": {"timezone": "Asia/Chongqing"}})["REPORT_TIMEZONE"] == "Asia/Chongqing"


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("[eligibilty]\nfrequency_limit = 3\n", "[eligibilty] is not a section"),
        ("[eligibility]\nfrequency_lmit = 3\n", "eligibility.frequency_lmit is not a rules"),
        ('[eligibility]\nfrequency_limit = "3"\n', "eligibility.frequency_limit must be an"),
        ("[eligibility]\nfrequency_limit = 0\n", "eligibility.frequency_limit must be 1 to"),
        ("[eligibility]\nfrequency_days = 99999999999999\n", "eligibility.frequency_days must"),
        ('[eligibility]\ntravel_buffer = "P400D"\n', "eligibility.travel_buffer"),
        ("[timers]\ncheckpoint_interval_seconds = 99999999999999\n", "must be 1 to 86400"),
        ("[retention]\ndays = 1000000\n", "retention.days must be 1 to 36500"),
        ("[alerts.frequency]\ndays = 99999999999\n", "alerts.frequency.days must be"),
        ("[eligibility]\nstale_share_limit = 0.2\n", "eligibility.stale_share_limit"),
        ('[eligibility]\nstale_share_limit = "1/0"\n', "an exact number like '0.2' or '1/5'"),
        ('[eligibility]\ntravel_buffer = "2 hours"\n', "eligibility.travel_buffer"),
        ('[eligibility]\nregion_policy = "nearby"\n', "eligibility.region_policy must be one"),
        ('[eligibility]\nutc_offset = "+25:00"\n', "eligibility.utc_offset"),
        ("eligibility = 3\n", "eligibility must be a table"),
        ("[alerts.fame]\ncount = 2\n", "alerts.fame is not an alert kind"),
        ("[alerts.frequency]\ncont = 2\n", "alerts.frequency.cont is not a key of frequency"),
        ('[alerts.refusal-rate]\nratio = "0.5"\n', "alerts.refusal-rate.ratio must be an exact"),
        # 0/1 would raise an alert about every expert with enough answers, refusals or none.
        ('[alerts.refusal-rate]\nratio = "0/1"\n', "alerts.refusal-rate.ratio must be more than"),
        ("[alerts.no-show]\ncount = 0\n", "alerts.no-show.count must be an integer of at least"),
        ("[alerts]\nno-show = 1\n", "alerts.no-show must be a table"),
        ("[timers]\nresponse_window_minutes = 0\n", "timers.response_window_minutes must be 1"),
        ("[timers]\nresponse_window = 30\n", "timers.response_window is not a setting"),
        ("[timers]\ncheckpoint_interval_seconds = 1.5\n", "timers.checkpoint_interval_seconds"),
        ("[replacements]\nsupplementary_retries = -1\n", "replacements.supplementary_retries"),
        ("[retention]\ndays = true\n", "retention.days must be an integer, got True"),
        ('[reports]\ntimezone = "Mars/Olympus"\n', "reports.timezone must be an IANA"),
        ("[reports]\nlookback = { hourly = 3 }\n", "reports.lookback.hourly is not a setting"),
        # 0 would issue no report at all, not even the period that just ended.
        ("[reports]\nlookback = { daily = 0 }\n", "reports.lookback.daily must be 1 to 1000"),
    ],
)
def test_a_bad_value_names_its_key(tmp_path, text, named):
    path = tmp_path / "settings.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(SettingsError) as refused:
        read(path)
    assert str(refused.value).startswith(f"{path}: ")
    assert named in str(refused.value)


def test_a_file_that_is_not_toml_names_the_line(tmp_path):
    path = tmp_path / "settings.toml"
    path.write_text("[eligibility]\nfrequency_limit = 3\nstale_days = \n", encoding="utf-8")
    with pytest.raises(SettingsError, match=r"is not valid TOML: .*line 3"):
        read(path)
    path.write_bytes("[retention]\n# 保留期\n".encode("gbk"))
    with pytest.raises(SettingsError, match="is not UTF-8 text"):
        read(path)


def test_the_service_starts_with_the_instance_file_or_the_named_one(tmp_path):
    instance = tmp_path / "instance"
    instance.mkdir()
    assert "ELIGIBILITY_RULES" not in from_environment({"EXPERTDRAW_INSTANCE_PATH": str(instance)})
    (instance / "settings.toml").write_text("[retention]\ndays = 400\n", encoding="utf-8")
    settings = from_environment({"EXPERTDRAW_INSTANCE_PATH": str(instance)})
    assert settings["RETENTION_DAYS"] == 400
    named = tmp_path / "centre.toml"
    named.write_text("[timers]\nresponse_window_minutes = 15\n", encoding="utf-8")
    env = {"EXPERTDRAW_INSTANCE_PATH": str(instance), "EXPERTDRAW_SETTINGS_FILE": str(named)}
    settings = from_environment(env)
    assert settings["RESPONSE_WINDOW_MINUTES"] == 15 and "RETENTION_DAYS" not in settings
    # The environment's own timer variable takes precedence over the file.
    settings = from_environment({**env, "EXPERTDRAW_RESPONSE_WINDOW_MINUTES": "25"})
    assert settings["RESPONSE_WINDOW_MINUTES"] == 25


def test_a_missing_or_bad_file_stops_the_service_naming_it(tmp_path):
    missing = tmp_path / "nowhere.toml"
    with pytest.raises(ConfigError, match="EXPERTDRAW_SETTINGS_FILE names no file"):
        from_environment({"EXPERTDRAW_SETTINGS_FILE": str(missing)})
    bad = tmp_path / "bad.toml"
    bad.write_text("[retention]\ndays = 0\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=f"settings file {bad}: retention.days must be 1 to"):
        from_environment({"EXPERTDRAW_SETTINGS_FILE": str(bad)})


def test_the_metrics_token_comes_from_the_environment():
    assert from_environment({})["METRICS_TOKEN"] is None
    assert from_environment({"EXPERTDRAW_METRICS_TOKEN": "t0k"})["METRICS_TOKEN"] == "t0k"


LIMITS = {
    "former_employer_years": (0, 100),
    "penalty_years": (0, 100),
    "frequency_limit": (1, 10**9),
    "frequency_days": (1, 36_500),
    "same_tenderer_days": (0, 36_500),
    "stale_days": (0, 36_500),
}


@given(key=st.sampled_from(sorted(LIMITS)), value=st.integers(-1000, 10**15))
def test_an_eligibility_count_is_taken_within_its_bounds(key, value):
    """Any integer within a limit's bounds is taken as given; any other is refused naming
    the key (a huge one would put the dates the rules compute off the calendar)."""
    low, high = LIMITS[key]
    if low <= value <= high:
        settings = parse({"eligibility": {key: value}})
        assert getattr(Rules.from_mapping(settings["ELIGIBILITY_RULES"]), key) == value
    else:
        with pytest.raises(SettingsError, match=f"eligibility.{key} must be {low} to {high}"):
            parse({"eligibility": {key: value}})


@given(
    kind=st.sampled_from(["frequency", "consecutive", "no-show"]),
    key=st.sampled_from(["count", "days"]),
    value=st.integers(-50, 5000),
)
def test_an_alert_count_is_taken_from_one_up(kind, key, value):
    if value >= 1:
        settings = parse({"alerts": {kind: {key: value}}})
        assert merge_thresholds(settings["ALERT_THRESHOLDS"])[kind][key] == value
    else:
        with pytest.raises(SettingsError, match=f"alerts.{kind}.{key} must be an integer"):
            parse({"alerts": {kind: {key: value}}})
