"""The names nnlab.robustness registers, declared without importing torch.

Importing nnlab.robustness runs this module only: listings (``nnlab attack`` completion, the attack
names in error messages) show these names from here, and a lookup of one imports the module that
registers it (see :func:`nnlab.registry.declare`). The lines of help below are the registrations' only
help text.
"""

from __future__ import annotations

from nnlab.registry import declare

ATTACK_HELP = {
    "fgsm": "FGSM: one signed-gradient step of size eps (L∞), clipped to [0, 1]",
    "gaussian": "additive Gaussian noise of std sigma (seeded), clipped to [0, 1]",
    "pgd": "PGD (L∞): `steps` signed-gradient steps of size alpha within eps",
    "pixels": "n random pixel positions per image set to white (seeded)",
}
for _name, _help in ATTACK_HELP.items():
    declare("attack", _name, f"nnlab.robustness.{_name}", help=_help)

declare(
    "surgery operation",
    "knn",
    "nnlab.robustness.knn",
    help="replace the final classifier by a k-NN vote over the representation that fed it (circle-loss models)",
)
