"""Sensor profiles and their normal signal."""

from __future__ import annotations

import random
import statistics

from simulator.sensors import DAY_MS, Sensor, make_fleet, make_sensor, sensor_id, site_name


def test_names() -> None:
    assert [site_name(i) for i in (0, 1, 25, 26, 27)] == [
        "plant-a",
        "plant-b",
        "plant-z",
        "plant-aa",
        "plant-ab",
    ]
    assert sensor_id(7) == "sensor-0007" and sensor_id(12345) == "sensor-12345"


def test_profiles_depend_on_seed_and_index_only() -> None:
    fleet = make_fleet(seed=3, count=50, sites=4)
    assert fleet[10] == make_sensor(3, 10, 4)
    assert make_fleet(seed=3, count=10, sites=4, first=40)[0] == fleet[40]
    assert make_fleet(seed=4, count=50, sites=4) != fleet
    assert {s.site for s in fleet} == {"plant-a", "plant-b", "plant-c", "plant-d"}
    assert len({s.baseline_c for s in fleet}) > 40  # each sensor has its own baseline
    for s in fleet:
        assert 18 <= s.baseline_c <= 26 and 1 <= s.amplitude_c <= 4 and s.noise_c <= 0.3


def test_daily_cycle_without_noise() -> None:
    sensor = Sensor(0, "s", "p", baseline_c=20.0, amplitude_c=3.0, phase=0.0, noise_c=0.0)
    rng = random.Random(0)
    assert abs(sensor.normal(0, rng) - 20.0) < 1e-9
    assert abs(sensor.normal(DAY_MS // 4, rng) - 23.0) < 1e-9
    assert abs(sensor.normal(3 * DAY_MS // 4, rng) + -17.0) < 1e-9
    assert abs(sensor.normal(DAY_MS + DAY_MS // 4, rng) - 23.0) < 1e-9  # repeats daily


def test_noise_has_the_profile_spread() -> None:
    sensor = Sensor(0, "s", "p", baseline_c=20.0, amplitude_c=0.0, phase=0.0, noise_c=0.2)
    rng = random.Random(1)
    values = [sensor.normal(0, rng) for _ in range(20_000)]
    assert abs(statistics.fmean(values) - 20.0) < 0.01
    assert abs(statistics.pstdev(values) - 0.2) < 0.01
