"""The small shared helpers: le4nn._registry, le4nn._env and le4nn._numbers."""

from __future__ import annotations

import numpy as np
import pytest

from le4nn._env import positive_int_from_env
from le4nn._numbers import ByteBudget, all_whole_numbers, whole_number_mask
from le4nn._registry import Configurable, Registry


class Thing(Configurable):
    def __init__(self, size=1):
        self.size = size

    def get_config(self):
        return {"size": self.size}


class Other(Thing):
    pass


REGISTRY = Registry("thing", "things", Thing, {"thing": Thing, "other_thing": Other})


def test_registry_round_trip_and_lookup():
    assert REGISTRY.serialize(Other(3)) == {"class_name": "Other", "config": {"size": 3}}
    again = REGISTRY.get({"class_name": "Other", "config": {"size": 3}})
    assert type(again) is Other and again.size == 3 and repr(again) == "Other(size=3)"
    assert type(REGISTRY.get(" Other_Thing ")) is Other and type(REGISTRY.get(Thing)) is Thing
    thing = Thing()
    assert REGISTRY.get(thing) is thing


def test_registry_errors():
    with pytest.raises(TypeError, match=r"^things.serialize: expected a Thing, got 3$"):
        REGISTRY.serialize(3)
    with pytest.raises(ValueError, match=r"unknown thing 'nope': valid names are other_thing, thing"):
        REGISTRY.get("nope")
    with pytest.raises(ValueError, match=r"^things: a config dict needs 'class_name'"):
        REGISTRY.deserialize({"config": {}})
    with pytest.raises(ValueError, match=r"^could not interpret thing identifier 2.5$"):
        REGISTRY.get(2.5)
    with pytest.raises(ValueError, match=r"could not interpret thing 2.5: give a name \(other_thing, thing\), a Thing"):
        REGISTRY.get(2.5, hint="a Thing")
    assert REGISTRY.get(len, accepts=callable) is len


def test_positive_int_from_env(monkeypatch):
    monkeypatch.delenv("LE4NN_TEST_COUNT", raising=False)
    assert positive_int_from_env("LE4NN_TEST_COUNT", 7) == 7
    monkeypatch.setenv("LE4NN_TEST_COUNT", " 12 ")
    assert positive_int_from_env("LE4NN_TEST_COUNT", 7, maximum=12) == 12
    for text in ("0", "-1", "1.5", "many"):
        monkeypatch.setenv("LE4NN_TEST_COUNT", text)
        with pytest.raises(KeyError, match=f"LE4NN_TEST_COUNT must be a count, got '{text}'"):
            positive_int_from_env("LE4NN_TEST_COUNT", 7, error=KeyError, what="a count")
    monkeypatch.setenv("LE4NN_TEST_COUNT", "13")
    with pytest.raises(ValueError, match="LE4NN_TEST_COUNT must be at most 12, got '13'"):
        positive_int_from_env("LE4NN_TEST_COUNT", 7, maximum=12)


def test_whole_numbers_and_byte_budget():
    values = np.array([0.0, -3.0, 2.5, np.nan, np.inf, 1e20], dtype=np.float32)
    assert whole_number_mask(values).tolist() == [True, True, False, False, False, True]
    assert all_whole_numbers(np.zeros(0)) and not all_whole_numbers(values)
    budget = ByteBudget(10)
    assert budget.charge(6) and not budget.charge(5) and budget.left == 4 and budget.charge(4) and budget.left == 0


@pytest.mark.parametrize("module_name", ["losses", "optimizers", "initializers", "regularizers"])
@pytest.mark.parametrize("config, error, message", [
    ({"class_name": ["x"] * 1000}, TypeError, "name must be a string"),
    ({"class_name": {"a": 1}}, TypeError, "name must be a string"),
    ({"class_name": None}, TypeError, "name must be a string"),
    ({"class_name": "nope", "config": {}}, ValueError, "valid names are"),
    ({"class_name": "x", "config": [1, 2]}, TypeError, "'config' of a"),
    (12, ValueError, "needs 'class_name'"),
    ([("class_name", "x")], ValueError, "needs 'class_name'"),
])
def test_hostile_configs_end_in_one_clear_error(module_name, config, error, message):
    """Configs from files may hold anything: each public deserialize names what is wrong, briefly."""
    import importlib

    module = importlib.import_module(f"le4nn.{module_name}")
    with pytest.raises(error, match=message) as caught:
        module.deserialize(config)
    kind = {"losses": "loss"}.get(module_name, module_name[:-1])  # "optimizers" -> "optimizer"
    assert kind in str(caught.value) and len(str(caught.value)) < 400
