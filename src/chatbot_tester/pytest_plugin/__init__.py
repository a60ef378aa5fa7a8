"""The pytest plugin (entry point ``pytest11``): pipeline samples as pytest items, and fixtures.

- ``pytest --ct-pipeline pipeline.yaml`` collects every sample of the pipeline's dataset as
  an item ``pipeline.yaml::<sample id>``; running it sends the sample to the pipeline's
  chatbot and scores it with the pipeline's metrics and the sample's assertions. So ``-k``,
  ``-x``, ``--lf``, xdist and ``--junitxml`` work as on any test, and a failure shows the
  answer, the expected answer and every score with its reason.
- ``@pytest.mark.ct_pipeline("pipeline.yaml")`` on a test parametrises it over the samples
  (fixture ``ct_sample``, ids are the sample ids).
- Fixtures ``ct_pipeline`` (the loaded config), ``ct_backend`` (the chatbot under test as a
  function of a prompt) and ``ct_evaluate`` (``chatbot_tester.evaluate`` with the
  pipeline's chatbot and metrics as defaults).

pytest loads this module in every session where chatbot-tester is installed, so it imports
nothing but pytest until one of the above is used.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from chatbot_tester.common.config import PipelineConfig
    from chatbot_tester.common.schemas import TestSample
    from chatbot_tester.pytest_plugin.handles import BackendHandle, Evaluator

__all__ = [
    "ct_backend",
    "ct_evaluate",
    "ct_pipeline",
    "ct_sample",
    "pytest_addoption",
    "pytest_collect_file",
    "pytest_configure",
    "pytest_generate_tests",
]

_PIPELINES = pytest.StashKey[list[Path]]()
"""The resolved ``--ct-pipeline`` paths of this session."""


def pytest_addoption(parser: pytest.Parser) -> None:
    """``--ct-pipeline PATH`` (repeatable)."""
    group = parser.getgroup("chatbot-tester")
    group.addoption(
        "--ct-pipeline",
        action="append",
        default=[],
        metavar="PATH",
        help="collect every sample of this chatbot-tester pipeline as a test (repeatable)",
    )


def pytest_configure(config: pytest.Config) -> None:
    """Register the marker; add the ``--ct-pipeline`` files to what pytest collects."""
    config.addinivalue_line(
        "markers",
        "ct_pipeline(path): parametrize the test over the samples of a chatbot-tester "
        "pipeline (fixture ct_sample)",
    )
    paths = [Path(p).resolve() for p in config.getoption("ct_pipeline", default=[]) or []]
    config.stash[_PIPELINES] = paths
    if not paths:
        return
    listed = {Path(str(a).split("::", 1)[0]).resolve() for a in config.args}
    for path in paths:
        if not path.is_file():
            raise pytest.UsageError(f"--ct-pipeline {path}: no such file")
        if path not in listed:
            config.args.append(str(path))


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    """A ``--ct-pipeline`` file becomes a collector of its samples."""
    paths = parent.config.stash.get(_PIPELINES, [])
    if not paths or file_path.resolve() not in paths:
        return None
    from chatbot_tester.pytest_plugin.items import PipelineFile

    return PipelineFile.from_parent(parent, path=file_path)


def _marker_pipeline(node: pytest.Item) -> Path | None:
    marker = node.get_closest_marker("ct_pipeline")
    if marker is None:
        return None
    where = marker.args[0] if marker.args else marker.kwargs.get("path")
    if not isinstance(where, (str, Path)):
        raise pytest.UsageError(f"{node.nodeid}: use @pytest.mark.ct_pipeline('pipeline.yaml')")
    path = Path(where)
    return path if path.is_absolute() else Path(node.path).parent / path


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """A test marked ``ct_pipeline`` that asks for ``ct_sample`` runs once per sample."""
    if "ct_sample" not in metafunc.fixturenames:
        return
    path = _marker_pipeline(metafunc.definition)
    if path is None:
        return
    from chatbot_tester.pytest_plugin.items import pipeline_samples

    samples = pipeline_samples(path)
    metafunc.parametrize("ct_sample", samples, ids=[s.id for s in samples])


def _pipeline_path(request: pytest.FixtureRequest) -> Path:
    node = request.node
    path = _marker_pipeline(node) if isinstance(node, pytest.Item) else None
    if path is None:
        paths = request.config.stash.get(_PIPELINES, [])
        if not paths:
            raise pytest.UsageError(
                f"{request.fixturename}: no pipeline: mark the test "
                "@pytest.mark.ct_pipeline('pipeline.yaml') or run pytest --ct-pipeline PATH"
            )
        path = paths[0]
    return path


@pytest.fixture
def ct_pipeline(request: pytest.FixtureRequest) -> PipelineConfig:
    """The pipeline of the test's ``ct_pipeline`` marker, else the first ``--ct-pipeline``."""
    from chatbot_tester.pytest_plugin.items import load_pipeline_config

    return load_pipeline_config(_pipeline_path(request))


@pytest.fixture
def ct_sample(request: pytest.FixtureRequest) -> TestSample:
    """One sample of the marked test's pipeline (the test is parametrised over them)."""
    if not hasattr(request, "param"):
        raise pytest.UsageError(
            "ct_sample: mark the test @pytest.mark.ct_pipeline('pipeline.yaml')"
        )
    sample: TestSample = request.param
    return sample


@pytest.fixture
def ct_backend(ct_pipeline: PipelineConfig) -> BackendHandle:
    """The pipeline's chatbot: ``ct_backend("question")`` returns its answer text."""
    from chatbot_tester.pytest_plugin.handles import BackendHandle

    return BackendHandle(ct_pipeline)


@pytest.fixture
def ct_evaluate(request: pytest.FixtureRequest) -> Evaluator:
    """``chatbot_tester.evaluate`` defaulting to the pipeline's chatbot and metrics."""
    from chatbot_tester.pytest_plugin.handles import Evaluator

    def config() -> Any:
        return request.getfixturevalue("ct_pipeline")

    return Evaluator(config)
