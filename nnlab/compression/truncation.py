"""Cut a model artifact at a layer given by index, name, or chosen from an SI profile — `nnlab truncate`."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nnlab import artifacts
from nnlab.artifacts import load_table
from nnlab.compression.cut import DEFAULT_THRESHOLD, choose_cut, pooling_layers
from nnlab.errors import NnlabError, ParameterError
from nnlab.models import count_parameters, feature_dim, load_model, profile_layers, resolve_layer, save_model, truncate


def profile_matches(profile: Any, meta: dict[str, Any], model: Any) -> None:
    """Refuse a profile whose layers are not this model's (another architecture or an already-cut model)."""

    names = [n for n, _ in profile_layers(model.net)]
    foreign = sorted(set(map(str, profile["layer_name"])) - set(names))
    if foreign:
        raise NnlabError(
            f"the SI profile names layers this model does not have ({', '.join(foreign[:4])}"
            f"{' …' if len(foreign) > 4 else ''}); was it made for another model?"
        )
    arch = meta.get("arch")
    if arch and arch != model.spec.arch:
        raise NnlabError(f"the SI profile was made on a {arch} model, but this model is a {model.spec.arch}")


def truncate_model(
    model: Any, at: str, *, profile_path: Path | None = None, threshold: float | None = None
) -> tuple[Any, dict[str, Any]]:
    """The truncated model and a summary; ``at`` is an index, a layer name or ``auto`` (needs ``profile_path``)."""

    info: dict[str, Any] = {}
    if str(at).strip().lower() == "auto":
        if profile_path is None:
            raise ParameterError(
                ("at", "profile"), "at='auto' needs profile, the SI profile table it chooses the cut from"
            )
        profile, meta = load_table(profile_path)
        if meta.get("table") not in (None, "si_profile"):
            raise NnlabError(f"{profile_path} is an nnlab {meta.get('table')} table, but an si_profile table is needed")
        profile_matches(profile, meta, model)
        choice = choose_cut(
            profile, pooling_layers(model.net), threshold=DEFAULT_THRESHOLD if threshold is None else threshold
        )
        target: Any = choice.name
        info.update({"chosen by": choice.reason, "train SI at cut": choice.si, "SI gain after cut": choice.gain_after})
    else:
        if profile_path is not None or threshold is not None:
            raise ParameterError(("profile", "threshold", "at"), "a profile and a threshold only apply to at='auto'")
        target = at
    name = resolve_layer(model.net, target)
    cut = truncate(model, name)
    index = next((i for i, (n, _) in enumerate(profile_layers(model.net)) if n == name), None)
    info = {"cut at": name, "layer index": index, "features": feature_dim(cut), **info}
    return cut, info


@dataclass
class TruncateRequest:
    """Every input of `nnlab truncate`: the model, where to cut (``at``: an index, a layer name or ``auto``) and, for
    ``auto``, the SI profile and the threshold."""

    model: Path
    output: Path
    at: str
    profile: Path | None = None
    threshold: float | None = None


@dataclass
class TruncateOutcome:
    """The truncated model, the artifact written and a summary (where it was cut, parameters before and after)."""

    model: Any
    output: Path
    summary: dict[str, Any]


def run_truncate(request: TruncateRequest, *, provenance: dict[str, Any] | None = None) -> TruncateOutcome:
    """The truncate stage: load a model artifact, cut it (:func:`truncate_model`) and write the truncated artifact.

    ``provenance`` (e.g. the command line) is stored in the artifact.
    """
    model_path, output, profile = request.model, Path(request.output), request.profile
    if output.suffix != ".safetensors":
        raise NnlabError(f"the model artifact must be a .safetensors file, got {output}")
    model = load_model(model_path)
    cut, info = truncate_model(model, request.at, profile_path=profile, threshold=request.threshold)
    before, after = count_parameters(model.net)[0], count_parameters(cut.net)[0]
    prov = artifacts.provenance(
        base=provenance,
        dataset=model.provenance.get("dataset"),
        source=str(model_path),
        profile=str(profile) if profile else None,
    )
    save_model(output, cut, provenance=prov)
    summary = {
        "model": str(model_path),
        **info,
        "parameters before": before,
        "parameters after": after,
        "artifact": str(output),
    }
    return TruncateOutcome(model=cut, output=output, summary=summary)
