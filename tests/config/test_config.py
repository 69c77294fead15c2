"""Tests of the experiment configuration: YAML loading, defaults, overrides, schema."""

from __future__ import annotations

import dataclasses
import json
import pickle
from pathlib import Path

import pytest
import yaml

from volsr.config import (
    ExperimentConfig,
    ModelConfig,
    Spec,
    WeightedSpec,
    apply_overrides,
    config_from_dict,
    config_to_dict,
    dump_config,
    load_config,
    load_raw,
)
from volsr.errors import ConfigError, VolsrError

MINIMAL = {
    "name": "demo",
    "model": {"name": "dcsrn_3d"},
    "data": {"manifest": "data/manifest.csv"},
    "train": {"steps": 100},
}


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def minimal(**changes: object) -> dict:
    out = json.loads(json.dumps(MINIMAL))
    for dotted, value in changes.items():
        *head, last = dotted.split("__")
        node = out
        for part in head:
            node = node.setdefault(part, {})
        node[last] = value
    return out


# --------------------------------------------------------------------------- defaults


def test_defaults_two_levels_relative_paths(tmp_path: Path) -> None:
    write(tmp_path / "base" / "root.yaml", """
seed: 7
model: {name: dcsrn_3d, scale: [1, 1, 2], args: {growth: 8, depth: 4}}
data: {manifest: a.csv, batch_size: 2}
train: {steps: 10, optimizer: {name: adam, lr: 1e-3, betas: [0.9, 0.99]}}
""")
    # level 1 lives in another folder and names root.yaml relative to itself
    write(tmp_path / "base" / "mid.yaml", """
defaults: [root.yaml]
model: {args: {depth: 6}}
data: {patch_size: [16, 16, 16]}
train: {steps: 20}
""")
    top = write(tmp_path / "exp" / "top.yaml", """
defaults: [../base/mid.yaml]
name: run1
train: {optimizer: {lr: 5e-4}}
""")
    cfg = load_config(top)
    assert cfg.name == "run1"
    assert cfg.seed == 7
    assert cfg.model.scale == (1.0, 1.0, 2.0)
    assert dict(cfg.model.args) == {"growth": 8, "depth": 6}  # deep-merged
    assert cfg.data.batch_size == 2 and cfg.data.patch_size == (16, 16, 16)
    assert cfg.train.steps == 20
    # same optimizer name: options merge, child wins
    assert cfg.train.optimizer == Spec("adam", {"lr": 5e-4, "betas": [0.9, 0.99]})
    assert cfg.config_dir == str((tmp_path / "exp").resolve())


def test_defaults_later_entries_win_and_lists_replace(tmp_path: Path) -> None:
    write(tmp_path / "a.yaml", "data: {manifest: a.csv, degradation: [{name: x}, {name: y}]}\n")
    write(tmp_path / "b.yaml", "data: {manifest: b.csv, degradation: [{name: z}]}\n")
    top = write(tmp_path / "top.yaml", "defaults: [a.yaml, b.yaml]\nname: n\n")
    raw = load_raw(top)
    assert raw["data"] == {"manifest": "b.csv", "degradation": [{"name": "z"}]}
    assert "defaults" not in raw


def test_renamed_spec_and_model_do_not_inherit_options(tmp_path: Path) -> None:
    write(tmp_path / "base.yaml", """
name: n
model: {name: dcsrn_3d, scale: [1, 1, 3], args: {growth: 8}}
data: {manifest: m.csv, normalization: {name: percentile, lower: 1, upper: 99}}
train: {steps: 5, optimizer: {name: adam, lr: 1e-3, betas: [0.9, 0.99]}}
""")
    top = write(tmp_path / "top.yaml", """
defaults: [base.yaml]
model: {name: srresnet_3d}
data: {normalization: {name: zscore}}
train: {optimizer: {name: sgd, lr: 0.1}}
""")
    cfg = load_config(top)
    assert cfg.train.optimizer == Spec("sgd", {"lr": 0.1})
    assert cfg.data.normalization == Spec("zscore")
    assert cfg.model == ModelConfig(name="srresnet_3d", scale=(1, 1, 3))  # scale kept, args not


