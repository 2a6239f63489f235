"""Settings for the bare-view baseline of bench/signup.py: the product's settings, another URLconf."""

from rundbrief.settings import *  # noqa: F403

ROOT_URLCONF = "bench.bare_urls"
