"""What LaTROTrainer relies on in TRL, checked against the installed TRL.

The list itself lives in ``latro_trl.trl_compat``; each test below is one line of it, named after the internal, so a
failure reads as "TRL changed <internal>: <how>". The last tests check the list is complete (every RLOOTrainer
method or attribute trainer.py uses is on it) and that a TRL that moved fails at construction with a message, not
with a traceback from inside TRL.
"""

import ast
import inspect
import logging
import re
from pathlib import Path

import pytest
import trl
from packaging.specifiers import SpecifierSet
from packaging.version import Version
from transformers import Trainer, TrainingArguments
from trl import RLOOTrainer

from latro_trl import LaTROTrainer, trl_compat
from latro_trl.trl_compat import (
    ATTRIBUTES,
    CALLED_METHODS,
    CONFIG_FIELDS,
    FUNCTIONS,
    OVERRIDDEN,
    SUPPORTED_TRL,
    TRLCompatibilityError,
    check_installed_trl,
    problems_with,
)

ROOT = Path(__file__).resolve().parents[2]
TRAINER_SOURCE = ROOT / "src" / "latro_trl" / "trainer.py"
INSTALLED = Version(trl.__version__)


# ---------------------------------------------------------------------------------------------- the list


@pytest.mark.parametrize("internal", OVERRIDDEN, ids=lambda internal: internal.name)
def test_overridden_method_keeps_its_signature(internal):
    assert problems_with(internal, INSTALLED, LaTROTrainer) == []


@pytest.mark.parametrize("internal", CALLED_METHODS, ids=lambda internal: internal.name)
def test_called_method_keeps_its_signature(internal):
    assert problems_with(internal, INSTALLED, LaTROTrainer) == []


@pytest.mark.parametrize("internal", FUNCTIONS, ids=lambda internal: internal.name)
def test_helper_keeps_its_signature(internal):
    assert problems_with(internal, INSTALLED) == []


@pytest.mark.parametrize("name", CONFIG_FIELDS)
def test_rloo_config_keeps_field(name):
    assert name in {f.name for f in trl.RLOOConfig.__dataclass_fields__.values()}, f"trl.RLOOConfig lost `{name}`"


def test_built_trainer_has_the_attributes_we_read(model, tokenizer, conversational_dataset, make_config):
    trainer = LaTROTrainer(
        model=model, args=make_config(), train_dataset=conversational_dataset, processing_class=tokenizer
    )
    missing = [name for name in ATTRIBUTES if not hasattr(trainer, name)]
    assert not missing, f"RLOOTrainer.__init__ no longer sets {missing} (TRL {INSTALLED})"
    assert set(trainer._logs) >= {"prompt", "completion", "rewards", "advantages", "extra"}
    assert set(trainer._metrics) == {"train", "eval"}


def test_installed_trl_is_in_the_supported_range_and_passes():
    assert INSTALLED in SUPPORTED_TRL, f"TRL {INSTALLED} is outside trl{SUPPORTED_TRL}"
    check_installed_trl(LaTROTrainer)


# ---------------------------------------------------------------------------------------------- the list is complete


def _self_names_used(source: str) -> set[str]:
    """Every ``self.X`` / ``super().X`` name trainer.py uses but does not itself define or assign."""
    tree = ast.parse(source)
    used, defined = set(), set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "self":
            (defined if isinstance(node.ctx, ast.Store) else used).add(node.attr)
        elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Call):
            if isinstance(node.value.func, ast.Name) and node.value.func.id == "super":
                used.add(node.attr)
        elif isinstance(node, ast.FunctionDef):
            defined.add(node.name)
    return used - (defined - {m.path.rsplit(".", 1)[1] for m in OVERRIDDEN})


