"""Sensor profiles and their normal signal: baseline + daily cycle + noise."""

from __future__ import annotations

import math
import random
import string
from dataclasses import dataclass

DAY_MS = 86_400_000
_TWO_PI = 2.0 * math.pi


@dataclass(frozen=True)
class Sensor:
    """A sensor's identity and the parameters of its normal signal."""

    index: int
    sensor_id: str
    site: str
    baseline_c: float  # mean temperature of the room it sits in
    amplitude_c: float  # half the day/night swing
    phase: float  # where in the daily cycle it peaks (radians)
    noise_c: float  # standard deviation of the measurement noise

    def normal(self, ts: int, rng: random.Random) -> float:
        """The undisturbed temperature at event time ``ts`` (ms), one noise draw from ``rng``."""
        cycle = math.sin(_TWO_PI * (ts % DAY_MS) / DAY_MS + self.phase)
        return self.baseline_c + self.amplitude_c * cycle + rng.gauss(0.0, self.noise_c)


def site_name(index: int) -> str:
    """``plant-a``, ``plant-b``, ... ``plant-z``, ``plant-aa``, ... for site ``index``."""
    letters = string.ascii_lowercase
    name = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        name = letters[rest] + name
    return f"plant-{name}"


def sensor_id(index: int) -> str:
    """``sensor-0007`` for sensor 7 (wider once there are more than 10,000)."""
    return f"sensor-{index:04d}"


def make_sensor(seed: int, index: int, sites: int) -> Sensor:
    """Sensor ``index``'s profile: depends only on the seed and the index, not the fleet size."""
    rng = random.Random(f"{seed}:sensor:{index}")
    return Sensor(
        index=index,
        sensor_id=sensor_id(index),
        site=site_name(index % sites),
        baseline_c=round(rng.uniform(18.0, 26.0), 2),
        amplitude_c=round(rng.uniform(1.0, 4.0), 2),
        phase=rng.uniform(0.0, _TWO_PI),
        noise_c=round(rng.uniform(0.05, 0.3), 3),
    )


def make_fleet(seed: int, count: int, sites: int, first: int = 0) -> list[Sensor]:
    """Sensors ``first`` .. ``first + count - 1``."""
    return [make_sensor(seed, index, sites) for index in range(first, first + count)]