def test_defaults_cycle_is_detected(tmp_path: Path) -> None:
    write(tmp_path / "a.yaml", "defaults: [sub/b.yaml]\nname: a\n")
    write(tmp_path / "sub" / "b.yaml", "defaults: [../a.yaml]\nseed: 1\n")
    with pytest.raises(ConfigError, match="cycle") as info:
        load_config(tmp_path / "a.yaml")
    assert "a.yaml -> " in str(info.value) and "b.yaml" in str(info.value)


def test_self_reference_is_a_cycle(tmp_path: Path) -> None:
    top = write(tmp_path / "self.yaml", "defaults: [self.yaml]\n")
    with pytest.raises(ConfigError, match="cycle"):
        load_raw(top)


def test_diamond_defaults_are_not_a_cycle(tmp_path: Path) -> None:
    write(tmp_path / "common.yaml", "seed: 3\n")
    write(tmp_path / "l.yaml", "defaults: [common.yaml]\n")
    write(tmp_path / "r.yaml", "defaults: [common.yaml]\n")
    top = write(tmp_path / "top.yaml", "defaults: [l.yaml, r.yaml]\n")
    assert load_raw(top) == {"seed": 3}


def test_bad_defaults_entry(tmp_path: Path) -> None:
    top = write(tmp_path / "top.yaml", "defaults: {a: 1}\n")
    with pytest.raises(ConfigError, match="list of file paths"):
        load_raw(top)
    top = write(tmp_path / "top2.yaml", "defaults: [missing.yaml]\n")
    with pytest.raises(ConfigError, match="not found") as info:
        load_raw(top)
    assert "missing.yaml" in str(info.value)


# --------------------------------------------------------------------------- file errors


def test_invalid_yaml_reports_line_and_column(tmp_path: Path) -> None:
    bad = write(tmp_path / "bad.yaml", "name: x\ntrain:\n  steps: [1, 2\n  lr: 3\n")
    with pytest.raises(ConfigError) as info:
        load_config(bad)
    msg = str(info.value)
    assert str(bad) in msg and "invalid YAML at line 4, column" in msg


def test_non_mapping_and_missing_file(tmp_path: Path) -> None:
    lst = write(tmp_path / "list.yaml", "- a\n- b\n")
    with pytest.raises(ConfigError, match="mapping") as info:
        load_config(lst)
    assert str(lst) in str(info.value)
    with pytest.raises(ConfigError, match="not found") as info:
        load_config(tmp_path / "nope.yaml")
    assert "nope.yaml" in str(info.value)


def test_duplicate_keys_and_python_tags_are_rejected(tmp_path: Path) -> None:
    dup = write(tmp_path / "dup.yaml", "name: a\nseed: 1\nseed: 2\n")
    with pytest.raises(ConfigError, match="line 3, column 1: .*duplicate key 'seed'"):
        load_raw(dup)
    evil = write(tmp_path / "evil.yaml", "name: !!python/object/apply:os.system ['true']\n")
    with pytest.raises(ConfigError, match="invalid YAML"):
        load_raw(evil)


def test_yaml_numbers_and_dates(tmp_path: Path) -> None:
    f = write(tmp_path / "n.yaml", "a: 1e-4\nb: 2E+3\nc: 12\nd: 2024-01-31\ne: '1e-4'\n")
    raw = load_raw(f)
    assert raw == {"a": 1e-4, "b": 2000.0, "c": 12, "d": "2024-01-31", "e": "1e-4"}
    assert isinstance(raw["a"], float) and isinstance(raw["c"], int)


# --------------------------------------------------------------------------- overrides


def test_overrides_with_type_coercion() -> None:
    raw = apply_overrides(MINIMAL, [
        "train.optimizer.lr=1e-4",
        "train.steps=2e3",
        "data.patch_size=[24,24,16]",
        "train.scheduler={name: cosine, warmup_steps: 100}",
        "infer.tta=true",
        "train.grad_clip=",
    ])
    assert raw["train"]["optimizer"] == {"name": "adam", "lr": 1e-4}
    assert isinstance(raw["train"]["optimizer"]["lr"], float)
    assert MINIMAL["train"] == {"steps": 100}  # input not modified
    cfg = config_from_dict(raw)
    assert cfg.train.steps == 2000 and isinstance(cfg.train.steps, int)
    assert cfg.train.optimizer == Spec("adam", {"lr": 1e-4})  # default spec, lr overridden
    assert cfg.data.patch_size == (24, 24, 16)
    assert cfg.train.scheduler == Spec("cosine", {"warmup_steps": 100})
    assert cfg.infer.tta is True and cfg.train.grad_clip is None


