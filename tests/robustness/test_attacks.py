"""Attacks: equality with torchattacks, budgets, pixel noise, chains, model left untouched."""

from __future__ import annotations

import pytest
import torch
import torchattacks

from nnlab.robustness import Chain, accepted_params, create_attack, parse_eps

from .conftest import make_model


@pytest.mark.parametrize("eps", [0.0, 2 / 255, 8 / 255, 0.3])
def test_fgsm_equals_torchattacks(model, batch, eps):
    images, labels = batch
    ours = create_attack("fgsm", model, eps=eps)(images, labels)
    theirs = torchattacks.FGSM(model, eps=eps)(images, labels)
    assert torch.equal(ours, theirs)
    if eps > 0:
        assert (ours != images).any()


@pytest.mark.parametrize(("eps", "alpha", "steps"), [(8 / 255, 2 / 255, 10), (0.1, 0.03, 4), (0.05, 0.05, 1)])
def test_pgd_without_random_start_equals_torchattacks(model, batch, eps, alpha, steps):
    images, labels = batch
    ours = create_attack("pgd", model, eps=eps, alpha=alpha, steps=steps, random_start=False)(images, labels)
    theirs = torchattacks.PGD(model, eps=eps, alpha=alpha, steps=steps, random_start=False)(images, labels)
    assert torch.equal(ours, theirs)


@pytest.mark.parametrize("name", ["fgsm", "pgd"])
def test_channels_last_option_changes_only_the_layout(model, batch, name):
    """Channels-last batches: same budget, same model afterwards, images equal but for rounding-level sign flips."""
    images, labels = batch
    before = {k: v.clone() for k, v in model.state_dict().items()}
    params = (
        {"eps": 8 / 255} if name == "fgsm" else {"eps": 8 / 255, "alpha": 2 / 255, "steps": 5, "random_start": False}
    )
    fast = create_attack(name, model, channels_last=True, **params)
    assert fast.params()["channels_last"] is True
    ours = fast(images, labels)
    exact = create_attack(name, model, **params)(images, labels)
    assert ours.is_contiguous() and (ours - images).abs().max() <= 8 / 255 + 1e-6
    assert (ours != exact).float().mean() < 0.01
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


def test_gradient_attacks_raise_the_loss(model, batch):
    images, labels = batch
    model.eval()
    loss = torch.nn.functional.cross_entropy
    with torch.no_grad():
        clean = loss(model(images), labels)
        fgsm = loss(model(create_attack("fgsm", model, eps=0.1)(images, labels)), labels)
        pgd = loss(model(create_attack("pgd", model, eps=0.1, alpha=0.02, steps=10)(images, labels)), labels)
    assert fgsm > clean and pgd > clean


@pytest.mark.parametrize(
    "name, params",
    [
        ("fgsm", {"eps": 8 / 255}),
        ("fgsm", {"eps": 0.25}),
        ("pgd", {"eps": 8 / 255, "alpha": 2 / 255, "steps": 5}),
        ("pgd", {"eps": 0.1, "alpha": 0.05, "steps": 3, "random_start": True, "seed": 3}),
    ],
)
def test_linf_bound_and_range(model, batch, name, params):
    images, labels = batch
    adv = create_attack(name, model, **params)(images, labels)
    assert adv.shape == images.shape and adv.dtype == images.dtype
    assert (adv - images).abs().max().item() <= params["eps"] + 1e-6
    assert adv.min().item() >= 0.0 and adv.max().item() <= 1.0


def test_pgd_random_start_is_seeded(model, batch):
    images, labels = batch
    first = create_attack("pgd", model, eps=0.1, steps=2, seed=5)(images, labels)
    again = create_attack("pgd", model, eps=0.1, steps=2, seed=5)(images, labels)
    other = create_attack("pgd", model, eps=0.1, steps=2, seed=6)(images, labels)
    assert torch.equal(first, again) and not torch.equal(first, other)


@pytest.mark.parametrize("n", [0, 1, 20, 64])
def test_pixels_whitens_exactly_n_positions(model, batch, n):
    images, labels = batch
    images = images * 0.9  # no pixel is white before the attack
    adv = create_attack("pixels", model, n=n, seed=1)(images, labels)
    changed = (adv != images).any(dim=1)  # N×H×W positions touched in any channel
    white = (adv == 1.0).all(dim=1)
    assert torch.equal(changed, white)  # every touched position is white in all channels
    assert changed.flatten(1).sum(dim=1).tolist() == [n] * len(images)
    assert torch.equal(adv[~white.unsqueeze(1).expand_as(adv)], images[~white.unsqueeze(1).expand_as(images)])


def test_pixels_and_gaussian_are_seeded(model, batch):
    images, labels = batch
    for name, params in (("pixels", {"n": 5}), ("gaussian", {"sigma": 0.2})):
        first = create_attack(name, model, seed=7, **params)
        second = create_attack(name, model, seed=7, **params)
        a1, a2 = first(images, labels), first(images, labels)
        b1, b2 = second(images, labels), second(images, labels)
        assert torch.equal(a1, b1) and torch.equal(a2, b2)  # same seed → same sequence
        assert not torch.equal(a1, a2)  # successive calls continue the stream
        other = create_attack(name, model, seed=8, **params)(images, labels)
        assert not torch.equal(a1, other)