def test_every_rloo_trainer_method_trainer_py_uses_is_listed():
    listed = {internal.path.rsplit(".", 1)[1] for internal in OVERRIDDEN + CALLED_METHODS}
    rloo_methods = {name for name in _self_names_used(TRAINER_SOURCE.read_text()) if hasattr(RLOOTrainer, name)}
    from_rloo = {name for name in rloo_methods if name == "__init__" or not hasattr(Trainer, name)}
    overridden = {name for name, value in vars(LaTROTrainer).items() if callable(value) and hasattr(RLOOTrainer, name)}
    unlisted = (from_rloo | overridden) - listed - {"__init__"}
    assert not unlisted, f"trainer.py uses RLOOTrainer.{unlisted} without listing it in latro_trl/trl_compat.py"


def test_every_rloo_trainer_attribute_trainer_py_reads_is_listed(tmp_path, model):
    plain = Trainer(model=model, args=TrainingArguments(output_dir=str(tmp_path), report_to="none"))
    names = _self_names_used(TRAINER_SOURCE.read_text())
    from_rloo = {n for n in names if not hasattr(RLOOTrainer, n) and not hasattr(plain, n)}
    unlisted = from_rloo - set(ATTRIBUTES)
    assert not unlisted, f"trainer.py reads {sorted(unlisted)}, set by RLOOTrainer: list them in trl_compat.ATTRIBUTES"


def test_trainer_py_imports_no_trl_internal_directly():
    imports = [
        node
        for node in ast.walk(ast.parse(TRAINER_SOURCE.read_text()))
        if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "trl"
    ]
    public = {("trl", name) for name in ("RLOOConfig", "RLOOTrainer")}
    direct = [(node.module, alias.name) for node in imports for alias in node.names]
    assert set(direct) <= public, f"import these through latro_trl.trl_compat, where they are listed: {direct}"


def test_pyproject_requires_the_supported_range():
    tomllib = pytest.importorskip("tomllib")
    dependencies = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    (requirement,) = [d for d in dependencies if re.match(r"trl\b", d)]
    assert SpecifierSet(requirement[len("trl") :]) == SUPPORTED_TRL


# ---------------------------------------------------------------------------------------------- a TRL that moved


def _build(model, tokenizer, dataset, make_config):
    return LaTROTrainer(model=model, args=make_config(), train_dataset=dataset, processing_class=tokenizer)


def test_a_changed_override_signature_fails_at_construction_by_name(
    monkeypatch, model, tokenizer, conversational_dataset, make_config
):
    # What a TRL that made `num_generations` a required argument of _generate_single_turn would look like.
    def _generate_single_turn(self, prompt_ids, images, multimodal_fields, num_generations):
        raise AssertionError("never reached: the check runs first")

    monkeypatch.setattr(RLOOTrainer, "_generate_single_turn", _generate_single_turn)
    with pytest.raises(TRLCompatibilityError) as error:
        _build(model, tokenizer, conversational_dataset, make_config)
    message = str(error.value)
    assert "trl.RLOOTrainer._generate_single_turn" in message and "num_generations" in message
    assert f"TRL {trl.__version__}" in message and str(SUPPORTED_TRL) in message
    assert Path(error.traceback[-1].path).name == "trl_compat.py"  # raised by us, not inside TRL


def test_a_renamed_parameter_fails_at_construction_by_name(
    monkeypatch, model, tokenizer, conversational_dataset, make_config
):
    monkeypatch.setattr(RLOOTrainer, "_compute_loss", lambda self, model, batch: None)
    with pytest.raises(TRLCompatibilityError, match=r"RLOOTrainer\._compute_loss.*\(model, inputs\)"):
        _build(model, tokenizer, conversational_dataset, make_config)


def test_a_new_optional_argument_our_override_accepts_is_fine(
    monkeypatch, model, tokenizer, conversational_dataset, make_config
):
    # The likely next TRL: _generate_single_turn gains `num_generations` with a default. Our override accepts it.
    original = RLOOTrainer._generate_single_turn

    def _generate_single_turn(self, prompt_ids, images, multimodal_fields, num_generations=None):
        return original(self, prompt_ids, images, multimodal_fields)

    monkeypatch.setattr(RLOOTrainer, "_generate_single_turn", _generate_single_turn)
    _build(model, tokenizer, conversational_dataset, make_config)
    assert "num_generations" in inspect.signature(LaTROTrainer._generate_single_turn).parameters


