"""Recipes: a run YAML holds only what differs from its base recipe or from ``TrainConfig``'s defaults, bases
chain, and every setting is checked when the config is built, the error naming the file and the setting."""

from pathlib import Path

import pytest
import yaml

from fer_study.core import paths
from fer_study.train import TrainConfig
from fer_study.train.config import BASE_KEY, read_recipe

RUN_RECIPES = sorted(paths.PARAMS_DIR.glob("*/runs/*.yaml"))


def write(folder: Path, name: str, settings: dict) -> Path:
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(settings))
    return path


def restated_settings(path: Path) -> list[str]:
    """The settings of a recipe file whose removal leaves its resolved config unchanged: each restates its
    base's value or the default."""
    own = yaml.safe_load(path.read_text())
    base = own.pop(BASE_KEY, None)
    inherited = read_recipe(path.parent / f"{base}.yaml")[0] if base else {}

    def resolved(settings: dict) -> dict:
        return TrainConfig.from_dict({"run_name": path.stem, **inherited, **settings}).to_dict()

    restated = []
    for setting in own:
        try:
            if resolved({k: v for k, v in own.items() if k != setting}) == resolved(own):
                restated.append(setting)
        except (TypeError, ValueError):  # a required setting (model) with nothing to inherit it from
            continue
    return restated


@pytest.mark.parametrize("path", RUN_RECIPES, ids=lambda path: str(path.relative_to(paths.PARAMS_DIR)))
def test_a_run_recipe_holds_only_what_differs_from_its_base_or_the_defaults(path):
    assert restated_settings(path) == [], f"{path.relative_to(paths.REPO_ROOT)} restates these settings"


def test_the_restatement_check_finds_a_default_and_a_base_value(tmp_path):
    write(tmp_path, "base", {"model": "vgg_cpu", "epochs": 12})
    arm = write(tmp_path, "arm", {"base": "base", "epochs": 12, "lr": 0.01, "optimizer": "adamw"})
    assert restated_settings(arm) == ["epochs", "lr"]


def test_a_recipe_builds_on_its_base_and_a_chain_of_bases(tmp_path):
    root = write(tmp_path, "root", {"model": "vgg_cpu", "epochs": 12, "lr": 0.1, "augment": {"flip": False}})
    write(tmp_path, "middle", {"base": "root", "epochs": 6, "optimizer": "adamw"})
    leaf = write(tmp_path, "leaf", {"base": "middle", "lr": 0.001, "augment": {"scale": 0.0}})
    config = TrainConfig.from_yaml(leaf, run_name="leaf")
    assert (config.model, config.epochs, config.optimizer, config.lr) == ("vgg_cpu", 6, "adamw", 0.001)
    # A setting given replaces the base's whole value: the leaf's augment mapping, defaults for the rest.
    assert config.augment.flip is True and config.augment.scale == 0.0
    settings, origins = read_recipe(leaf)
    assert BASE_KEY not in settings
    assert origins == {"model": root, "epochs": tmp_path / "middle.yaml", "optimizer": tmp_path / "middle.yaml",
                       "lr": leaf, "augment": leaf}
    assert TrainConfig.from_yaml(leaf, run_name="leaf", epochs=2).epochs == 2  # the command line comes last


def test_a_seed_template_in_a_base_becomes_each_seed_runs_parent(tmp_path):
    write(tmp_path, "stage", {"model": "vgg_cpu", "parent": "exp_base_seed{seed}"})
    arm = write(tmp_path, "arm", {"base": "stage", "lr": 0.001})
    assert TrainConfig.from_yaml(arm, run_name="arm_seed2", seed=2).parent == "exp_base_seed2"


@pytest.mark.parametrize(("chain", "message"), [
    ({"a": "b", "b": "a"}, r"b\.yaml: base 'a' makes a cycle of bases: a -> b -> a"),
    ({"a": "a"}, r"a\.yaml: base 'a' makes a cycle of bases: a -> a"),
    ({"a": "b", "b": "missing"}, r"b\.yaml: base 'missing' names no recipe: there is no .*missing\.yaml"),
    ({"a": "../a"}, r"a\.yaml: base must name a recipe in the same folder .*got '\.\./a'"),
    ({"a": 3}, r"a\.yaml: base must name a recipe in the same folder .*got 3"),
])
def test_a_cycle_or_a_missing_base_is_an_error_naming_the_file_and_the_field(tmp_path, chain, message):
    for name, base in chain.items():
        write(tmp_path, name, {"model": "vgg_cpu", "base": base})
    with pytest.raises(ValueError, match=message):
        TrainConfig.from_yaml(tmp_path / "a.yaml", run_name="a")


