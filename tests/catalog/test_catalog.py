"""The catalog built from a real settings file: default file, per-id files, aliases, errors."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.catalog.fake_hf_hub import tiny_gguf

from qwenchat.catalog import BUILTIN_PROFILES, Catalog
from qwenchat.errors import ConfigError, ModelFileError, ModelNotFound
from qwenchat.settings import Settings


@pytest.fixture
def default_file(tmp_path: Path) -> Path:
    path = tmp_path / "default.gguf"
    path.write_bytes(tiny_gguf("default"))
    return path


@pytest.fixture
def big_file(tmp_path: Path) -> Path:
    path = tmp_path / "big.gguf"
    path.write_bytes(tiny_gguf("big"))
    return path


def _build(tmp_path: Path, toml: str) -> Catalog:
    config = tmp_path / "qwenchat.toml"
    config.write_text(f'home = "{tmp_path / "home"}"\n{toml}', encoding="utf-8")
    return Catalog.build(Settings.load(config, env={}), say=print, fetch_starter=False)


def test_every_builtin_id_is_served_by_the_default_file(tmp_path: Path, default_file: Path) -> None:
    catalog = _build(tmp_path, f'[engine]\nmodel = "{default_file}"\n')

    assert catalog.ids() == list(BUILTIN_PROFILES)
    assert catalog.model_files() == [default_file]
    assert catalog.describe() == [(model_id, str(default_file)) for model_id in BUILTIN_PROFILES]
    route = catalog.resolve("qwen-plus")
    assert route.profile is BUILTIN_PROFILES["qwen-plus"]
    assert route.model_file == default_file


def test_a_model_id_can_be_served_from_another_file(
    tmp_path: Path, default_file: Path, big_file: Path
) -> None:
    catalog = _build(
        tmp_path,
        f'[engine]\nmodel = "{default_file}"\n\n[models."qwen3-max"]\nfile = "{big_file}"\n'
        f'\n[models."qwq-plus"]\nfile = "{big_file}"\n',
    )

    assert catalog.resolve("qwen3-max").model_file == big_file
    assert catalog.resolve("qwq-plus").model_file == big_file
    assert catalog.resolve("qwen3.6-plus").model_file == default_file
    assert catalog.model_files() == [default_file, big_file]


def test_an_alias_answers_as_its_target(tmp_path: Path, default_file: Path, big_file: Path) -> None:
    catalog = _build(
        tmp_path,
        f'[engine]\nmodel = "{default_file}"\n\n[models."qwq-plus"]\nfile = "{big_file}"\n'
        '\n[aliases]\nqwen = "qwen3.6-plus"\nthinker = "qwq-plus"\n',
    )

    assert catalog.ids()[-2:] == ["qwen", "thinker"]
    qwen = catalog.resolve("qwen")
    assert qwen.profile.id == "qwen"
    assert qwen.profile.thinking is BUILTIN_PROFILES["qwen3.6-plus"].thinking
    assert qwen.profile.context_window == BUILTIN_PROFILES["qwen3.6-plus"].context_window
    assert qwen.model_file == default_file
    assert catalog.resolve("thinker").model_file == big_file
    assert catalog.resolve("qwen3.6-plus").profile.id == "qwen3.6-plus"


def test_alias_to_an_unknown_id_is_a_config_error_naming_it(
    tmp_path: Path, default_file: Path
) -> None:
    with pytest.raises(ConfigError, match=r"\[aliases\] fast = \"qwen-fast\": 'qwen-fast' is not"):
        _build(tmp_path, f'[engine]\nmodel = "{default_file}"\n\n[aliases]\nfast = "qwen-fast"\n')


def test_alias_may_not_shadow_a_builtin_id(tmp_path: Path, default_file: Path) -> None:
    with pytest.raises(ConfigError, match="'qwen-plus' is already a built-in model id"):
        _build(
            tmp_path, f'[engine]\nmodel = "{default_file}"\n\n[aliases]\nqwen-plus = "qwen3-max"\n'
        )


def test_file_for_an_id_not_in_the_table_is_a_config_error_naming_it(
    tmp_path: Path, default_file: Path, big_file: Path
) -> None:
    with pytest.raises(ConfigError, match=r"\[models.\"qwen3-mx\"\]: 'qwen3-mx' is not a built-in"):
        _build(
            tmp_path,
            f'[engine]\nmodel = "{default_file}"\n\n[models."qwen3-mx"]\nfile = "{big_file}"\n',
        )


def test_a_bad_model_file_fails_the_build(tmp_path: Path, default_file: Path) -> None:
    with pytest.raises(ModelFileError, match="does not exist"):
        _build(
            tmp_path,
            f'[engine]\nmodel = "{default_file}"\n\n[models."qwen-long"]\nfile = "/no/such.gguf"\n',
        )


def test_resolving_an_unknown_id_is_model_not_found(tmp_path: Path, default_file: Path) -> None:
    catalog = _build(tmp_path, f'[engine]\nmodel = "{default_file}"\n')

    with pytest.raises(ModelNotFound) as caught:
        catalog.resolve("gpt-4o")

    assert caught.value.status == 404
    assert caught.value.message == (
        "The model `gpt-4o` does not exist or you do not have access to it."
    )


UPSTREAM = '''
[deployments.gpu]
dialect = "vllm"
replicas = ["http://10.0.0.5:8000/v1"]
[deployments.gpu.models]
"qwen3.6-plus" = "Qwen/Qwen3-32B"
"qwen-plus" = "Qwen/Qwen3-32B"
'''


def test_deployments_serve_their_ids_and_the_rest_stays_local(tmp_path: Path,
                                                              default_file: Path) -> None:
    catalog = _build(tmp_path, f'[engine]\nmodel = "{default_file}"\n{UPSTREAM}'
                               '[aliases]\nbig = "qwen-plus"\n')
    served = catalog.resolve("qwen3.6-plus")
    assert served.upstream is not None and served.model_file is None
    assert (served.upstream.deployment, served.upstream.model) == ("gpu", "Qwen/Qwen3-32B")
    assert served.name == "gpu:Qwen/Qwen3-32B"
    assert served.profile is BUILTIN_PROFILES["qwen3.6-plus"]
    assert catalog.resolve("big").upstream == catalog.resolve("qwen-plus").upstream
    assert catalog.resolve("qwen-turbo").model_file == default_file
    assert catalog.upstream_deployments() == ["gpu"]
    assert catalog.model_files() == [default_file]


def test_with_no_local_model_only_the_mapped_ids_are_served(tmp_path: Path) -> None:
    catalog = _build(tmp_path, f'[engine]\nmodel = "none"\n{UPSTREAM}')
    assert catalog.ids() == ["qwen3.6-plus", "qwen-plus"]
    assert catalog.model_files() == []
    with pytest.raises(ModelNotFound):
        catalog.resolve("qwen-turbo")


@pytest.mark.parametrize(("extra", "message"), [
    ('[deployments.cpu]\nreplicas = ["http://h/v1"]\n[deployments.cpu.models]\n'
     '"my-model" = "x"\n', "not a built-in model id"),
    ('[deployments.cpu]\nreplicas = ["http://h/v1"]\n[deployments.cpu.models]\n'
     '"qwen-plus" = "y"\n', "already served by deployment 'gpu'"),
    ('[models."qwen-plus"]\nfile = "starter"\n', "also has a model file"),
])
def test_conflicting_deployment_mappings_are_config_errors(tmp_path: Path, extra: str,
                                                           message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        _build(tmp_path, f'[engine]\nmodel = "none"\n{UPSTREAM}{extra}')