def test_string_numbers_coerced_where_schema_expects_numbers() -> None:
    cfg = config_from_dict(minimal(train__grad_clip="1e-4", train__ema="0.999",
                                   train__steps="300", model__scale=[1, "1", "2.5"]))
    assert cfg.train.grad_clip == pytest.approx(1e-4) and isinstance(cfg.train.grad_clip, float)
    assert cfg.train.ema == 0.999 and cfg.train.steps == 300
    assert cfg.model.scale == (1.0, 1.0, 2.5)


def test_override_creates_key_inside_model_args() -> None:
    raw = apply_overrides(MINIMAL, ["model.args.growth=12", "model.args.block.kind=dense"])
    cfg = config_from_dict(raw)
    assert cfg.model.args == {"growth": 12, "block": {"kind": "dense"}}


def test_override_list_index_and_range() -> None:
    base = minimal(train__loss=[{"name": "l1"}, {"name": "ssim", "weight": 0.1}])
    cfg = config_from_dict(apply_overrides(base, ["train.loss.1.weight=0.5"]))
    assert cfg.train.loss[1] == WeightedSpec("ssim", 0.5)
    with pytest.raises(ConfigError, match="out of range"):
        apply_overrides(base, ["train.loss.2.weight=1"])
    with pytest.raises(ConfigError, match="numeric index"):
        apply_overrides(base, ["train.loss.first.weight=1"])


def test_override_errors() -> None:
    with pytest.raises(ConfigError) as info:
        apply_overrides(MINIMAL, ["train.steps"])
    assert "key.path=value" in str(info.value) and "train.optimizer.lr=3e-4" in str(info.value)
    with pytest.raises(ConfigError) as info:
        apply_overrides(MINIMAL, ["train.optimiser.lr=3e-4"])
    msg = str(info.value)
    assert "'train.optimiser'" in msg and "did you mean 'train.optimizer'" in msg
    assert "train.optimiser.lr=3e-4" in msg
    with pytest.raises(ConfigError, match="not a section"):
        apply_overrides(MINIMAL, ["train.steps.x=1"])
    with pytest.raises(ConfigError, match="invalid YAML"):
        apply_overrides(MINIMAL, ["data.patch_size=[1, 2"])
    with pytest.raises(ConfigError, match="empty key"):
        apply_overrides(MINIMAL, ["train..steps=1"])


def test_load_config_with_overrides(tmp_path: Path) -> None:
    f = write(tmp_path / "c.yaml", yaml.safe_dump(MINIMAL))
    cfg = load_config(f, ["train.steps=42", "model.args.depth=3", "seed=9"])
    assert (cfg.train.steps, cfg.model.args["depth"], cfg.seed) == (42, 3, 9)


# --------------------------------------------------------------------------- schema errors


