"""Settings for the whole suite. Hypothesis judges an example by its outcome, never by how
long it took: on a shared two-core machine its default 200 ms deadline fails examples that
are only slow (a timed test measures the machine, not the product; speed is bench/'s)."""

from hypothesis import settings

settings.register_profile("maytrain", deadline=None)
settings.load_profile("maytrain")