def test_a_new_argument_our_override_does_not_accept_fails(monkeypatch):
    def _generate_single_turn(self, prompt_ids, images, multimodal_fields, tools=None):
        return None

    monkeypatch.setattr(RLOOTrainer, "_generate_single_turn", _generate_single_turn)
    with pytest.raises(TRLCompatibilityError, match="tools, which TRL may pass and LaTROTrainer's override"):
        check_installed_trl(LaTROTrainer)


def test_a_trl_older_than_the_range_is_refused(monkeypatch):
    monkeypatch.setattr(trl, "__version__", "1.14.1")  # RLOOTrainer has no eos_token_ids before 1.14.2
    with pytest.raises(TRLCompatibilityError, match=r"TRL 1\.14\.1 is older than latro-trl supports: .*>=1\.14\.2"):
        check_installed_trl(LaTROTrainer)


def test_a_newer_trl_with_the_same_internals_only_warns(monkeypatch, caplog):
    monkeypatch.setattr(trl, "__version__", "1.99.0")
    # A 1.99 has what 1.15 and 1.16 added; stand-ins where the installed TRL is older.
    if not hasattr(trl.trainer.utils, "add_fused_lm_head"):
        monkeypatch.setattr(trl.trainer.utils, "add_fused_lm_head", lambda model, temperature=1.0: None, raising=False)
    unwrap = trl.models.unwrap_model_for_generation
    if "gradient_checkpointing_kwargs" not in inspect.signature(unwrap).parameters:
        monkeypatch.setattr(
            trl.models,
            "unwrap_model_for_generation",
            lambda model, accelerator, gather_deepspeed3_params=True, generation_kwargs=None, gradient_checkpointing_kwargs=None: (
                None
            ),
        )
    with caplog.at_level(logging.WARNING, logger="latro_trl.trl_compat"):
        check_installed_trl(LaTROTrainer)
    assert "TRL 1.99.0 is outside the range" in caplog.text


def test_what_an_older_supported_trl_lacks_is_adapted_not_an_error(monkeypatch):
    (unwrap,) = [f for f in FUNCTIONS if f.path.endswith(":unwrap_model_for_generation")]
    (fused,) = [f for f in FUNCTIONS if f.path.endswith(":add_fused_lm_head")]

    def old_unwrap(model, accelerator, gather_deepspeed3_params=True, generation_kwargs=None):
        return None

    monkeypatch.setattr(trl.models, "unwrap_model_for_generation", old_unwrap)
    monkeypatch.delattr(trl.trainer.utils, "add_fused_lm_head", raising=False)
    assert problems_with(unwrap, Version("1.15.0")) == problems_with(fused, Version("1.14.2")) == []
    assert "no longer takes gradient_checkpointing_kwargs" in problems_with(unwrap, Version("1.16.0"))[0]
    assert problems_with(fused, Version("1.15.0")) == ["`trl.trainer.utils.add_fused_lm_head` is missing"]


def test_unwrap_adapter_passes_checkpointing_kwargs_only_where_trl_takes_them(monkeypatch):
    calls = []
    monkeypatch.setattr(trl_compat, "_unwrap_model_for_generation", lambda *a, **kw: calls.append(kw))
    for takes in (True, False):
        monkeypatch.setattr(trl_compat, "_UNWRAP_TAKES_CHECKPOINTING_KWARGS", takes)
        trl_compat.unwrap_model_for_generation("model", "accelerator", gradient_checkpointing_kwargs={"a": 1})
    assert calls[0]["gradient_checkpointing_kwargs"] == {"a": 1}
    assert "gradient_checkpointing_kwargs" not in calls[1]


def test_model_card_metadata():
    assert LaTROTrainer._paper["id"] == "2411.04282"
    assert "latro" in LaTROTrainer._tag_names and LaTROTrainer._name == "LaTRO"