def test_unknown_key_suggestion_with_dotted_path(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        config_from_dict(minimal(train__optimiser={"name": "sgd"}))
    assert str(info.value) == "unknown key 'train.optimiser' — did you mean 'train.optimizer'?"
    with pytest.raises(ConfigError) as info:
        config_from_dict(minimal(data__augment={"flipp": True}))
    assert "'data.augment.flipp'" in str(info.value) and "'data.augment.flip'" in str(info.value)
    with pytest.raises(ConfigError, match="unknown key 'zzz'; valid keys at the top level"):
        config_from_dict(minimal(zzz=1))
    f = write(tmp_path / "c.yaml", yaml.safe_dump(minimal(model__nmae="x")))
    with pytest.raises(ConfigError) as info:
        load_config(f)
    assert str(f) in str(info.value) and "did you mean 'model.name'" in str(info.value)


def test_literal_violation() -> None:
    with pytest.raises(ConfigError) as info:
        config_from_dict(minimal(data__mode="4d"))
    msg = str(info.value)
    assert msg.startswith("data.mode:") and "'3d', '2d'" in msg and "'4d'" in msg
    with pytest.raises(ConfigError, match="did you mean 'gaussian'"):
        config_from_dict(minimal(infer={"blend": "Gaussian"}))


def test_wrong_types_name_the_path() -> None:
    with pytest.raises(ConfigError) as info:
        config_from_dict(minimal(train__steps="many"))
    assert str(info.value) == "train.steps: expected an integer, got 'many' (str)"
    with pytest.raises(ConfigError, match=r"data\.patch_size\.1: expected an integer, got 2\.5"):
        config_from_dict(minimal(data__patch_size=[32, 2.5, 32]))
    with pytest.raises(ConfigError, match="data.cache: expected a boolean"):
        config_from_dict(minimal(data__cache="yes please"))
    with pytest.raises(ConfigError, match="train.amp: expected a boolean"):
        config_from_dict(minimal(train__amp=1))
    with pytest.raises(ConfigError, match="train.steps: expected an integer, got True"):
        config_from_dict(minimal(train__steps=True))
    with pytest.raises(ConfigError, match="name: expected a string"):
        config_from_dict(minimal(name=2024))
    with pytest.raises(ConfigError, match="model: expected a mapping"):
        config_from_dict(minimal(model=[1, 2]))
    with pytest.raises(ConfigError, match="missing required key 'train.steps'"):
        config_from_dict(minimal(train={}))


def test_value_checks() -> None:
    with pytest.raises(ConfigError, match=r"train.val_overlap: must be in \[0, 1\)"):
        config_from_dict(minimal(train__val_overlap=1.0))
    with pytest.raises(ConfigError, match="data.patch_size: mode '2d' needs 2 entries"):
        config_from_dict(minimal(data__mode="2d"))
    cfg = config_from_dict(minimal(data__mode="2d", data__patch_size=[64, 64]))
    assert cfg.data.patch_size == (64, 64)
    with pytest.raises(ConfigError, match="model.scale: entries must be > 0"):
        config_from_dict(minimal(model__scale=[1, 0, 2]))
    with pytest.raises(ConfigError, match="train.loss.0.weight: must be >= 0"):
        config_from_dict(minimal(train__loss=[{"name": "l1", "weight": -1}]))
    with pytest.raises(ConfigError, match="name: must be a plain folder name"):
        config_from_dict(minimal(name="a/b"))
    with pytest.raises(ConfigError, match="train.steps: must be >= 1"):
        config_from_dict(minimal(train__steps=0))


def test_errors_are_volsr_config_errors_with_exit_code_2() -> None:
    with pytest.raises(VolsrError) as info:
        config_from_dict({})
    assert isinstance(info.value, ConfigError) and info.value.exit_code == 2


# --------------------------------------------------------------------------- specs


def test_spec_flattening() -> None:
    cfg = config_from_dict(minimal(train__optimizer={"name": "adam", "lr": 1e-3},
                                   train__scheduler="cosine"))
    assert cfg.train.optimizer == Spec(name="adam", kwargs={"lr": 1e-3})
    assert cfg.train.scheduler == Spec("cosine", {})
    assert config_to_dict(cfg)["train"]["optimizer"] == {"name": "adam", "lr": 1e-3}
    with pytest.raises(ConfigError, match="train.optimizer: component spec needs a 'name'"):
        config_from_dict(minimal(train__optimizer={"lr": 1e-3}))
    with pytest.raises(ConfigError, match="train.optimizer.name: expected a string"):
        config_from_dict(minimal(train__optimizer={"name": 3}))
    with pytest.raises(ConfigError, match="'name' is reserved"):
        Spec("adam", {"name": "x"})


def test_weighted_loss_list_default_weight() -> None:
    cfg = config_from_dict(minimal(train__loss=[{"name": "l1"},
                                                {"name": "ssim", "weight": 0.2, "win": 7}]))
    assert cfg.train.loss == (WeightedSpec("l1", 1.0, {}),
                              WeightedSpec("ssim", 0.2, {"win": 7}))
    assert isinstance(cfg.train.loss[0].weight, float)
    assert config_to_dict(cfg)["train"]["loss"] == [
        {"name": "l1", "weight": 1.0}, {"name": "ssim", "weight": 0.2, "win": 7}]
    default = config_from_dict(MINIMAL)
    assert default.train.loss == (WeightedSpec("l1"),)
    assert default.train.optimizer == Spec("adam", {"lr": 1e-4})


def test_degradation_specs_keep_lists() -> None:
    deg = [{"name": "random_thick_slice", "factor": [2, 6], "profile": ["rect", "gaussian"]},
           {"name": "random_noise", "sigma": [0, 0.02]}]
    cfg = config_from_dict(minimal(data__degradation=deg))
    assert cfg.data.degradation[0] == Spec("random_thick_slice",
                                           {"factor": [2, 6], "profile": ["rect", "gaussian"]})
    assert cfg.data.degradation[1].kwargs["sigma"] == [0, 0.02]


def test_free_form_values_must_be_plain_data() -> None:
    with pytest.raises(ConfigError, match=r"model.args.f: expected plain data"):
        config_from_dict(minimal(model__args={"f": object()}))
    with pytest.raises(ConfigError, match="model.args: keys must be strings"):
        config_from_dict(minimal(model__args={1: 2}))


# --------------------------------------------------------------------------- round trips


def _full_config() -> ExperimentConfig:
    return config_from_dict({
        "name": "full", "seed": 3, "output_dir": "out",
        "model": {"name": "dcsrn_3d", "scale": [1, 1.5, 4], "in_channels": 2,
                  "args": {"growth": 12, "blocks": [2, 2], "act": {"name": "relu"}}},
        "data": {"manifest": "m.csv", "mode": "2d", "slice_axis": 0, "patch_size": [48, 48],
                 "normalization": {"name": "ct_window", "min": -1000, "max": 2000},
                 "degradation": [{"name": "random_noise", "sigma": [0, 0.02]}],
                 "augment": {"flip": False}},
        "train": {"steps": 10, "loss": [{"name": "l1"}, {"name": "ssim", "weight": 0.1}],
                  "scheduler": {"name": "cosine", "warmup_steps": 100}, "grad_clip": 1,
                  "val_patch_size": [32, 32, 32], "ema": 0.999},
        "infer": {"patch_size": None, "blend": "constant", "tta": True},
    })


def test_round_trip_dict_config() -> None:
    cfg = _full_config()
    d = config_to_dict(cfg)
    assert json.loads(json.dumps(d)) == d  # plain, JSON-serialisable
    assert config_from_dict(d) == cfg
    assert config_to_dict(config_from_dict(d)) == d
    assert list(d) == ["name", "seed", "output_dir", "model", "data", "train", "infer"]
    assert "config_dir" not in d
    # tuples given in Python are normalised so the round trip stays exact
    spec = Spec("x", {"size": (1, 2)})
    assert spec.kwargs == {"size": [1, 2]}
    model = ModelConfig(name="m", scale=[1, 1, 2])  # type: ignore[arg-type]
    assert model.scale == (1.0, 1.0, 2.0)


def test_dump_load_equality(tmp_path: Path) -> None:
    cfg = dataclasses.replace(
        _full_config(),
        model=ModelConfig(name="m", args={"tag": "1e-4", "day": "2024-01-01", "on": "yes"}))
    out = tmp_path / "run" / "config.yaml"
    dump_config(cfg, out)
    text = out.read_text(encoding="utf-8")
    assert text.startswith("name: full\n")
    loaded = load_config(out)
    assert loaded == cfg
    assert loaded.model.args == {"tag": "1e-4", "day": "2024-01-01", "on": "yes"}
    assert loaded.config_dir == str(out.parent.resolve())


def test_configs_are_frozen_and_picklable() -> None:
    cfg = _full_config()
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.seed = 1  # type: ignore[misc]
    assert pickle.loads(pickle.dumps(cfg)) == cfg  # DataLoader workers may need this
    # a plain Spec is accepted where a loss term is expected (weight defaults to 1)
    train = dataclasses.replace(cfg.train, loss=(Spec("l1", {"reduction": "mean"}),))
    assert train.loss == (WeightedSpec("l1", 1.0, {"reduction": "mean"}),)


# -- the self-super-resolution section (volsr ssr) -----------------------------------------


def test_ssr_budgets_are_presets_of_the_typed_section():
    from volsr.config import SSR_BUDGETS, SSRConfig

    default = SSRConfig()
    assert SSRConfig.preset("default") == default
    for name, changes in SSR_BUDGETS.items():
        cfg = SSRConfig.preset(name)
        assert cfg.budget == name
        for key, value in changes.items():
            assert getattr(cfg, key) == value
        untouched = set(default.to_dict()) - set(changes) - {"budget"}
        assert all(getattr(cfg, k) == getattr(default, k) for k in untouched)
    fast = SSRConfig.preset("fast", steps=30, lr="2e-3", angles=[0, 45])
    assert (fast.steps, fast.lr, fast.angles, fast.max_seconds) == (30, 2e-3, (0.0, 45.0), 420.0)
    timed = SSRConfig.preset("thorough", time_limit=60)
    assert (timed.steps, timed.time_limit, timed.features) == (None, 60.0, 64)
    assert SSRConfig.from_dict(fast.to_dict()) == fast  # the sidecar's settings round-trip


@pytest.mark.parametrize("settings, match", [
    ({"widht": 8}, "unknown key 'widht'"),
    ({"num_block": 8}, "did you mean 'num_blocks'"),
    ({"orientations": 3}, "orientations: expected one of 2, 4"),
    ({"fusion": "FBA"}, "did you mean 'fba'"),
    ({"precision": "fp16"}, "precision: expected one of 'auto', 'bf16', 'fp32'"),
    ({"saa_share": 0}, r"saa_share: must be in \(0, 4\]"),
    ({"steps": 0}, "steps: must be >= 1"),
    ({"batch_size": 2.5}, "batch_size: expected an integer"),
    ({"fg_fraction": 1.5}, r"fg_fraction: must be in \[0, 1\]"),
    ({"normalization": {"lower": 1}}, "needs a 'name' key"),
])
def test_ssr_section_refuses_bad_settings_with_one_clear_error(settings, match):
    from volsr.config import SSRConfig

    with pytest.raises(ConfigError, match=match):
        SSRConfig.preset("fast", **settings)
    with pytest.raises(ConfigError, match="budget must be one of fast, default, thorough"):
        SSRConfig.preset("instant")


# -- shipped recipes (volsr train NAME, volsr train --list) ---------------------------------

REPO = Path(__file__).resolve().parents[2]


def _volsr(*args: str, cwd: Path, pythonpath: str | None = None):
    import os
    import subprocess
    import sys

    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    if pythonpath is not None:
        env["PYTHONPATH"] = pythonpath
    return subprocess.run([sys.executable, "-m", "volsr", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)


def test_recipe_names_resolve_in_the_checkout(tmp_path):
    from volsr.config.recipes import list_recipes, recipe_path, resolve_config_path

    names = {r.name: r for r in list_recipes()}
    on_disk = {p.relative_to(REPO / "configs").with_suffix("").as_posix()
               for p in (REPO / "configs").rglob("*.yaml")
               if p.stem != "base" and not p.name.startswith("_")}
    assert set(names) == on_disk and "dcsrn_3d" in names and "zoo/edsr_2d" in names
    assert names["dcsrn_3d"].description.startswith("DCSRN (Chen et al., ISBI 2018)")
    assert all(len(r.description) <= 90 for r in names.values())
    assert recipe_path("dcsrn_3d").samefile(REPO / "configs" / "dcsrn_3d.yaml")
    assert recipe_path("edsr_2d").samefile(REPO / "configs" / "zoo" / "edsr_2d.yaml")
    assert load_config(recipe_path("zoo/edsr_2d")).model.name == "edsr_2d"
    with pytest.raises(ConfigError, match="did you mean 'dcsrn_3d'"):
        recipe_path("dcsrm_3d")
    own = tmp_path / "dcsrn_3d.yaml"  # a path still wins over a recipe of the same name
    own.write_text("defaults: [%s]\nname: mine\n" % (REPO / "configs" / "dcsrn_3d.yaml"))
    assert resolve_config_path(own) == own
    assert resolve_config_path(tmp_path / "missing.yaml") == tmp_path / "missing.yaml"


def test_cli_train_lists_and_trains_a_named_recipe(tmp_path):
    from conftest import write_phantom_manifest
    from typer.testing import CliRunner

    from volsr.cli import app

    def cli(*args):
        return CliRunner().invoke(app, [str(a) for a in args])

    r = cli("train", "--list")
    assert r.exit_code == 0, r.output
    rows = dict(line.split(None, 1) for line in r.output.splitlines())
    assert rows["tiny_test"].startswith("A very small recipe") and "zoo/vdsr_2d" in rows
    r = cli("train", "tiny_tset")
    lines = [ln for ln in r.output.splitlines() if ln.strip()]
    assert r.exit_code != 0 and len(lines) == 1 and "did you mean 'tiny_test'" in lines[0]
    (tmp_path / "data").mkdir()
    manifest = write_phantom_manifest(tmp_path / "data", shape=(16, 16, 16))
    r = cli("train", "tiny_test", f"data.manifest={manifest}", "train.steps=2",
            "--output-dir", tmp_path / "runs", "--device", "cpu")
    assert r.exit_code == 0, r.output
    assert (tmp_path / "runs" / "tiny_test" / "model" / "model.safetensors").is_file()


def test_the_wheel_ships_the_recipes_and_a_wheel_install_resolves_names(tmp_path):
    """A real wheel build (hatchling): volsr/_recipes/ holds configs/, and volsr installed
    from that wheel, away from the repository, lists the recipes and loads one by name."""
    import subprocess
    import sys
    import zipfile

    cmd = [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(tmp_path / "dist"),
           str(REPO)]
    if _has("hatchling"):
        cmd.insert(-1, "--no-build-isolation")  # the installed backend: works offline
    built = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    if built.returncode != 0 and not _has("hatchling"):
        pytest.skip(f"cannot get hatchling to build the wheel: {built.stderr.strip()[-300:]}")
    assert built.returncode == 0, built.stderr
    (wheel,) = (tmp_path / "dist").glob("volsr-*.whl")
    shipped = {p.relative_to(REPO / "configs").as_posix()
               for p in (REPO / "configs").rglob("*") if p.is_file()}
    with zipfile.ZipFile(wheel) as z:
        names = set(z.namelist())
    assert {f"volsr/_recipes/{p}" for p in shipped} <= names
    assert not any(n.startswith("configs/") for n in names)

    site = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target",
                    str(site), str(wheel)], check=True, capture_output=True, timeout=300)
    away = tmp_path / "elsewhere"
    away.mkdir()
    probe = ("import volsr, volsr.config.recipes as r; from volsr.config import load_config; "
             "print(volsr.__file__); print(r.recipe_path('dcsrn_3d')); "
             "print(load_config(r.recipe_path('zoo/edsr_2d')).model.name)")
    r = subprocess.run([sys.executable, "-c", probe], cwd=away, capture_output=True, text=True,
                       env={**_env(), "PYTHONPATH": str(site)}, timeout=300)
    assert r.returncode == 0, r.stderr
    module, recipe, model = r.stdout.split()
    assert Path(module).is_relative_to(site)  # the installed copy, not the checkout
    assert Path(recipe) == site / "volsr" / "_recipes" / "dcsrn_3d.yaml" and model == "edsr_2d"
    r = _volsr("train", "--list", cwd=away, pythonpath=str(site))
    assert r.returncode == 0 and "dcsrn_3d" in r.stdout, r.stderr