def test_gaussian_noise_level_and_range(model):
    images = torch.full((8, 3, 16, 16), 0.5)
    adv = create_attack("gaussian", model, sigma=0.05, seed=0)(images, torch.zeros(8, dtype=torch.long))
    assert abs((adv - images).std().item() - 0.05) < 0.005
    big = create_attack("gaussian", model, sigma=1.0)(images, torch.zeros(8, dtype=torch.long))
    assert big.min().item() == 0.0 and big.max().item() == 1.0


def _snapshot(model):
    return {
        "state": {k: v.clone() for k, v in model.state_dict().items()},
        "grads": {k: None if p.grad is None else p.grad.clone() for k, p in model.named_parameters()},
        "requires_grad": {k: p.requires_grad for k, p in model.named_parameters()},
        "training": {k: m.training for k, m in model.named_modules()},
    }


@pytest.mark.parametrize("name", ["fgsm", "pgd", "pixels", "gaussian", "pixels+fgsm", "gaussian+pgd"])
def test_model_unchanged_after_attack(batch, name):
    images, labels = batch
    model = make_model()
    model.train()
    model.head.eval()  # mixed modes must come back exactly
    model.features[0].weight.requires_grad_(False)
    torch.nn.functional.cross_entropy(model(images), labels).backward()  # populated .grad fields
    model.features[4].bias.grad = None  # a mix of set and unset .grad fields
    before = _snapshot(model)
    original = images.clone()
    create_attack(name, model, seed=0)(images, labels)
    after = _snapshot(model)
    assert torch.equal(images, original)  # the input batch is not modified
    assert before["requires_grad"] == after["requires_grad"]
    assert before["training"] == after["training"]
    assert before["state"].keys() == after["state"].keys()
    assert all(torch.equal(before["state"][k], after["state"][k]) for k in before["state"])
    for key, grad in before["grads"].items():
        assert (grad is None) == (after["grads"][key] is None)
        assert grad is None or torch.equal(grad, after["grads"][key])


def test_attack_runs_in_eval_mode(batch):
    images, labels = batch
    model = make_model().train()
    in_train = create_attack("fgsm", model, eps=0.05)(images, labels)
    in_eval = create_attack("fgsm", model.eval(), eps=0.05)(images, labels)
    assert torch.equal(in_train, in_eval)  # dropout and batch statistics play no part


def test_attack_works_inside_no_grad_and_inference_mode(model, batch):
    images, labels = batch
    expected = create_attack("pgd", model, eps=0.1, steps=2, random_start=False)(images, labels)
    with torch.no_grad():
        assert torch.equal(create_attack("pgd", model, eps=0.1, steps=2, random_start=False)(images, labels), expected)
    with torch.inference_mode():
        frozen_images, frozen_labels = images.clone(), labels.clone()
        got = create_attack("pgd", model, eps=0.1, steps=2, random_start=False)(frozen_images, frozen_labels)
    assert torch.equal(got, expected)


def test_chain_applies_parts_in_order_with_routed_params(model, batch):
    images, labels = batch
    chain = create_attack("pixels+fgsm", model, n=4, eps=0.05, seed=2)
    assert isinstance(chain, Chain) and chain.name == "pixels+fgsm"
    assert chain.params() == {"pixels": {"n": 4, "seed": 2}, "fgsm": {"eps": 0.05}}
    whitened = create_attack("pixels", model, n=4, seed=2)(images, labels)
    expected = create_attack("fgsm", model, eps=0.05)(whitened, labels)
    assert torch.equal(chain(images, labels), expected)
    assert accepted_params("pixels+fgsm") == ["n", "seed", "eps", "channels_last"]


def test_chain_of_noise_then_pgd_stays_in_range(model, batch):
    images, labels = batch
    adv = create_attack("gaussian+pgd", model, sigma=0.3, eps=0.1, steps=2)(images, labels)
    assert adv.min().item() >= 0 and adv.max().item() <= 1


@pytest.mark.parametrize(
    "text, value",
    [("8/255", 8 / 255), (" 4 / 255 ", 4 / 255), ("0.03", 0.03), ("1", 1.0), ("0", 0.0), (0.5, 0.5), (1, 1.0)],
)
def test_parse_eps(text, value):
    assert parse_eps(text) == pytest.approx(value, abs=0, rel=1e-15)


def test_fraction_strings_accepted_as_parameters(model, batch):
    images, labels = batch
    from_text = create_attack("pgd", model, eps="8/255", alpha="2/255", steps=2, random_start=False)
    from_float = create_attack("pgd", model, eps=8 / 255, alpha=2 / 255, steps=2, random_start=False)
    assert from_text.eps == from_float.eps and from_text.alpha == from_float.alpha
    assert torch.equal(from_text(images, labels), from_float(images, labels))


@pytest.mark.parametrize("name", ["pixels", "gaussian", "pgd", "pixels+fgsm", "fgsm"])
def test_advance_skips_exactly_one_batch_of_random_draws(model, batch, name):
    images, labels = batch
    first, second = images[:3], images[3:]
    params = {"eps": 0.03} if "fgsm" in name or name == "pgd" else {}
    ran = create_attack(name, model, seed=5, **params)
    ran(first, labels[:3])
    skipped = create_attack(name, model, seed=5, **params)
    skipped.advance(tuple(first.shape), first.dtype)  # what a later rank does for an earlier rank's batch
    assert torch.equal(ran(second, labels[3:]), skipped(second, labels[3:]))