def test_a_bad_setting_inherited_from_a_base_names_the_base_that_sets_it(tmp_path):
    base = write(tmp_path, "base", {"model": "vgg_cpu", "optimizer": "sgdd"})
    arm = write(tmp_path, "arm", {"base": "base", "lr": 0.001})
    with pytest.raises(ValueError, match=rf"arm\.yaml: optimizer must be one of .*, got 'sgdd' "
                                         rf"\(set in its base {base}\)"):
        TrainConfig.from_yaml(arm, run_name="arm")


@pytest.mark.parametrize(("setting", "value", "message"), [
    ("model", "vgg_cpuu", "model must be one of .*, got 'vgg_cpuu'"),
    ("dataset", "fer2031", "dataset must be one of .*, got 'fer2031'"),
    ("tier", "gpu", "tier must be one of full, cpu, smoke, got 'gpu'"),
    ("train_splits", ["train", "vall"], r"train_splits must be among train, val, test, got \['vall'\]"),
    ("train_splits", [], "train_splits names no split to train on"),
    ("extra_test_datasets", ["fer2013", "ferplus+"], r"extra_test_datasets must be among .*, got \['ferplus\+'\]"),
    ("device", "gpu0", "device must be auto or a torch device name, got 'gpu0'"),
    ("augment", {"flip": True, "rotation": 10}, r"augment options \['rotation'\] are unknown"),
    ("augment", {"scale": 1.5}, "augment must be rotation_degrees in"),
    ("epochs", -1, "epochs must be a number of epochs, 0 or more, got -1"),
    ("batch_size", 0, "batch_size must be a positive number of images, got 0"),
    ("lr", -0.1, r"lr must be a learning rate, 0 or more \(0: the weights stay as they are\), got -0.1"),
    ("momentum", 1.0, r"momentum must be in \[0, 1\), got 1.0"),
    ("weight_decay", -1e-4, "weight_decay must be 0 or more"),
    ("label_smoothing", 1.0, r"label_smoothing must be in \[0, 1\), got 1.0"),
    ("early_stopping_patience", 0, "early_stopping_patience must be null or a positive number of epochs, got 0"),
    ("snapshot_epochs", [10, 40], r"snapshot_epochs must be epochs among 1..30 \(the run's epochs\)"),
    ("tta_crop", 64, "tta_crop must be a crop side in 1..48, got 64"),
    ("limit_train", 0, "limit_train must be null or a positive count, got 0"),
    ("num_threads", 0, "num_threads must be null or a positive count, got 0"),
    ("ema_every", 0, "ema_every must be a positive number of steps, got 0"),
    ("distill_temperature", 0, "distill_temperature must be positive, got 0"),
    ("distill_weight", 2, r"distill_weight must be in \[0, 1\], got 2"),
    ("mixing_alpha", 0, "mixing_alpha must be positive, got 0"),
    ("mixing_probability", -0.5, r"mixing_probability must be in \[0, 1\], got -0.5"),
    ("model_kwargs", {"widht": 2}, r"model_kwargs \{'widht': 2\} do not fit model 'vgg_cpu': .*'widht'"),
])
def test_every_setting_is_checked_when_the_recipe_is_read(tmp_path, setting, value, message):
    path = write(tmp_path, "recipe", {"model": "vgg_cpu", setting: value})
    with pytest.raises(ValueError, match=rf"recipe\.yaml: {message}"):
        TrainConfig.from_yaml(path, run_name="recipe")


def test_model_kwargs_a_model_takes_pass_without_building_it():
    TrainConfig.from_dict({"run_name": "r", "model": "resnet18", "model_kwargs": {"input_size": 48}})
    # weights_path is a named argument: checked by signature, its file is not read at config time
    TrainConfig.from_dict({"run_name": "r", "model": "resnet18", "model_kwargs": {"weights_path": "absent.pt"}})