def test_an_editable_install_resolves_recipe_names(tmp_path):
    """``pip install -e`` of this checkout (in a venv on top of this interpreter's
    packages): recipe names resolve to the checkout's configs/."""
    import subprocess
    import sys

    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", "--without-pip",
                    str(venv)], check=True, capture_output=True, timeout=300)
    python = venv / ("Scripts/python.exe" if sys.platform == "win32" else "bin/python")
    cmd = [str(python), "-m", "pip", "install", "-q", "--no-deps", "-e", str(REPO)]
    offline = _has("hatchling") and _has("editables")  # hatchling's editable needs both
    if offline:
        cmd.insert(-2, "--no-build-isolation")
    env = {k: v for k, v in _env().items() if k != "PYTHONPATH"}
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    if done.returncode != 0 and not offline:
        pytest.skip(f"cannot get hatchling for the editable install: {done.stderr[-300:]}")
    assert done.returncode == 0, done.stderr
    probe = ("import volsr, volsr.config.recipes as r; print(volsr.__file__); "
             "print(r.recipe_path('srcnn_3d'))")
    r = subprocess.run([str(python), "-c", probe], cwd=tmp_path, capture_output=True,
                       text=True, env=env, timeout=300)
    assert r.returncode == 0, r.stderr
    module, recipe = r.stdout.split()
    assert Path(module).is_relative_to(REPO)
    assert Path(recipe) == REPO / "configs" / "srcnn_3d.yaml"


def _has(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


def _env() -> dict[str, str]:
    import os

    return {**os.environ, "OMP_NUM_THREADS": "1"}
