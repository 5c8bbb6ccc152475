"""The split's choice of version in process: shares within ±2 % over 10,000 keys, stable per key."""

from kumo.custom_models.registry import CustomModel


def test_split_of_10000_keys_lands_within_2_percent_and_is_stable():
    model = CustomModel("churn", "v1", [], "", split={"v1": 90, "v2": 10})
    chosen = [model.version_for(f"user-{n}", 0.0) for n in range(10_000)]
    assert abs(chosen.count("v2") / 10_000 - 0.10) <= 0.02
    assert all(model.version_for(f"user-{n}", 0.99) == chosen[n] for n in range(0, 10_000, 97))
    three = CustomModel("churn", "v1", [], "", split={"a": 50, "b": 30, "c": 20})
    picks = [three.version_for(str(n), 0.0) for n in range(10_000)]
    for version, share in (("a", 0.5), ("b", 0.3), ("c", 0.2)):
        assert abs(picks.count(version) / 10_000 - share) <= 0.02
    # no key: the draw decides; no split: the served version
    assert model.version_for(None, 0.95) == "v2" and model.version_for(None, 0.2) == "v1"
    assert CustomModel("churn", "v3", [], "").version_for("user-1", 0.95) == "v3"
